"""A line-for-line port of Ollama's Modelfile parser (ollama/ollama parser/parser.go, ParseFile), so tests can
check what Ollama reads back from a Modelfile the studio writes: its rune-by-rune state machine, its unquote
(no unescaping), and its dropping of characters Go's strconv.IsPrint calls unprintable."""

from __future__ import annotations

NIL, NAME, VALUE, PARAMETER, MESSAGE, COMMENT = range(6)
COMMANDS = {"from", "license", "template", "system", "adapter", "draft", "renderer", "parser", "parameter",
            "message", "requires"}


class ParseError(ValueError):
    pass


def _space(r: str) -> bool:
    return r in " \t"


def _newline(r: str) -> bool:
    return r in "\r\n"


def _unquote(s: str) -> tuple[str, bool]:
    if s[:3] == '"""':
        return (s[3:-3], True) if len(s) >= 6 and s[-3:] == '"""' else ("", False)
    if s[:1] == '"':
        return (s[1:-1], True) if len(s) >= 2 and s[-1] == '"' else ("", False)
    return s, True


def _go_trim(s: str) -> str:
    return s.strip("\t\n\v\f\r \x85\xa0")


def _next(r: str, cs: int) -> tuple[int, str | None]:
    if cs == NIL:
        if r == "#":
            return COMMENT, None
        return (NIL, None) if _space(r) or _newline(r) else (NAME, r)
    if cs == NAME:
        if r.isascii() and r.isalpha():
            return NAME, r
        if _space(r):
            return VALUE, None
        raise ParseError("command must be one of ...")
    if cs == VALUE:
        return (NIL, r) if _newline(r) or _space(r) else (VALUE, r)
    if cs == PARAMETER:
        if (r.isascii() and r.isalnum()) or r == "_":
            return PARAMETER, r
        if _space(r):
            return VALUE, None
        raise ParseError("unexpected EOF")
    if cs == MESSAGE:
        if r.isascii() and r.isalpha():
            return MESSAGE, r
        if _space(r):
            return VALUE, None
        raise ParseError("unexpected EOF")
    return (NIL, None) if _newline(r) else (COMMENT, None)


def parse(text: str) -> list[tuple[str, str]]:
    """The (command, argument) pairs Ollama reads from ``text``; ParseError where it refuses the file."""
    commands: list[tuple[str, str]] = []
    name, curr, buf, role = "", NIL, "", ""
    for r in text:
        nxt, r = _next(r, curr)
        if nxt != curr:
            if curr == NAME:
                s = buf.lower()
                if s not in COMMANDS:
                    raise ParseError("command must be one of ...")
                if s == "from":
                    name = "model"
                elif s == "parameter":
                    nxt = PARAMETER
                else:
                    if s == "message":
                        nxt = MESSAGE
                    name = s
            elif curr == PARAMETER:
                name = buf
            elif curr == MESSAGE:
                role = buf
            elif curr == VALUE:
                s, ok = _unquote(_go_trim(buf))
                if not ok or _space(r):
                    buf += r
                    continue
                if role:
                    s, role = f"{role}: {s}", ""
                commands.append((name, s))
            buf, curr = "", nxt
        if r is not None and r.isprintable():
            buf += r
    if curr == VALUE:
        s, ok = _unquote(_go_trim(buf))
        if not ok:
            raise ParseError("unexpected EOF")
        commands.append((name, f"{role}: {s}" if role else s))
    elif curr not in (NIL, COMMENT):
        raise ParseError("unexpected EOF")
    if not any(c == "model" for c, _ in commands):
        raise ParseError("no FROM line")
    return commands
