"""Chat-format records in and out: OpenAI/TRL ``messages`` and ShareGPT ``conversations``.

In: a system message becomes the record's ``system`` field, the user turn its question, the
assistant's reply its answer. A multi-turn conversation gives its first exchange (``turns="first"``)
or one record per exchange (``turns="every"``), the earlier turns kept as ``history`` (a list of
``{"role", "content"}``). Out: the same shapes, so a curated dataset goes straight to TRL's
SFTTrainer, OpenAI fine-tuning, Axolotl or LLaMA-Factory.

A record's passage (its ``context``) travels in the user turn, written and read back by
``studio.models.prompt_format`` (``user_content`` / ``split_user_content``: "Context: ...\n\nQuestion: ..."),
the way the model is prompted; Alpaca writes it as ``input``.
"""

from __future__ import annotations

from studio.errors import DatasetFormatError
from studio.models.prompt_format import context_of, split_user_content, user_content

Record = dict[str, object]
TURNS = ("first", "every")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "model": "assistant",
                  "system": "system"}


def kind(rows: list[dict]) -> str | None:
    """"messages" or "sharegpt" when the rows are chat records (judged by the first few), else None."""
    head = [r for r in rows[:20] if type(r) is dict]  # a record that was not an object (NotAnObject) is no sign
    if head and all(isinstance(r.get("messages"), list) for r in head):
        return "messages"
    if head and all(isinstance(r.get("conversations"), list) for r in head):
        return "sharegpt"
    return None


def _turns(row: dict, n: int, fmt: str) -> list[dict[str, str]]:
    """The row's turns as ``{"role", "content"}``; a one-line error naming the record when malformed."""
    raw = row.get("messages") if fmt == "messages" else row.get("conversations")
    turns = []
    for t in raw or []:
        if not isinstance(t, dict):
            raise DatasetFormatError(f"record {n}: each turn must be an object with a role and a text.")
        if fmt == "messages":
            role, content = t.get("role"), t.get("content")
            if role not in ("system", "user", "assistant", "tool", "developer"):
                raise DatasetFormatError(f"record {n}: unknown role {role!r} (expected system, user or assistant).")
            role = "system" if role == "developer" else role
        else:
            who, content = t.get("from"), t.get("value")
            role = SHAREGPT_ROLES.get(str(who).lower()) if who is not None else None
            if role is None:
                raise DatasetFormatError(
                    f"record {n}: unknown ShareGPT role {who!r} (expected human, gpt or system).")
        if isinstance(content, list):  # OpenAI content parts: keep the text parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        turns.append({"role": role, "content": content})
    return turns


def to_records(rows: list[dict], fmt: str, turns: str = "first") -> list[Record]:
    """Chat rows as question/answer records (extra fields kept). A conversation without an assistant
    reply gives a record whose answer is missing, which validation names by record number."""
    if turns not in TURNS:
        raise DatasetFormatError(f"Unknown turns {turns!r}: use first or every.")
    out: list[Record] = []
    for n, row in enumerate(rows, 1):
        if type(row) is not dict:  # a record that was not an object stays as it is, for validation to name
            out.append(row)
            continue
        conv = _turns(row, n, fmt)
        extra = {k: v for k, v in row.items() if k not in ("messages", "conversations")}
        system = "\n\n".join(str(t["content"]) for t in conv if t["role"] == "system" and t["content"])
        dialogue = [t for t in conv if t["role"] in ("user", "assistant")]
        exchanges: list[tuple[int, object, object]] = []  # (position of the user turn, question, answer)
        for i, t in enumerate(dialogue):
            if t["role"] == "user":
                nxt = dialogue[i + 1] if i + 1 < len(dialogue) else None
                exchanges.append((i, t["content"], nxt["content"] if nxt and nxt["role"] == "assistant" else None))
        if not exchanges:
            exchanges = [(0, None, next((t["content"] for t in dialogue if t["role"] == "assistant"), None))]
        for pos, question, answer in exchanges[:1] if turns == "first" else exchanges:
            # A missing turn stays missing, so validation names the record ("answer is missing").
            rec: Record = {k: v for k, v in (("question", question), ("answer", answer)) if v is not None}
            if isinstance(question, str):
                rec["question"], context = split_user_content(question)
                if context is not None:
                    rec["context"] = context
            if system:
                rec["system"] = system
            if turns == "every" and pos:
                rec["history"] = dialogue[:pos]
            out.append({**rec, **{k: v for k, v in extra.items() if k not in rec}})
    return out


def _messages(rec: Record) -> list[dict[str, object]]:
    msgs: list[dict[str, object]] = []
    if rec.get("system"):
        msgs.append({"role": "system", "content": rec["system"]})
    history = rec.get("history")
    if isinstance(history, list):
        msgs += [{"role": t.get("role"), "content": t.get("content")} for t in history if isinstance(t, dict)]
    question, context = rec.get("question"), context_of(rec)
    user = user_content(question, rec["context"]) if context and isinstance(question, str) else question
    msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": rec.get("answer")}]
    return msgs


def to_messages(records: list[Record]) -> list[dict]:
    """``{"messages": [system?, user, assistant]}`` per record (TRL, OpenAI fine-tuning, Axolotl)."""
    return [{"messages": _messages(r)} for r in records]


def to_sharegpt(records: list[Record]) -> list[dict]:
    """``{"conversations": [{"from": "human"|"gpt"|"system", "value"}]}`` per record (LLaMA-Factory, Axolotl)."""
    names = {"user": "human", "assistant": "gpt", "system": "system"}
    return [{"conversations": [{"from": names.get(str(m["role"]), str(m["role"])), "value": m["content"]}
                               for m in _messages(r)]} for r in records]


def llama_factory_entry(fmt: str, file_name: str, records: list[Record]) -> dict:
    """The ``dataset_info.json`` entry LLaMA-Factory needs to read ``records`` exported as ``fmt``.

    LLaMA-Factory looks up every column an entry names in every row, so Alpaca's ``system`` is named only when
    some record has one (the export writes it for those; ``datasets`` fills the others with null)."""
    if fmt == "alpaca":
        columns = {"prompt": "instruction", "query": "input", "response": "output"}
        if any(r.get("system") for r in records):
            columns["system"] = "system"
        return {"file_name": file_name, "columns": columns}
    if fmt == "sharegpt":
        return {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "conversations"},
                "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                         "system_tag": "system"}}
    if fmt == "messages":
        return {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "messages"},
                "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                         "assistant_tag": "assistant", "system_tag": "system"}}
    raise DatasetFormatError(f"LLaMA-Factory reads alpaca, sharegpt or messages exports, not {fmt}: pass --to one of them.")


def llama_factory_zip(records: list[Record], data: bytes, fmt: str, file_name: str) -> bytes:
    """A zip of an exported file and the ``dataset_info.json`` naming it (its entry keyed by the file's
    stem, as ``dataset export --dataset-info`` writes it): unpack it into LLaMA-Factory's ``data/``."""
    import io
    import json
    import zipfile

    entry = llama_factory_entry(fmt, file_name, records)
    info = json.dumps({file_name.rsplit(".", 1)[0]: entry}, ensure_ascii=False, indent=2) + "\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(file_name, data)
        z.writestr("dataset_info.json", info)
    return buf.getvalue()


def to_alpaca(records: list[Record]) -> list[dict]:
    """``{"instruction", "input", "output"}`` (with ``system`` when set), Alpaca's own field names; the
    passage (``context``) is the ``input``, as it is written."""
    out = []
    for r in records:
        row: dict = {"instruction": r.get("question"), "input": r["context"] if context_of(r) else "",
                     "output": r.get("answer")}
        if r.get("system"):
            row["system"] = r["system"]
        out.append(row)
    return out
