"""The dataset's rules, checked before anything is saved.

``check(records)`` finds every problem with its record number, however many there are: a listing
may show only the first ones, but the counts and the set of invalid records are always complete (a
file with 1,200 warnings and an error after them reports that error). ``validate(records)`` is its
list of problems. Record numbers are 1-based (the first record is record 1), as people count. Errors
block a save; warnings (a repeated question, case, spacing and closing punctuation aside; a very long
record; an answer not found in its passage) are shown but do not; notes are about the dataset as a whole
(``NO_RECORDS``: it holds none).

A record's optional ``context`` (the passage its question is about) must be text when present; a
null or blank one counts as no context (kept simple: there is nothing to check against). In
extractive (SQuAD-style) data, where most answers are spans of their passage, an answer that does
not occur in its passage (case and runs of spaces ignored) gets a warning, since an extractive model
can only answer with a span of it. In generative data (Alpaca's ``input`` as the context), where
most answers are not spans, that is normal: one note says how many, instead of a warning per record.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from studio.data.display import plural
from studio.errors import DatasetValidationError
from studio.models.text import shows  # the one rule (studio.models.text); the checks below use it

__all__ = ["Checked", "NotAnObject", "Problem", "Rules", "check", "ensure_valid", "errors", "merged", "plural", "refusal",
           "split_valid", "validate", "warnings"]

Record = dict[str, object]
FIELDS = ("question", "answer")
# A saved dataset with no records (every row deleted): nothing is wrong in it, and nothing to train on; one note, the
# same on the Check tab and from ``dataset validate`` (a file with none is refused where it is read)
NO_RECORDS = ("This dataset holds no records: add some in the Dataset page's Edit tab, or import a file in its "
              "Import tab.")
NOT_IN_CONTEXT = "answer does not occur in its context (an extractive model can only answer with a span of it)"


@dataclass(frozen=True)
class Rules:
    long_chars: int = 4000  # question + answer over this many characters: a warning (~1,000 tokens)

    def __post_init__(self) -> None:
        if self.long_chars < 1:
            raise ValueError("long_chars must be positive")


@dataclass(frozen=True)
class Problem:
    record: int  # 1-based record number
    severity: str  # "error" blocks a save, "warning" does not
    message: str  # what is wrong, without the record number

    def __str__(self) -> str:
        return f"record {self.record}: {self.message}"


class NotAnObject(dict):
    """A record that was not an object in its JSON or JSON Lines file (a string, a number, null, a list): an empty
    record that keeps what was there, so validation names it with that text, "import only the valid records"
    leaves it out, and one brought in to fix shows it in the editor's Problem column (an edit makes it a plain
    record again)."""

    def __init__(self, value: object, line: int | None = None) -> None:
        super().__init__()
        self.value = value
        self.line = line  # its line in a JSON Lines file (blank lines make it differ from the record number)

    def reason(self) -> str:
        """What the file held there, its text cut to ``SHOWN`` characters."""
        kind = "a string" if isinstance(self.value, str) else _kind(self.value)
        value = self.value[:SHOWN] if isinstance(self.value, str) else self.value  # a long string is not copied whole
        text = "" if value is None else json.dumps(value, ensure_ascii=False)
        if len(text) > SHOWN:
            text = text[:SHOWN - 1] + "…"
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # half a surrogate pair shown as its escape
        where = f"on line {self.line} of the file" if self.line else "in the file"
        return f"{kind} {where}, not an object with a question and an answer" + (f": {text}" if text else "")


SHOWN = 80  # characters of a non-object record shown in its problem: enough to recognise it


def is_scalar(value: object) -> bool:
    """A number or true/false that reads back as the same value once written in quotes (NaN does not)."""
    return isinstance(value, (bool, int)) or (isinstance(value, float) and value - value == 0)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


@dataclass(frozen=True)
class Checked:
    """What ``check`` found: every error and warning, never capped, and notes on the whole dataset."""

    problems: list[Problem]  # in record order, errors and warnings mixed
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return errors(self.problems)

    @property
    def warnings(self) -> list[Problem]:
        return warnings(self.problems)

    @property
    def invalid(self) -> set[int]:
        """The record numbers (1-based) with at least one error."""
        return {p.record for p in self.problems if p.severity == "error"}

    def adding(self, problems: Sequence[Problem]) -> Checked:
        """These problems and ``problems`` (found while reading the file: a key given twice), in record order."""
        if not problems:
            return self
        return Checked(merged(self.problems, problems), self.notes)

    def counts(self) -> str:
        """``2 errors, 1,200 warnings`` (``no errors``/``no warnings`` when there are none)."""
        e, w = len(self.errors), len(self.warnings)
        return f"{plural(e, 'error') if e else 'no errors'}, {plural(w, 'warning') if w else 'no warnings'}"


def merged(problems: Sequence[Problem], more: Sequence[Problem]) -> list[Problem]:
    """Both lists in record order (each is already; a stable sort keeps a record's own order)."""
    return sorted([*problems, *more], key=lambda p: p.record) if more else list(problems)


def validate(records: list[Record], rules: Rules = Rules()) -> list[Problem]:
    """Every problem in ``records``, in record order, errors and warnings mixed."""
    return check(records, rules).problems


def check(records: list[Record], rules: Rules = Rules()) -> Checked:
    """Every problem in ``records`` (all of them: nothing stops the count) and the notes."""
    problems: list[Problem] = []
    seen: dict[object, int] = {}  # a question (with its passage, when it has one): its first record
    first_seen = seen.setdefault
    long_chars = rules.long_chars
    passages = [0, 0]  # records with a passage and a text answer; of those, answers not found in it
    for n, rec in enumerate(records, 1):
        if type(rec) is dict:
            q = rec.get("question")
            a = rec.get("answer")
            # The fast path, 200,000 records in well under a second; a record with a passage takes the
            # full checks (one key lookup for the records without one).
            if type(q) is str and type(a) is str and "context" not in rec:
                qs = q.strip()
                as_ = a.strip()
                # isprintable first: a zero-width space, a direction mark or a BOM alone is no text (rare: one call)
                if (qs and as_ and qs != as_ and (qs.isprintable() or shows(qs))
                        and (as_.isprintable() or shows(as_))):
                    if not (qs.isprintable() and as_.isprintable()):  # a line break, a tab, or a control character
                        problems.extend(_controls(n, {"question": q, "answer": a}))
                    first = first_seen(question_key(qs), n)
                    if first != n or len(q) + len(a) > long_chars:
                        if first != n:
                            problems.append(Problem(n, "warning", _same("question", first, qs, records)))
                        if len(q) + len(a) > long_chars:
                            problems.append(Problem(n, "warning", f"very long ({len(q) + len(a):,} characters; "
                                                                  f"over {long_chars:,})"))
                    continue
            problems.extend(_slow_checks(n, rec, seen, rules, passages, records))
        elif type(rec) is NotAnObject:
            problems.append(Problem(n, "error", rec.reason()))
        else:
            problems.append(Problem(n, "error", f"is {_kind(rec)}, not an object with a question and an answer"))
    notes = [] if records else [NO_RECORDS]
    with_passage, missed = passages
    if missed and 2 * missed > with_passage:
        # Generative data (most answers are not spans of their passage): normal there, said once.
        problems = [p for p in problems if p.message is not NOT_IN_CONTEXT]
        notes.append(f"The answers of {missed:,} of the {plural(with_passage, 'record')} with a context do not "
                     "occur in it: fine for a generative model, which reads the context as part of the question; "
                     "an extractive (SQuAD-style) model can only answer with a span of its passage.")
    return Checked(problems, notes)


# C0 and C1 control characters but tab, line feed and carriage return, and DEL: what a binary file, a terminal's
# colour codes or a broken conversion leaves in text; a browser shows each as a box or as nothing, a model reads it
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _controls(n: int, texts: dict[str, str]) -> list[Problem]:
    """A warning per field of record ``n`` holding a control character, naming them and where the first is."""
    out = []
    for field, text in texts.items():
        found = _CONTROL.findall(text)
        if found:
            names = ", ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(found))
            at = f"{'at' if len(found) == 1 else 'the first at'} character {_CONTROL.search(text).start() + 1:,}"
            out.append(Problem(n, "warning", f"{field} holds {plural(len(found), 'control character')} ({names}, "
                                             f"{at}), shown as a box or as nothing: left by a broken conversion; "
                                             f"delete {'it' if len(found) == 1 else 'them'}"))
    return out


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def question_key(question: str) -> str:
    """A question as a repeat of another is recognised: its case, runs of spaces, closing punctuation, Unicode form
    (NFC: an "é" typed as e + accent; not NFKC, which makes "x²" into "x2", another question) and invisible characters aside ("WHAT IS THE ADVANTAGE RULE" repeats "What is
    the advantage rule?"). The Duplicates tab finds the rest."""
    if not question.isascii():  # ASCII text is in NFC already and holds no invisible character
        question = unicodedata.normalize("NFC", question)
        if not question.isprintable():
            question = "".join(c for c in question if unicodedata.category(c) != "Cf")
    key = question.strip().casefold().rstrip(_CLOSING)
    # most questions hold single spaces only: splitting each of 200,000 would double the check's time
    return " ".join(key.split()) if "  " in key or not key.isprintable() else key


_CLOSING = "?.!;:。？！ \t\n\r"


def _same(what: str, first: int, question: str, records: list[Record]) -> str:
    earlier = records[first - 1].get("question") if isinstance(records[first - 1], dict) else None
    if not isinstance(earlier, str) or earlier.strip() == question.strip():
        return f"same {what} as record {first}"
    return f"same {what} as record {first}, apart from {_apart(earlier, question)}"


_DIFFERENCES = {"loose": "case, spacing or punctuation", "invisible": "an invisible character (a zero-width space, a "
                "direction mark)", "form": "Unicode form (the same letters encoded differently)"}


def _leveled(text: str, skip: str) -> str:
    """``text`` as ``question_key`` reads it, except for the one difference ``skip``."""
    if skip != "form":
        text = unicodedata.normalize("NFC", text)
    if skip != "invisible":
        text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    if skip != "loose":
        return " ".join(text.strip().casefold().rstrip(_CLOSING).split())
    return text.strip()


def _apart(a: str, b: str) -> str:
    """What tells two repeated questions apart, named truly (an invisible character is not "spacing"): each
    difference the match cannot do without."""
    needed = [what for what in _DIFFERENCES if _leveled(a, what) != _leveled(b, what)] or list(_DIFFERENCES)
    return " and ".join(_DIFFERENCES[w] for w in needed)


def _context_problems(n: int, rec: Record, answer: str | None, passages: list[int]) -> list[Problem]:
    """The passage's checks: text when present (null or blank: no passage), holding the answer
    (``passages`` counts the records with a passage and an answer, and the answers not found in it)."""
    ctx = rec.get("context")
    if ctx is None or (isinstance(ctx, str) and not ctx.strip()):
        return []
    if not isinstance(ctx, str):
        return [Problem(n, "error", f"context is {_kind(ctx)}, not text: write the passage as text or remove it")]
    if answer is None:
        return []
    passages[0] += 1
    # Verbatim first (SQuAD's answers are spans, so nearly always): normalising 130,000 passages costs a second.
    if answer.strip() not in ctx and _normal(answer) not in _normal(ctx):
        passages[1] += 1
        return [Problem(n, "warning", NOT_IN_CONTEXT)]
    return []


def _slow_checks(n: int, rec: Record, seen: dict[object, int], rules: Rules, passages: list[int],
                 records: list[Record]) -> list[Problem]:
    out = []
    texts = {}
    for field in FIELDS:
        if field == "answer" and field not in rec and "context" in rec:
            out.append(Problem(n, "error", "answer is missing (a question its passage does not answer, as in "
                                           "SQuAD v2: skip the record or write an answer)"))
        elif field not in rec:
            out.append(Problem(n, "error", f"{field} is missing"))
        elif rec[field] is None:
            out.append(Problem(n, "error", f"{field} is null"))
        elif is_scalar(rec[field]):  # the fix, the same on the page and the command line
            out.append(Problem(n, "error", f"{field} is {_kind(rec[field])}, not text: write it in quotes, "
                                           f"\"{json.dumps(rec[field])}\""))
        elif not isinstance(rec[field], str):
            out.append(Problem(n, "error", f"{field} is {_kind(rec[field])}, not text"))
        elif not rec[field].strip():
            out.append(Problem(n, "error", f"{field} is empty"))
        elif not shows(rec[field]):
            out.append(Problem(n, "error", f"{field} is empty: it holds only invisible characters (a zero-width space "
                                           "or a direction mark)"))
        else:
            texts[field] = rec[field]
    if len(texts) == 2:
        if texts["question"].strip() == texts["answer"].strip():
            out.append(Problem(n, "error", "question and answer are the same text"))
        else:
            ctx = rec.get("context")
            # The same question about another passage is another record (SQuAD asks "When?" of many).
            passage = ctx.strip() if isinstance(ctx, str) else ""
            key = question_key(texts["question"])
            first = seen.setdefault((key, passage) if passage else key, n)
            if first != n:
                what = "question and passage" if passage else "question"
                out.append(Problem(n, "warning", _same(what, first, texts["question"], records)))
        size = len(texts["question"]) + len(texts["answer"])
        if not (texts["question"].isprintable() and texts["answer"].isprintable()):
            out.extend(_controls(n, texts))
        if size > rules.long_chars:
            out.append(Problem(n, "warning", f"very long ({size:,} characters; over {rules.long_chars:,})"))
    if "context" in rec:
        out.extend(_context_problems(n, rec, texts.get("answer"), passages))
    return out


def repeated_questions(records: list) -> int:
    """How many records repeat an earlier record's question (``question_key``; with a passage, about the same one)."""
    seen: set[tuple[str, str]] = set()
    repeats = 0
    for rec in records:
        question = rec.get("question") if isinstance(rec, dict) else None
        if not isinstance(question, str) or not question.strip():
            continue
        ctx = rec.get("context")
        key = (question_key(question), ctx.strip() if isinstance(ctx, str) else "")
        repeats += key in seen
        seen.add(key)
    return repeats


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "warning"]


def refusal(found: Checked, remedy: str = "fix it and try again") -> str:
    """The one line that refuses data with errors: the first error, the exact counts and ``remedy``, what
    the caller offers instead (its own way to leave the invalid records out, where it has one)."""
    errs = found.errors
    more = f" (and {len(errs) - 1:,} more: {found.counts()} in all)" if len(errs) > 1 else ""
    return f"{errs[0]}{more}; {remedy}."


def ensure_valid(records: list[Record], rules: Rules = Rules(), remedy: str = "fix it and try again") -> list[Problem]:
    """Raise ``DatasetValidationError`` naming the first error (and how many more) and ``remedy``; return the
    warnings."""
    found = check(records, rules)
    if found.errors:
        raise DatasetValidationError(refusal(found, remedy))
    return found.warnings


def split_valid(records: list[Record], rules: Rules = Rules()) -> tuple[list[Record], list[Problem], list[Problem]]:
    """(the valid records, the errors of the ones left out, the warnings of the ones kept): real data
    with a few broken records goes on without them, each one named with its reason."""
    found = check(records, rules)
    bad = found.invalid
    kept = [r for n, r in enumerate(records, 1) if n not in bad]
    return kept, found.errors, [w for w in found.warnings if w.record not in bad]
