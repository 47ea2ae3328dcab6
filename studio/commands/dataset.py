"""``python -m studio dataset ...``: validate, import, create, export, list and push datasets headless."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from studio import atomic
from studio.commands import file_or_dataset, refuse_overwriting_inputs
from studio.data import editing, formats, store, validate, writers
from studio.errors import StudioError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dataset", help="validate, import, create, export, list and push Q&A datasets")
    sub = parser.add_subparsers(dest="dataset_command", required=True, parser_class=type(parser))

    p = sub.add_parser("validate", help="check a JSON, JSON Lines, CSV or Parquet file: prints the number of records, "
                                        "errors and warnings; lists the errors and exits 2 when there is any")
    p.add_argument("file", type=Path, help="the file, or a workspace dataset's name or id (its latest version)")
    p.add_argument("--encoding", choices=["utf-8", "windows-1252"], default="utf-8", type=_encoding,
                   help="windows-1252: read the bytes of a text file that are not UTF-8 as Windows-1252 (Excel's plain "
                        "CSV on Windows, Latin-1), said in a note with the first such line to check (default: "
                        "UTF-8, or UTF-16 with or without a byte order mark)")
    _add_map(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("import", help="read a file in any supported format and write the seed format")
    p.add_argument("src", help="a JSON, JSON Lines, CSV or Parquet file (chat records included), a datasets "
                               "save_to_disk folder (FOLDER@SPLIT for a DatasetDict), or hub:OWNER/NAME[:CONFIG][@SPLIT]")
    p.add_argument("--out", type=Path, required=True, help="the normalised dataset (JSON array) to write")
    p.add_argument("--force", action="store_true", help="replace --out if it exists (its permissions are kept)")
    invalid = p.add_mutually_exclusive_group()
    invalid.add_argument("--skip-invalid", action="store_true",
                         help="write the valid records and name the skipped ones with their reasons (default: refuse "
                              "the file)")
    invalid.add_argument("--keep-invalid", action="store_true",
                         help="write every record, the invalid ones too, to fix in --out (as the Dataset page brings "
                              "them in to fix): a number or true/false question or answer is written as its text "
                              "(11 as \"11\"), and the records still to fix are named with their reasons; then "
                              "`dataset create NAME --from OUT` once they are fixed (default: refuse the file)")
    p.add_argument("--encoding", choices=["utf-8", "windows-1252"], default="utf-8", type=_encoding,
                   help="windows-1252: read the bytes of a text file that are not UTF-8 as Windows-1252 (Excel's plain "
                        "CSV on Windows, Latin-1), said in a note with the first such line to check (default: "
                        "UTF-8, or UTF-16 with or without a byte order mark)")
    _add_map(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("create", help="create a workspace dataset, empty or from a file (any format `import` reads)")
    p.add_argument("name", help="the new dataset's name")
    p.add_argument("--from", dest="src", help="a JSON, JSON Lines, CSV or Parquet file (chat records included), a "
                                              "datasets save_to_disk folder or hub:OWNER/NAME: its records become "
                                              "version 1 (default: an empty dataset)")
    invalid = p.add_mutually_exclusive_group()
    invalid.add_argument("--skip-invalid", action="store_true",
                         help="leave the invalid records out, naming them with their reasons (default: refuse the file)")
    invalid.add_argument("--keep-invalid", action="store_true",
                         help="bring every record in, the invalid ones too, as the Dataset page brings them in to fix: "
                              "a number or true/false question or answer becomes its text (11 as \"11\"), version 1 "
                              "holds the valid records, and the records still to fix, named with their reasons, wait "
                              "as unsaved changes to fix on the Dataset page (Bring them here, then Save) (default: "
                              "refuse the file)")
    p.add_argument("--encoding", choices=["utf-8", "windows-1252"], default="utf-8", type=_encoding,
                   help="windows-1252: read the bytes of a text file that are not UTF-8 as Windows-1252 (Excel's plain "
                        "CSV on Windows, Latin-1), said in a note with the first such line to check (default: "
                        "UTF-8, or UTF-16 with or without a byte order mark)")
    _add_map(p)
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("export", help="write a workspace dataset or a file as JSON, JSONL, CSV, Parquet or a chat format")
    p.add_argument("name", help="dataset name or id (see `dataset list`), or a file in any format `import` reads")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--to", "--format", dest="format", choices=list(writers.WRITERS),
                   help="json, jsonl, csv, parquet, messages (chat JSONL: TRL, OpenAI), sharegpt, alpaca "
                        "(default: from the --out extension)")
    p.add_argument("--version", type=int, help="a workspace dataset's version (default: the latest)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists (its permissions are kept)")
    p.add_argument("--dataset-info", action="store_true",
                   help="also add the file's entry to dataset_info.json beside it (LLaMA-Factory; alpaca, sharegpt "
                        "or messages)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("list", help="the workspace's datasets with their versions")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("push", help="push a file or a workspace dataset to the Hugging Face Hub (private)")
    p.add_argument("source", help="a file, or a dataset name or id")
    p.add_argument("--repo", required=True, help="owner/name on the Hub")
    p.add_argument("--public", action="store_true", help="make the Hub dataset public (default: private)")
    p.set_defaults(func=cmd_push)


def _add_map(p: argparse.ArgumentParser) -> None:
    p.add_argument("--map", action="append", default=[], metavar="TARGET=FIELD",
                   help="question=FIELD, answer=FIELD or context=FIELD (default: guessed from the field names)")


def _warn(warnings: list[validate.Problem], notes: list[str] = ()) -> None:
    for w in warnings[:10]:
        print(f"warning: {w}", file=sys.stderr)
    if len(warnings) > 10:
        print(f"warning: ... and {len(warnings) - 10:,} more warnings", file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


LISTED = 5  # errors named in the one error line; its counts are exact


def cmd_validate(args: argparse.Namespace) -> int:
    notes: list[str] = []
    # where no file has that path, a workspace dataset's latest version, by name or id, as train --dataset, dedup and
    # export take it (here it was "No file at general-quiz: check the path.")
    info = file_or_dataset(args.file)
    if info is not None:
        records = store.load_version(info.id)
        found = validate.check(records)
    else:
        records, found = _check(args, args.file, notes)
    errs = found.errors  # every record's, whatever comes before it
    if errs:
        _warn([], notes)
        named = "; ".join(str(e) for e in errs[:LISTED])
        more = f"; and {len(errs) - LISTED:,} more errors" if len(errs) > LISTED else ""
        bad = len(found.invalid)
        them = "it" if bad == 1 else "them"
        remedy = (f"fix {them} on the Dataset page's Edit tab" if info is not None else
                  f"fix {them}, or import with --skip-invalid to leave {them} out, or with --keep-invalid to bring "
                  f"{them} in to fix in --out")
        print(f"error: {named}{more} ({bad:,} of {validate.plural(len(records), 'record')} invalid: {found.counts()}): "
              f"{remedy}.", file=sys.stderr)
        return 2
    print(f"{validate.plural(len(records), 'record')}: {found.counts()}")
    _warn(found.warnings, [*notes, *found.notes])
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    try:
        return _import(args)
    except MemoryError:  # the reader names a file too large itself; this is the mapping, checks or JSON write
        raise StudioError(f"{args.src} does not fit in memory once read: split it into smaller files and import "
                          "them one at a time (--out is unchanged).") from None


def _encoding(value: str) -> str:
    """``--encoding``: the names people type for the two encodings read."""
    name = value.strip().lower().replace("_", "-")
    return {"utf8": "utf-8", "cp1252": "windows-1252", "latin-1": "windows-1252", "latin1": "windows-1252",
            "iso-8859-1": "windows-1252"}.get(name, name)


def _encoding_advice(read):
    """``read`` (of a file this command was given), text that is not UTF-8 refused naming this command's own
    --encoding windows-1252 (not dataset import's): every reader of the command's file goes through it, once."""
    @functools.wraps(read)
    def reading(args: argparse.Namespace, *rest):
        try:
            return read(args, *rest)
        except formats.NotUtf8Error as exc:
            raise exc.for_command(f"dataset {args.dataset_command}") from None
    return reading


def _legacy(args: argparse.Namespace) -> bool:
    return args.encoding == "windows-1252"


@_encoding_advice
def _check(args: argparse.Namespace, path: str, notes: list[str]) -> tuple[list, validate.Checked]:
    """(records, what validation found) of ``path``; how a text that is not UTF-8 was read goes to ``notes``."""
    return formats.check_file(path, args.map, legacy=_legacy(args), notes=notes)


@_encoding_advice
def _read(args: argparse.Namespace, notes: list[str]) -> tuple[list, list, list]:
    """(records, warnings, skipped) of ``args.src``: refused with its first error, or, with --skip-invalid,
    the valid records and the invalid ones' errors. How a text that is not UTF-8 was read goes to ``notes``."""
    if getattr(args, "keep_invalid", False):
        return _read_keeping(args, notes)
    if args.skip_invalid:
        return formats.read_file_skipping(args.src, args.map, legacy=_legacy(args), notes=notes)
    offer = ("import only the valid records (--keep-invalid: all of them, to fix in --out)" if args.func is cmd_import
             else "create the dataset from the valid records (--keep-invalid: all of them, to fix on the Dataset page)")
    return (*formats.read_file(args.src, args.map, remedy=f"fix it, or add --skip-invalid to {offer}",
                               legacy=_legacy(args), notes=notes), [])


def _read_keeping(args: argparse.Namespace, notes: list[str]) -> tuple[list, list, list]:
    """``--keep-invalid``: (every record as the Dataset page brings them in to fix, the warnings, the errors of the
    records still to fix). A record that was not an object is written as the file held it (an empty record would
    lose it); the records whose number or true/false came in as its text are named in ``notes``."""
    brought, warnings, to_fix = _bring_all_in(args, notes)
    kept = [r.value if type(r) is validate.NotAnObject else r for r in brought.records]
    return kept, warnings, to_fix


def _bring_all_in(args: argparse.Namespace, notes: list[str]) -> tuple[editing.BroughtIn, list, list]:
    """(every record of ``args.src`` brought in to fix, the warnings, the errors of the records still to fix)."""
    records, found = _check(args, args.src, notes)
    brought = editing.bring_all_in(records, found.invalid)
    if brought.as_text:
        notes.append(brought.as_text_note())
    if brought.renamed:
        notes.append(brought.renamed_note())
    left = set(brought.to_fix)
    return brought, found.warnings, [e for e in found.errors if e.record in left]


def _skipped(skipped: list, what: str = "skipped") -> None:
    for problem in skipped[:20]:
        print(f"{what} {problem}", file=sys.stderr)
    if len(skipped) > 20:
        print(f"{what} ... and {len(skipped) - 20:,} more", file=sys.stderr)


def cmd_create(args: argparse.Namespace) -> int:
    notes: list[str] = []
    if args.keep_invalid and args.src:
        return _create_keeping(args, notes)
    records, warnings, skipped = _read(args, notes) if args.src else ([], [], [])
    info = store.create_dataset(args.name, records, message=f"imported {args.src}" if args.src else "created")
    print(f"created {info.name!r} (id {info.id}): version 1 with {validate.plural(len(records), 'record')}"
          + (f", {len(skipped):,} skipped" if skipped else ""))
    _skipped(skipped)
    _warn(warnings, notes)
    return 0


def _create_keeping(args: argparse.Namespace, notes: list[str]) -> int:
    """``dataset create --keep-invalid``: version 1 from the valid records, and every record (the ones to fix too, a
    record that was not an object as an empty one, as the Dataset page brings it in) kept as unsaved changes to it,
    which the Dataset page offers to any tab ("Bring them here"), to fix and save there."""
    brought, warnings, to_fix = _bring_all_in(args, notes)
    fixing = {n - 1 for n in brought.to_fix}
    records = [{} if type(r) is validate.NotAnObject else r for r in brought.records]
    first = [r for k, r in enumerate(records) if k not in fixing]
    info = store.create_dataset(args.name, first, message=f"imported {args.src}")
    line = f"created {info.name!r} (id {info.id}): version 1 with {validate.plural(len(first), 'record')}"
    if fixing:
        bad = len(fixing)
        editing.save_draft(info.id, 1, first, records)  # no is_open: blind to the tabs, it drops none of theirs
        line += (f"; {bad:,} more to fix (named below) {'is' if bad == 1 else 'are'} kept as unsaved changes to it: "
                 f"open it on the Dataset page, press Bring them here, fix or delete {'it' if bad == 1 else 'them'} "
                 "(the Problem column says why) and Save")
    print(line)
    _skipped(to_fix, "to fix:")
    _warn(warnings, notes)
    return 0


def _import(args: argparse.Namespace) -> int:
    # even with --force: the normalised copy (--skip-invalid: less the skipped records) over the user's only one
    refuse_overwriting_inputs({"--out": args.out}, {"input": args.src})
    notes: list[str] = []
    records, warnings, skipped = _read(args, notes)
    _check_out(args.out)  # checked once the input is known to be good: its problems come first
    if args.out.exists() and not args.force:
        raise StudioError(f"{args.out} exists: add --force to replace it, or choose another --out.")
    _write_out(args.out, writers.to_json(records))
    if args.keep_invalid:
        bad = len({p.record for p in skipped})
        print(f"{validate.plural(len(records), 'record')} written to {args.out}"
              + (f", {bad:,} of them to fix (named below): fix or delete {'it' if bad == 1 else 'them'} there, then "
                 f"python -m studio dataset create NAME --from {args.out}" if bad else ""))
        _skipped(skipped, "to fix:")
    else:
        print(f"{validate.plural(len(records), 'record')} written to {args.out}"
              + (f", {len(skipped)} skipped" if skipped else ""))
        _skipped(skipped)
    _warn(warnings, notes)
    return 0


def _check_out(out: Path) -> None:
    if out.is_dir():
        raise StudioError(f"--out {out} is a folder: give a file name, e.g. {out / 'qa.json'}.")


def _write_out(out: Path, data: bytes) -> None:
    """``data`` to ``out`` atomically; a path that cannot be written is one line."""
    atomic.write_output(out, data)


def _dataset(name: str) -> store.DatasetInfo:
    info = store.find_dataset(name)
    if info is None:
        names = ", ".join(d.name for d in store.list_datasets()) or "none yet"
        raise StudioError(f"No dataset named {name!r} and no file at that path (datasets: {names}).")
    return info


def cmd_export(args: argparse.Namespace) -> int:
    fmt = args.format or args.out.suffix.lower().lstrip(".").replace("ndjson", "jsonl")
    if fmt not in writers.WRITERS:
        raise StudioError(f"Cannot tell the format from {args.out.name!r}: pass --to "
                          f"{', '.join(writers.WRITERS)}.")
    source = Path(args.name)
    refuse_overwriting_inputs({"--out": args.out}, {"input": source})  # a missing folder too, before anything is read
    if store.find_dataset(args.name) is None and (source.is_file() or source.is_dir()):
        if args.version is not None:
            raise StudioError("--version is for a workspace dataset; a file has none: leave it out.")
        records, _ = formats.read_file(source, [])  # checked as `dataset import` checks it: errors refuse it
    else:
        info = _dataset(args.name)
        records = store.load_version(info.id, args.version)
    entry = index = known = None
    if args.dataset_info:  # everything about the index is checked before anything is written
        from studio.data import conversations

        entry = conversations.llama_factory_entry(fmt, args.out.name, records)
        index = args.out.parent / "dataset_info.json"
        known = _dataset_info(index, args.out)
    _check_out(args.out)
    if args.out.exists() and not args.force:  # as import and model export: a file the user had is not replaced
        raise StudioError(f"{args.out} exists: add --force to replace it, or choose another --out.")
    _write_out(args.out, writers.WRITERS[fmt](records))
    print(f"{validate.plural(len(records), 'record')} written to {args.out}")
    if entry is not None:
        known[args.out.stem] = entry
        _write_out(index, (json.dumps(known, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
        print(f"dataset_info.json: entry {args.out.stem!r} added")
    return 0


def _dataset_info(index: Path, out: Path) -> dict:
    """The entries of LLaMA-Factory's ``dataset_info.json`` beside ``out`` ({} when there is none yet)."""
    if out.name == index.name:
        raise StudioError(f"--out {out} is the dataset_info.json index itself: name the export something else, "
                          "e.g. qa.json.")
    try:
        known = json.loads(index.read_text(encoding="utf-8")) if index.is_file() else {}
    except ValueError:
        raise StudioError(f"{index} is not valid JSON: fix or remove it, then export again.") from None
    except OSError as exc:
        raise StudioError(f"Cannot read {index} ({exc.strerror or exc}): fix or remove it, then export again.") from None
    if not isinstance(known, dict):
        raise StudioError(f"{index} is not a JSON object of dataset entries: fix or remove it, then export again.")
    return known


def cmd_list(args: argparse.Namespace) -> int:
    datasets = store.list_datasets()
    if not datasets:  # it printed nothing: a new user could not tell an empty workspace from a command that failed
        from studio import config

        print(f"no datasets in the workspace yet ({config.datasets_dir(make=False)}). Make one from a file: "
              "python -m studio dataset create NAME --from FILE (data/soccer_rules.json is a sample)")
    for d in datasets:
        latest = d.latest
        print(f"{d.name}\t{d.id}\tv{latest.version if latest else 0}\t{latest.count if latest else 0} records")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from studio import config
    from studio.data import hub

    path = Path(args.source)
    if path.is_file():
        records, _ = formats.read_file(path, [])
        card = hub.dataset_card(records, path.stem)
    else:
        info = _dataset(args.source)
        records = store.load_version(info.id)
        card = hub.dataset_card(records, info.name, info.latest.version, info.latest.sha256,
                                [v.message for v in info.versions])
    url = hub.push_to_hub(records, args.repo, config.hf_token(), private=not args.public, card=card)
    print(f"pushed {len(records)} records to {url}")
    return 0
