"""The Chat page's conversation kept in the workspace (``chat/conversation.json``), so a reloaded browser, a new
session or a restarted studio finds it again; each visitor of a public deployment has their own workspace, hence
their own conversation.

Only what the page shows is kept: the turns' text, which model answered (its label, and its spec, so that a new
session asks the same models next), the answer's stats, notes and failure reasons, and the last ``KEEP`` turns only
(``KEEP_CHARS`` characters at most). Never a secret: the keys and tokens used in this session are replaced by
``***`` wherever they appear (a question that pasted one, an error that quoted it, a base URL with a key in it), and
so is anything shaped like one (``hf_...``, ``sk-...``, ``gsk_...``, ``ghp_...``, ``AKIA...``, an ``Authorization``,
``x-api-key`` or ``api-key`` header, ``api_key=`` or ``password=`` in a URL or a command, a password in a URL).

Every tab of a workspace shares the one file: ``stamp`` tells a tab whether another one wrote or removed it since,
and ``LOCK`` makes a tab's check-and-write one step. A file that cannot be read as a conversation is set aside
(renamed beside it, under a name of its own) and the page starts a new one, saying so in one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from studio import atomic, config
from studio.errors import StudioError

FILE = "conversation.json"
FORMAT = 1
_TURN_KEYS = ("role", "id", "content", "model", "spec", "params", "stats", "note", "notes", "error",
              "cut_at", "stopped_in")  # and "alt"
KEEP = 200  # turns kept on disk: the conversation is rewritten whole after each turn
KEEP_CHARS = 4_000_000
"""Characters of text a conversation keeps at most, in the page's session and on disk, its oldest exchanges left out
first (the last one is always kept): 200 turns of 1,000,000-character questions were kept whole, ~200 MB held for
one visitor and written after each answer. Four times what a model is sent with a question (``HISTORY_CHARS``)."""
LOCK = threading.RLock()  # one tab's check-and-write at a time (every tab of the studio is in this process)
Stamp = tuple[int, int, int] | None  # the file's identity as a tab last saw it (None: no file)
_TOKEN = r"[A-Za-z0-9._~+/\-]{16,}=*"  # what a bearer token or an API key is made of, long enough to be one
_SECRET_SHAPES = re.compile(
    r"hf_[A-Za-z0-9]{20,}"  # a Hugging Face token (also right after a word: HF_TOKENhf_...)
    r"|(?<![a-z])sk-(?=[A-Za-z0-9_\-]*[0-9])[A-Za-z0-9_\-]{16,}"  # an OpenAI-style key (not the end of "risk-")
    r"|gsk_[A-Za-z0-9]{20,}"  # a Groq key
    r"|(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"  # a GitHub token
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])"  # an AWS access key id
    r"|(?P<auth>(?i:\bauthorization)\s*[:=]\s*[\"']?(?:(?i:bearer|basic|token|bot|apikey)\s+)?)" + _TOKEN +
    r"|(?P<bearer>(?i:\bbearer)\s+)(?=[A-Za-z0-9._~+/\-]*[0-9])" + _TOKEN +
    r"|(?P<key>(?i:(?<![A-Za-z0-9])(?:x-)?(?:[A-Za-z0-9]+_)*(?:api[_-]?key|access[_-]?token|auth[_-]?token|"
    r"secret[_-]?key|client[_-]?secret))[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._~+/\-]{8,}=*"  # a key's header or field
    r"|(?P<pw>(?i:(?<![A-Za-z0-9])(?:[A-Za-z0-9]+_)*(?:password|passwd|pwd))=)[^\s&\"',;#]+"  # password=...
    r"|(?<=://)[^/@\s:]*:[^/@\s]*(?=@)")  # user:password in a URL


def left_out_note(n: int) -> str:
    """The one line saying a conversation's ``n`` oldest turns are no longer in it (past ``KEEP`` turns or
    ``KEEP_CHARS`` characters): under the conversation on the page, and in Export JSON and Markdown. The same after a
    reload, in another session or after a restart (the count is kept in the file): a conversation reopened past
    the turns kept said nothing of the ones left out."""
    return (f"Only this conversation's last {KEEP:,} turns ({KEEP_CHARS:,} characters at most) are kept: its {n:,} "
            "oldest turns were left out of it (of the saved copy and the exports too).")


def _hide(match: re.Match) -> str:
    """The secret as ``***``, the name or header before it kept (``api_key=***``, ``Authorization: Bearer ***``)."""
    return next((match.group(g) for g in ("auth", "bearer", "key", "pw") if match.group(g)), "") + "***"


def path() -> Path:
    """Where this workspace keeps its Chat conversation."""
    return config.home() / "chat" / FILE


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret in ``secrets`` and every secret-shaped string replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _SECRET_SHAPES.sub(_hide, text)


_SCRUBBED: OrderedDict[bytes, str] = OrderedDict()  # a long text's scrubbed form, by _scrub_key: only scrubbed text
_SCRUBBED_LOCK = threading.Lock()
_SCRUBBED_CHARS = [0]  # the characters held in _SCRUBBED
_HASH_KEY = os.urandom(32)  # this process's own: the keys match nothing outside it, and never leave it
_CACHED_FROM = 4096  # a shorter text is scanned again (as fast as hashing it)
_CACHE_CHARS = 32_000_000  # the most characters kept scrubbed; the oldest go first


def _scrub_key(text: str, secrets: Sequence[str | None]) -> bytes:
    """A keyed hash of the text and of the secrets to take out of it: a changed text, or secret, is another key."""
    h = hashlib.blake2b(key=_HASH_KEY, digest_size=32)
    for part in (text, *(s for s in secrets if s and len(s) >= 4)):  # in order: scrub replaces them in turn
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.digest()


def _scrub_kept(text: str, secrets: Sequence[str | None]) -> str:
    """``scrub(text, secrets)``, not done again for a long text already scrubbed of the same secrets: each save
    rescanned every turn, so a conversation holding a pasted book took the scan of the whole book after each answer.
    What is kept is the scrubbed text (no secret) under a keyed hash, in this process's memory only."""
    if len(text) < _CACHED_FROM:
        return scrub(text, secrets)
    key = _scrub_key(text, secrets)
    with _SCRUBBED_LOCK:
        done = _SCRUBBED.get(key)
        if done is not None:
            _SCRUBBED.move_to_end(key)
            return done
    done = scrub(text, secrets)
    with _SCRUBBED_LOCK:
        if key not in _SCRUBBED:
            _SCRUBBED[key] = done
            _SCRUBBED_CHARS[0] += len(done)
        while _SCRUBBED_CHARS[0] > _CACHE_CHARS and _SCRUBBED:
            _SCRUBBED_CHARS[0] -= len(_SCRUBBED.popitem(last=False)[1])
    return done


def _clean(turn: Any, secrets: Sequence[str | None], nested: bool = False) -> dict[str, Any] | None:
    """One turn as kept (known keys, text values scrubbed), or None where it is not a turn."""
    if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
        return None
    out: dict[str, Any] = {}
    for key in _TURN_KEYS:
        value = turn.get(key)
        if isinstance(value, str):
            out[key] = _scrub_kept(value, secrets)
        elif key == "cut_at" and isinstance(value, int) and not isinstance(value, bool) and value > 0:
            out[key] = value  # the answer was cut at Max new tokens: said under it after a reload too
        elif key == "notes" and isinstance(value, list):
            out[key] = [scrub(n, secrets) for n in value if isinstance(n, str)]
        elif key == "params" and isinstance(value, dict):  # the settings it was asked with: numbers, flags, none
            out[key] = {k: v for k, v in value.items()
                        if isinstance(k, str) and (v is None or isinstance(v, (bool, int, float)))}
        elif key == "spec" and isinstance(value, dict):  # a BackendSpec's fields: text, a flag, none
            out[key] = {k: scrub(v, secrets) if isinstance(v, str) else v for k, v in value.items()
                        if isinstance(k, str) and (v is None or isinstance(v, (str, bool)))}
    if "content" not in out:
        out["content"] = ""
    if not nested and out["role"] == "assistant" and isinstance(turn.get("alt"), dict):
        alt = _clean({**turn["alt"], "role": "assistant"}, secrets, nested=True)
        if alt is not None:
            out["alt"] = alt
    return out


def stamp() -> Stamp:
    """The saved file's identity now (a write replaces it: a new inode and time), or None where there is none."""
    try:
        s = path().stat()
    except FileNotFoundError:
        return None
    return (s.st_ino, s.st_mtime_ns, s.st_size)


def _document(turns: list[dict[str, Any]], left_out: int) -> bytes:
    """The file's text: ``turns``, and ``left_out`` (how many oldest turns ``KEEP_CHARS`` left out, kept so a reload
    still says so) where there were any."""
    doc = {"format": FORMAT, "saved": time.strftime("%Y-%m-%dT%H:%M:%S"), **({"left_out": left_out} if left_out else {}),
           "messages": turns}
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


def save(messages: Sequence[dict[str, Any]], secrets: Iterable[str | None] = (), left_out: int = 0) -> tuple[Stamp, int]:
    """Keep ``messages`` (the page's history, its last ``KEEP`` turns) in the workspace; an empty one removes the
    file. ``left_out``: how many of its oldest turns were left out of it before (``KEEP_CHARS``), kept with it, and
    those it leaves out itself (past ``KEEP`` turns or ``KEEP_CHARS`` characters) counted in, so a reopened
    conversation still says how many it lost. Returns the file's new stamp and how many older turns of ``messages``
    were left out of it. Raises a ``StudioError`` (one line) where the disk or the workspace's size limit refuses the
    write."""
    secrets = list(secrets)
    cleaned = [t for t in (_clean(m, secrets) for m in messages) if t is not None]
    within, too_big = within_chars(cleaned)
    turns, dropped = _last(within)
    with LOCK:
        if not turns:
            forget()
        else:
            atomic.write_bytes(path(), _document(turns, left_out + too_big + dropped))
        return stamp(), dropped + too_big


def keep_answer(question_id: str, turn: dict[str, Any], secrets: Iterable[str | None] = ()) -> bool:
    """Put ``turn`` right after the kept question ``question_id`` where nothing answers it yet: its tab is gone (no
    page is left to place it), and the words it streamed were lost. Returns whether it was written; a file that
    cannot be read, a question cleared since, or a refused write leave the file as it is."""
    with LOCK:
        try:
            turns, _note, left_out = kept()
        except Unreadable:
            return False
        at = next((i for i, t in enumerate(turns) if t["role"] == "user" and t.get("id") == question_id), None)
        if at is None or (at + 1 < len(turns) and turns[at + 1]["role"] == "assistant"):
            return False
        turns.insert(at + 1, turn)
        try:
            save(turns, secrets, left_out)
        except (StudioError, OSError):
            return False
        return True


def join_into(local: Path, stored: bytes) -> bool:
    """Where a copy of the conversation kept elsewhere (``stored``: the file as a repo holds it, restored after a
    restart) differs from the one here (``local``: turns asked since, in a tab that moved in, or before the copy came
    back), its turns that are not here go before the ones here, so neither is lost (the last ``KEEP`` kept), and the
    turns neither holds any longer are counted (``joined``). Returns whether ``local`` was rewritten; either one
    unreadable leaves ``local`` as it is."""
    with LOCK:
        try:
            (theirs, their_left_out), (ours, left_out) = _read(stored), _read(local.read_bytes())
        except (OSError, ValueError, UnicodeDecodeError):
            return False
        if not unmatched(theirs, ours):
            return False
        both, gone = joined(ours, left_out, theirs, their_left_out, theirs_first=True)
        within, too_big = within_chars(both)
        turns, dropped = _last(within)
        atomic.write_bytes(local, _document(turns, gone + too_big + dropped))
        return True


def joined(ours: list[dict[str, Any]], our_left_out: int, theirs: list[dict[str, Any]], their_left_out: int,
           theirs_first: bool = False) -> tuple[list[dict[str, Any]], int]:
    """``ours`` whole with the exchanges of ``theirs`` it does not hold (``unmatched``), after it (before it where
    ``theirs_first``), and how many turns of the two copies' history that leaves out (each said how many oldest
    turns it lost: ``*_left_out``). Two conversations apart (no exchange in both) lost the sum of theirs: the larger
    of the two was said, so a joined conversation said 60 where 120 were gone. Where they share an exchange, their
    histories before it are one: each copy's count, less the turns the other holds before that exchange (they come
    back with the join), the larger of the two (the sum counted twice the turns both had lost)."""
    mine, others, partner = _pairs(theirs, ours)
    extra = [t for ex, p in zip(mine, partner) if p is None for t in ex]
    both = [*extra, *ours] if theirs_first else [*ours, *extra]
    first = next((i for i, p in enumerate(partner) if p is not None), None)
    if first is None:
        return both, our_left_out + their_left_out
    theirs_before = sum(len(ex) for ex in mine[:first])  # all unmatched: ``first`` is their first shared exchange
    ours_before = sum(len(ex) for ex in others[:partner[first]])
    return both, max(our_left_out - theirs_before, their_left_out - ours_before, 0)


def _exchanges(turns: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The turns cut into exchanges: a question and the answers after it (answers before any question: one of their own)."""
    out: list[list[dict[str, Any]]] = []
    for turn in turns:
        if turn["role"] == "user" or not out:
            out.append([turn])
        else:
            out[-1].append(turn)
    return out


def _answers(exchange: list[dict[str, Any]]) -> tuple[str, bool]:
    """An exchange's answers as one text, and whether they ended (a failure or a Stop): a kept answer that ended is
    never the early copy of a longer one."""
    answers = exchange[1:]
    return "\x00".join(t.get("content", "") for t in answers), any(t.get("error") or t.get("note") == "stopped"
                                                                   for t in answers)


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]], exact: bool) -> int | None:
    """Whether two exchanges are one, as a closeness (None: not one): the same question id; a question without one
    (saved before questions had ids) by its text and its answers: the same answers, failures and all (``exact``), or
    one the start of the other where that one had not ended (a copy taken while it was answered; the longer the
    start, the closer). An answer that ended (failed, often with no text, and "" starts every answer; or stopped) is
    the start of none: a failure is the same only as the same failure. Two askings of "hi" with different answers
    are two exchanges."""
    qa, qb = a[0], b[0]
    if qa["role"] != "user" or qb["role"] != "user":
        return None
    if qa.get("id") or qb.get("id"):
        return 0 if qa.get("id") == qb.get("id") else None
    if qa.get("content") != qb.get("content"):
        return None
    if exact:
        answers = [[(t.get("content", ""), t.get("error")) for t in x[1:]] for x in (a, b)]
        return 0 if answers[0] == answers[1] else None
    (ra, ended_a), (rb, ended_b) = _answers(a), _answers(b)
    if rb.startswith(ra) and not ended_a:
        return len(ra)
    if ra.startswith(rb) and not ended_b:
        return len(rb)
    return None


def unmatched(turns: list[dict[str, Any]], others: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The exchanges of ``turns`` that ``others`` does not hold, in order: each exchange of ``others`` stands for at
    most one of ``turns`` (the same answers first, then the closest whose answer one is the start of the other), so
    "hi" asked twice is not taken for one, and an exchange both hold is not taken twice."""
    mine, _others, partner = _pairs(turns, others)
    return [t for ex, p in zip(mine, partner) if p is None for t in ex]


def _pairs(turns: list[dict[str, Any]], others: list[dict[str, Any]]
           ) -> tuple[list[list[dict[str, Any]]], list[list[dict[str, Any]]], list[int | None]]:
    """The exchanges of ``turns`` and of ``others``, and for each of the first the index of the exchange of
    ``others`` that stands for it (``unmatched``), or None."""
    mine, theirs = _exchanges(turns), _exchanges(others)
    partner: list[int | None] = [None] * len(mine)
    used = [False] * len(theirs)
    for exact in (True, False):
        for j, other in enumerate(theirs):
            if used[j]:
                continue
            close = [(c, -i) for i, ex in enumerate(mine) if partner[i] is None
                     for c in [_same(ex, other, exact)] if c is not None]
            if close:
                i = -max(close)[1]
                partner[i], used[j] = j, True
    return mine, theirs, partner


def _read(raw: bytes) -> tuple[list[dict[str, Any]], int]:
    """A saved file's turns, and how many oldest turns were left out of it (0 where it does not say: an older
    studio's)."""
    doc = json.loads(raw.decode("utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
        raise ValueError("no list of messages in it")
    turns = [_clean(m, ()) for m in doc["messages"]]
    if any(t is None for t in turns):
        raise ValueError("a message without a user or assistant role")
    left_out = doc.get("left_out")
    left_out = left_out if isinstance(left_out, int) and not isinstance(left_out, bool) and left_out > 0 else 0
    return [t for t in turns if t is not None], left_out


def _chars(turn: dict[str, Any]) -> int:
    """The characters of text a turn holds: its text, its failure, compare mode's second answer's."""
    alt = turn.get("alt") if isinstance(turn.get("alt"), dict) else {}
    return sum(len(t.get(k) or "") if isinstance(t.get(k), str) else 0 for t in (turn, alt) for k in ("content", "error"))


def within_chars(turns: Sequence[dict[str, Any]], most: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """``turns`` from the oldest exchange (a question and its answers) that leaves ``most`` (``KEEP_CHARS``)
    characters or fewer after it, the last exchange kept whatever its size; and how many turns were left out."""
    most = KEEP_CHARS if most is None else most
    turns = list(turns)
    start, size = len(turns), 0
    while start > 0:
        first = start - 1
        while first > 0 and turns[first].get("role") != "user":
            first -= 1
        size += sum(_chars(t) for t in turns[first:start])
        if size > most and start < len(turns):
            break
        start = first
    return turns[start:], start


def _last(turns: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The last ``KEEP`` turns (``KEEP_CHARS`` characters at most), starting with a question, and how many were left
    out before them."""
    turns, dropped = within_chars(turns)
    cut = max(0, len(turns) - KEEP)
    while cut < len(turns) and turns[cut]["role"] != "user":  # an answer is not kept without its question
        cut += 1
    return turns[cut:], dropped + cut


def forget() -> None:
    """Remove the kept conversation (Clear conversation)."""
    with LOCK:
        path().unlink(missing_ok=True)


class Unreadable(Exception):
    """The saved file is there but cannot be read (permissions, a disk error): it must not be written over."""


def load() -> tuple[list[dict[str, Any]], str | None]:
    """The kept conversation, and a one-line note where the file was unreadable (and set aside) instead. Raises
    ``Unreadable`` (one line) where the file cannot be read at all: it is left as it is, and nothing may replace it."""
    turns, note, _left_out = kept()
    return turns, note


def kept() -> tuple[list[dict[str, Any]], str | None, int]:
    """``load``'s conversation and note, and how many of its oldest turns were left out of it (``KEEP_CHARS``), as
    the file says (0 for one saved before it said)."""
    p = path()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return [], None, 0
    except OSError as exc:
        raise Unreadable(f"The saved conversation ({p}) cannot be read ({exc.strerror or exc}): it is left as it is, "
                         "and this conversation is not saved until Clear conversation (which removes it).") from None
    try:
        turns, left_out = _read(raw)
        return turns, None, left_out
    except (ValueError, UnicodeDecodeError) as exc:
        # a name of its own: two set aside within a second must not replace one another
        aside = p.with_name(f"{p.stem}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.json")
        try:
            p.replace(aside)
            where = f"it was set aside as {aside.name}"
        except OSError:
            where = "it is left as it is"
        why = str(exc).split("\n")[0][:120]
        return [], f"The saved conversation could not be read ({why}): {where} and a new conversation starts.", 0
