"""SQuAD-style records in: questions asked about a passage, with the answer a span of it.

Two shapes are read. The Hugging Face ``squad`` / ``squad_v2`` datasets (JSON, JSON Lines, Parquet,
a ``save_to_disk`` folder, the Hub) have one row per question::

    {"id", "title", "context", "question", "answers": {"text": [...], "answer_start": [...]}}

The original SQuAD JSON file nests them under articles and paragraphs::

    {"version", "data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question",
                          "answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}

Both become ``{"question", "answer", "context", "id", "title"}`` records: the answer is the first
answer text. A question without one (squad_v2's unanswerable) gives a record without an answer,
which validation names by record number, so it can be skipped on import or answered in the editor.
"""

from __future__ import annotations

Record = dict[str, object]
FLAT = "squad"  # one row per question (the Hub's squad / squad_v2)
NESTED = "squad-nested"  # the original file: articles > paragraphs > qas


def kind(rows: list[dict]) -> str | None:
    """``FLAT`` or ``NESTED`` when the rows are SQuAD-shaped (judged by the first few), else None."""
    head = [r for r in rows[:20] if type(r) is dict]  # a record that was not an object (NotAnObject) is no sign
    if not head:
        return None
    if all(isinstance(r.get("paragraphs"), list) for r in head):
        return NESTED
    if all(isinstance(r.get("answers"), (dict, list)) and "question" in r and "context" in r and "answer" not in r
           for r in head):
        return FLAT
    return None


def _first_text(answers: object) -> object:
    """The first answer text of ``{"text": [...]}`` (the Hub's) or ``[{"text": ...}]`` (the file's); None if none."""
    if isinstance(answers, dict):
        texts = answers.get("text")
        texts = texts if isinstance(texts, list) else [texts]
    elif isinstance(answers, list):
        texts = [a.get("text") if isinstance(a, dict) else a for a in answers]
    else:
        return None
    return next((t for t in texts if t is not None and not (isinstance(t, str) and not t.strip())), None)


def _record(question: object, answer: object, context: object, extra: dict) -> Record:
    # A missing answer stays missing (validation names the record); nothing is invented.
    rec: Record = {"question": question} if question is not None else {}
    if answer is not None:
        rec["answer"] = answer
    if context is not None:
        rec["context"] = context
    rec.update((k, v) for k, v in extra.items() if k not in rec)
    return rec


def to_records(rows: list[dict], shape: str) -> list[Record]:
    """SQuAD rows (``shape`` from ``kind``) as question/answer/context records, in file order."""
    if shape == FLAT:  # a record that was not an object stays as it is, for validation to name
        return [_record(r.get("question"), _first_text(r.get("answers")), r.get("context"),
                        {k: v for k, v in r.items() if k not in ("question", "answers", "context")})
                if type(r) is dict else r for r in rows]
    out: list[Record] = []
    for article in rows:
        if type(article) is not dict:  # an article that was not an object: one invalid record, named
            out.append(article)
            continue
        title = article.get("title")
        for para in article.get("paragraphs") or []:
            if not isinstance(para, dict):
                continue
            for qa in para.get("qas") or []:
                if not isinstance(qa, dict):
                    continue
                extra = {k: v for k, v in (("id", qa.get("id")), ("title", title)) if v is not None}
                answer = None if qa.get("is_impossible") else _first_text(qa.get("answers"))
                out.append(_record(qa.get("question"), answer, para.get("context"), extra))
    return out
