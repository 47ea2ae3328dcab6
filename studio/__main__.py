"""The CLI: the same engine, headless. ``python -m studio --help`` lists the commands.

Each module in ``studio.commands`` adds its subcommands through ``register(subparsers)`` and sets
``func`` on its parser. A ``StudioError`` prints ``error: <message>`` on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import importlib
import os
import pkgutil
import signal
import sys
import threading
from collections.abc import Iterator

from studio import commands, config, quiet
from studio.errors import StudioError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, like every other bad input
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m studio", description="SLM Studio on the command line.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"studio.commands.{mod.name}").register(sub)
    return parser


@contextlib.contextmanager
def _job_limit() -> Iterator[None]:
    """A job started from a public deployment's page holds its visitor's workspace to the page's size limit; the
    folders it makes count as they are made, and what it made outside any check (a library's folders) as it ends."""
    limit, total = (os.environ.get(var, "").strip() for var in (config.LIMIT_VAR, config.TOTAL_VAR))
    if not limit.isdigit():
        yield
        return
    from studio.cloud import workspaces

    workspace = config.server_home()
    config.check_writes(workspaces.job_check(workspace, int(limit), int(total) if total.isdigit() else None),
                        made=workspaces.job_made(workspace))
    try:
        yield
    finally:
        workspaces.job_ended(workspace)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)  # inside: a Ctrl-C while the commands import is one line too
        with _job_limit():
            return int(args.func(args) or 0)
    except StudioError as exc:  # a setting's problem in its flag's words where it has them (studio.settings.check)
        from studio.data.display import for_terminal  # a server's words quoted in it hold no terminal commands

        print(f"error: {for_terminal(str(getattr(exc, 'command_line', None) or exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:  # anything else unexpected about a file is a bug: its traceback
            raise
        # Every command takes paths, and pathlib's exists()/is_file() raise this one instead of answering False.
        name = str(exc.filename or "")
        shown = f"{name[:40]}...{name[-20:]}" if len(name) > 64 else name
        print(f"error: a file name is longer than the file system allows ({shown!r}, {len(name):,} characters): "
              "choose a shorter one.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _interrupted_while_exiting(_signum: int, _frame: object) -> None:
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    print("error: interrupted while exiting: the command had finished, and what it reported is written and "
          "complete", file=sys.stderr, flush=True)
    os._exit(130)


def cli() -> None:
    """``python -m studio`` and the ``studio`` command: ``main`` in a process of its own, then its exit code."""
    # The commands print their own progress lines: no tqdm bars from the Hub libraries ("Loading
    # weights", "Writing model shards", datasets' "Generating train split" of a Hub import) between
    # them, in the terminal or in a background job's log. Errors and warnings are not bars: they stay.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    quiet.quiet_hub()  # a Hub out of reach is our one "error: ..." line, not its retries' warnings before it
    code = main()
    # The command has finished: a Ctrl-C from here on is one line and 130, not a traceback from an exit handler.
    signal.signal(signal.SIGINT, _interrupted_while_exiting)
    from studio.models import fast_decoding

    if fast_decoding.used():  # compiled code loaded: leave without the interpreter's teardown
        fast_decoding.leave(code)
    if commands.ends_without_teardown():  # Python stops handling Ctrl-C during its teardown: seconds, with torch
        for thread in threading.enumerate():  # threads that are not daemons finish first, as at a normal exit
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    cli()
