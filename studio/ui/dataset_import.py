"""The Dataset page's Import tab: a file, a path on this machine or a Hub dataset, its fields mapped, previewed and
checked, then imported as a new dataset or added to the selected one.

Session state: ``dataset.import.nonce`` is part of the uploader's key, bumped to clear it after an import; the source
read and its parsed preview are ``studio.ui.import_source``'s.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import streamlit as st

from studio import config, device, ui
from studio.data import csv_cells, csv_rows, editing, formats, store, validate
from studio.errors import StudioError
from studio.ui import dataset as dui
from studio.ui import import_source, streamlit_internals

NONE = "(none)"  # the label of the Import tab's "no field" choice, unless the file has a field of that name


@dataclasses.dataclass(frozen=True)
class _NoField:
    """The Import tab's choice of no field for the question, answer or context: a value no field name can equal (the
    choice was the text "(none)", and a file's own field "(none)" picked was read as no field)."""


NO_FIELD = _NoField()


def _none_label(fields: list[str]) -> str:
    """The label of the no-field choice: "(none)", or one no field of the file is named (Streamlit tells the choices
    of a selectbox apart by their labels)."""
    label, n = NONE, 1
    while label in fields:
        n += 1
        label = "(no field)" if n == 2 else f"(no field {n - 1})"
    return label

def import_tab(info: store.DatasetInfo | None) -> None:
    st.caption("JSON arrays, JSON Lines, CSV (cells separated by commas, tabs, semicolons or |) and Parquet. Field names are matched for you "
               "(question/answer in any case, Alpaca instruction/input/output, prompt/response, "
               "{\"data\": [...]} wrappers), and chat records (`messages`, ShareGPT `conversations`) and SQuAD "
               "files become questions and answers, with the passage as the Context; change the mapping if the "
               "guess is wrong.")
    nonce = st.session_state.setdefault("dataset.import.nonce", 0)  # bumped after an import to clear the uploader
    origins = {"file": "A file", "path": "A path on this machine", "hub": "A Hugging Face Hub dataset"}
    if not device.capabilities().local_models or config.tenancy():  # API mode / a public app: the server's disk is not yours
        origins.pop("path")
        if st.session_state.get("dataset.import.origin") == "path":
            st.session_state["dataset.import.origin"] = "file"
    origin = st.radio("From", list(origins), horizontal=True, key="dataset.import.origin", format_func=origins.get)
    if st.session_state.get(import_source.IMPORT, {}).get("origin", origin) != origin:  # another source: its preview let go
        import_source.drop_import()
    if (st.session_state.get(import_source.LOAD) or {}).get("origin", origin) != origin:  # and its read still running stopped
        import_source.stop_load()
    turns = st.session_state.get("dataset.import.turns", "first")
    if origin == "file":
        limit = ui.upload_limit_bytes()
        upload = st.file_uploader("File to import", type=["json", "jsonl", "ndjson", "csv", "tsv", "txt", "parquet"],
                                  key=f"dataset.import.file.{nonce}")
        if limit is not None:  # a public app: Streamlit's own refusal of a bigger file says the size, not what to do
            st.caption(f"Up to {limit / 1e6:.0f} MB a file on this app: split a bigger file and add each part to the "
                       "same dataset, or run the studio on your own machine, which takes files of any size.")
        if upload is None:  # removed with the uploader's x (or none yet): its preview let go
            import_source.drop_import()
            return
        too_big = ui.upload_too_big(upload, "Not imported", "split it and add each part to the same dataset, or run "
                                    "the studio on your own machine, which takes files of any size.")
        if too_big:
            st.error(too_big)
            return
        source_name, file_id = upload.name, upload.file_id
        cached = import_source.held_import(file_id, turns)
        if cached is None:  # a new upload, or its preview dropped to keep the app's memory bounded: parsed again
            try:
                cached = {"file_id": file_id, "turns": turns,
                          "parsed": formats.parse(upload.getvalue(), upload.name, turns=turns, legacy=True),
                          "error": None}
            except StudioError as exc:
                cached = {"file_id": file_id, "turns": turns, "parsed": None, "error": str(exc)}
            import_source.hold_import(cached, origin)
    else:
        source = import_source.loaded_source(origin, nonce, turns)
        if source is None:
            return
        source_name, cached = source
        file_id = cached["file_id"]
    if cached["error"]:
        st.error(f"Cannot import {dui.md(source_name)}: {dui.md(cached['error'])}", icon=":material/error:")
        return
    parsed: formats.Parsed = cached["parsed"]
    chat = {"messages": "chat messages", "sharegpt": "ShareGPT conversations", "squad": "SQuAD rows",
            "squad-nested": "a SQuAD file"}.get(parsed.chat or parsed.squad or "")
    sep = f"cells separated by {csv_rows.DELIMITERS[parsed.delimiter]}" if parsed.delimiter else ""
    st.write(f"Read **{len(parsed.rows):,} record{'' if len(parsed.rows) == 1 else 's'}** as {parsed.format.upper()}"
             + (f" ({chat or sep})." if chat or sep else "."))
    if parsed.source_note:  # a Hub dataset read from the local cache: maybe not the Hub's newest
        st.info(dui.md(parsed.source_note), icon=":material/cloud_off:")
    if parsed.encoding_note:  # not UTF-8: read as Windows-1252, and the person checks the accents
        st.warning(dui.md(parsed.encoding_note), icon=":material/translate:")
    if parsed.chat:
        st.radio("Conversations with several exchanges", ["first", "every"], key="dataset.import.turns",
                 horizontal=True, format_func={"first": "First exchange only",
                                               "every": "Every exchange as a record (earlier turns kept as history)"}.get)
    mapping = _mapping_widgets(parsed, file_id)
    if mapping is None:
        return
    if cached.get("mapping") != mapping:  # a 200,000-row file is mapped and checked once, not every rerun
        records = formats.apply_mapping(parsed.rows, mapping)
        cached.update(mapping=mapping, records=records, found=validate.check(records).adding(parsed.warnings),
                      brought=None)
        import_source.charge_import(cached)
    records, found = cached["records"], cached["found"]
    preview = _preview(records)
    # Every column from a narrow start, its cells wrapping in taller rows (as the Edit tab's table with a Problem or a
    # Context column): Question sized to its text left Answer and Context past the edge at 800 px, to scroll to
    st.dataframe(preview, hide_index=True, width="stretch", row_height=dui.WRAPPED_ROW,
                 column_config={c: st.column_config.TextColumn(c, width=dui.WRAPPED_WIDTH)
                                for c in dict.fromkeys(k for r in preview for k in r)})
    errs, warns = found.errors, found.warnings
    to_fix: list[dict] = []
    as_text = ""  # the line naming the records whose number or true/false question or answer comes in as its text
    left_out = 0  # invalid records skipped: the line after the import says so, or the whole file seemed to come in
    if errs:
        bad = found.invalid  # every invalid record, however many warnings come before them
        valid = [r for n, r in enumerate(records, 1) if n not in bad]
        st.error(f"{len(bad):,} of {validate.plural(len(records), 'record')} {'is' if len(bad) == 1 else 'are'} "
                 f"invalid ({found.counts()}; record numbers count from 1):", icon=":material/error:")
        dui.problems_table(errs)
        st.download_button("Download the list (CSV)", streamlit_internals.made_when_pressed(functools.partial(_problems_csv, errs)),
                           f"{Path(source_name).stem}-problems.csv", "text/csv", icon=":material/download:",
                           key="dataset.import.problems", on_click="ignore")
        if cached.get("brought") is None:  # what bringing them all in does to each record: once per mapping
            cached["brought"] = editing.bring_all_in(records, bad)
            import_source.charge_import(cached)
        brought: editing.BroughtIn = cached["brought"]
        if valid:
            ways = {"skip": f"Import the {validate.plural(len(valid), 'valid record')} and skip the {len(bad):,} "
                            f"invalid one{'' if len(bad) == 1 else 's'}"}
        else:  # "Import the 0 valid records" behind a disabled button said nothing of why or what to do
            none = "its one record is not" if len(bad) == 1 else f"none of its {len(bad):,} records is"
            then = (" Fix the file and upload it again, or bring them all in below to fix in the editor." if brought.to_fix
                    else " Bring them all in below: each number or true/false comes in as its text, with nothing left "
                         "to fix.")
            st.info(f"Nothing to import as it is: {none} valid.{then}", icon=":material/info:")
            ways = {"none": "Import nothing (fix the file and upload it again)"}
        ways |= {"fix": _bring_in_label(len(records), brought)}
        way = st.radio("The invalid records", list(ways), format_func=ways.get,  # options differ: keys too
                       key="dataset.import.invalid" if valid else "dataset.import.invalid.none")
        said = st.container()  # drawn whichever way is picked: the choices below keep their place
        if way == "fix":
            records, as_text = brought.records, " ".join(filter(None, (brought.as_text_note(), brought.renamed_note())))
            to_fix = [records[n - 1] for n in brought.to_fix]
            if as_text:
                said.info(as_text, icon=":material/info:")
        elif way == "none":
            records = []
        else:
            records, left_out = valid, len(bad)
    if warns:
        st.warning(f"{validate.plural(len(warns), 'warning')} (warnings do not block an import):")
        dui.problems_table(warns)
    for note in found.notes:
        st.info(note, icon=":material/info:")
    _import_target(info, records, source_name, disabled=not records, to_fix=to_fix, left_out=left_out,
                   as_text=as_text)


def _problems_csv(problems: list) -> bytes:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["record", "problem"])
    for p in problems:
        writer.writerow([p.record, csv_cells.safe_cell(p.message)])
    return out.getvalue().encode("utf-8")


def _mapping_widgets(parsed: formats.Parsed, file_id: str) -> formats.FieldMap | None:
    guess = formats.guess_mapping(parsed.fields)
    fields = parsed.fields
    # A file of questions alone (or answers alone) offered its one field for both, and "must come from different
    # fields" was the end of it: the missing one can be none, its records brought in to be written in the editor.
    options = [*fields, NO_FIELD]  # none: its records come in to fix, the missing field written in the editor
    none = _none_label(fields)

    def label(option: str | _NoField) -> str:
        return none if isinstance(option, _NoField) else option

    c1, c2, c3 = st.columns(3)
    q = c1.selectbox("Question field", options, key=f"dataset.import.q.{file_id}", format_func=label,
                     index=fields.index(guess.question) if guess else None)
    a = c2.selectbox("Answer field", options, key=f"dataset.import.a.{file_id}", format_func=label,
                     index=fields.index(guess.answer) if guess else None)
    ctx_options = [NO_FIELD, *fields]
    ctx = c3.selectbox("Context: the passage (e.g. Alpaca input)", ctx_options, key=f"dataset.import.c.{file_id}",
                       index=ctx_options.index(guess.context) if guess and guess.context else 0, format_func=label,
                       help="The text the question is asked about; kept as the record's own Context field.")
    if q is None or a is None:
        st.warning("Choose which fields hold the question and the answer.")
        return None
    if q == a:
        st.warning("The question and the answer must come from different fields.")
        return None
    if ctx != NO_FIELD and ctx in (q, a):
        st.warning(f"The context must come from another field than the question and the answer: choose {none} or "
                   "another field.")
        return None
    absent = next(n for n in ("question", "answer", "\x00absent") if n not in fields)  # a field no record has
    return formats.FieldMap(question=absent if q == NO_FIELD else q, answer=absent if a == NO_FIELD else a,
                            context=None if ctx == NO_FIELD else ctx)


PREVIEW_CHARS = 2000  # of a value in the preview: a 50 MB answer went to the browser whole, to be shown cut anyway


def _preview(records: list[dict], n: int = 20) -> list[dict]:
    """The first records as text, question, answer and context (when there is one) first; a value that is not text
    as the file wrote it (true, 11, {"a": 1}), not as Python would (True); cut at ``PREVIEW_CHARS`` (the import
    itself takes it whole)."""
    first = ("question", "answer", editing.CONTEXT)
    return [{k: _cut(v if isinstance(v, str) else _as_written(v))
             for k, v in [*((f, r[f]) for f in first if f in r), *((k, v) for k, v in r.items() if k not in first)]}
            for r in records[:n]]


def _cut(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else f"{text[:PREVIEW_CHARS]}… ({len(text):,} characters in all)"


def _as_written(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # a Parquet value JSON has no word for (a date): Python's own text
        return repr(value)


def _left_out(n: int) -> str:
    """What an import that skipped ``n`` invalid records adds to its line ("" for none)."""
    if not n:
        return ""
    return (f"; {validate.plural(n, 'invalid record')} {'was' if n == 1 else 'were'} left out (to fix "
            f"{'it' if n == 1 else 'them'} in the editor instead, import the file again and bring them all in)")


def _bring_in_label(total: int, brought: editing.BroughtIn) -> str:
    """The "bring them all in" choice, saying what happens to each invalid record: a number or true/false comes in
    as its text and needs no fix; the others are fixed in the editor."""
    fix, text = len(brought.to_fix), len(brought.as_text)
    named = len({n for n, *_ in brought.renamed})
    editor = (f"fix the {'one' if fix == 1 else f'{fix:,}'}{' other' if text or named else ''} invalid "
              f"record{'' if fix == 1 else 's'} in the editor (the version cannot be saved until "
              f"{'it is' if fix == 1 else 'they are'} fixed or deleted)")
    said = []
    if text:
        said.append(f"{'the one' if text == 1 else f'the {text:,}'} with a number or true/false as the question or "
                    f"answer {'comes in as its' if text == 1 else 'come in as their'} text ({brought.example})")
    if named:
        distinct = list(dict.fromkeys(name for _, name, _ in brought.renamed))  # the fields, named as the info names them
        names = ", ".join(f'"{n}"' for n in distinct[:3]) + (", ..." if len(distinct) > 3 else "")
        said.append(f"{'the one' if named == 1 else f'the {named:,}'} giving a question or answer under another "
                    f"name ({names}) {'takes' if named == 1 else 'take'} it as {'its' if named == 1 else 'their'} own")
    if not said:
        return f"Bring all {total:,} in and {editor}"
    if not fix:
        return f"Bring all {total:,} in: {'; '.join(said)}, nothing to fix"
    return f"Bring all {total:,} in: {'; '.join(said)}; {editor}"


def _import_target(info: store.DatasetInfo | None, records: list[dict], filename: str, disabled: bool,
                   to_fix: list[dict] | None = None, left_out: int = 0, as_text: str = "") -> None:
    """``to_fix``: the invalid records among ``records``, brought in as unsaved edits to fix in the editor;
    ``left_out``: how many invalid records were skipped, said in the line after the import; ``as_text``: the
    line naming the records whose number or true/false came in as its text (valid now), said in that line too."""
    to_fix = to_fix or []
    also = f" {as_text}" if as_text else ""
    skipped_invalid = _left_out(left_out)
    options = ["Create a new dataset"] + ([f"Add to {ui.md(info.name)}"] if info else [])  # an option is Markdown
    target = st.radio("Import into", options, horizontal=True, key="dataset.import.target")
    if target == options[0]:
        # the file's name as a name the dataset can take: a 400-character file name was refused as too long
        name = st.text_input("Name", value=store.name_from(Path(filename).stem), max_chars=ui.SHORT_TEXT_CHARS, key=f"dataset.import.name.{filename}")
        if st.button("Import as new dataset", type="primary", disabled=disabled, key="dataset.import.create"):
            fixing = {id(r) for r in to_fix}
            first = [r for r in records if id(r) not in fixing]  # version 1 holds what is valid as it comes in
            created = ui.run_or_error(store.create_dataset, name, first, message=f"imported {filename}")
            if created:
                dui.select(created.id)
                _clear_upload()
                if to_fix:  # everything in the editor, the invalid ones marked, as unsaved changes
                    dui.draft(created)
                    dui.replace_working_copy(created.id, records, origin=f"imported {filename}")
                    kept = ("the valid record as version 1" if len(first) == 1
                            else f"the {len(first):,} valid records as version 1" if first else "no record yet")
                    fix = "the one to fix is" if len(to_fix) == 1 else f"the {len(to_fix):,} to fix are"
                    dui.flash(f"Created {dui.md(created.name)} with {kept}; {fix} in the Edit tab as unsaved "
                              f"changes.{also}{_repeats_note(records)}")
                else:
                    dui.flash(f"Imported {validate.plural(len(records), 'record')} into a new dataset, "
                              f"{dui.md(created.name)}{skipped_invalid}.{also}{_repeats_note(records)}")
                dui.go_to_tab("Edit")
                st.rerun()
        return
    skip = st.checkbox("Skip records already in the dataset (same question and answer)", value=True,
                       key="dataset.import.skip")
    if st.button(f"Add to {dui.md(info.name)}", type="primary", disabled=disabled, key="dataset.import.merge"):
        d = dui.draft(info)
        merged, skipped = editing.append(d.current, records, skip_existing=skip)
        dui.replace_working_copy(info.id, merged, origin=f"imported {filename}")
        _clear_upload()
        added = len(records) - skipped
        if added:
            dui.flash(f"Added {validate.plural(added, 'record')} to {dui.md(info.name)}"
                      + (f" ({skipped:,} already there {'was' if skipped == 1 else 'were'} skipped)" if skipped else "")
                      + f"{skipped_invalid}. They are unsaved: check them in the Edit tab and press Save.{also}"
                      + _repeats_note(merged))
        else:  # nothing to check or save: saying so would send the person looking for records that are not there
            dui.flash(f"Nothing added to {dui.md(info.name)}: "
                      + ("the record is" if skipped == 1 else f"all {skipped:,} records are")
                      + f" already there (the same question and answer){skipped_invalid}.")
        dui.go_to_tab("Edit")
        st.rerun()


def _repeats_note(records: list[dict]) -> str:
    """The line after an import pointing to the Duplicates tab where records repeat a question: the import's warnings
    table named them before the import, and afterwards nothing said where to review them."""
    n = validate.repeated_questions(records)
    if not n:
        return ""
    return (f" {validate.plural(n, 'record')} {'repeats' if n == 1 else 'repeat'} an earlier question (case and "
            "punctuation aside): the Duplicates tab finds them, and questions asked in other words, to merge or drop.")


def _clear_upload() -> None:
    import_source.drop_import()
    st.session_state["dataset.import.nonce"] += 1
