"""A small interpreter of Go's text/template, for the subset the studio writes in an Ollama TEMPLATE (string
constants, fields, variables, if / else if / else / range / end, and the functions and, not, eq, ne, len, slice), so
tests can render an exported TEMPLATE as Ollama would, with no Go toolchain. Anything else raises."""

from __future__ import annotations

import codecs
import re

_ACTION = re.compile(r'\{\{ ((?:"(?:[^"\\]|\\.)*"|[^"}])*?) \}\}')
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\(|\)|:=|,|[^\s(),]+')


def _const(token: str) -> str:
    assert token.isascii(), "the studio writes ASCII-only constants"
    return codecs.decode(token[1:-1], "unicode_escape")


def _parse_actions(template: str) -> list:
    """Text and actions as a tree: ("text", s), ("out", expr), ("if", [(cond, body)...], else_body),
    ("range", index_var, expr, body), ("set", var, expr)."""
    pos, items = 0, []
    for m in _ACTION.finditer(template):
        if m.start() > pos:
            items.append(("text", template[pos:m.start()]))
        items.append(("action", m.group(1)))
        pos = m.end()
    if pos < len(template):
        items.append(("text", template[pos:]))
    it = iter(items)

    def block(stop: tuple[str, ...]) -> tuple[list, str]:
        body = []
        for kind, text in it:
            if kind == "text":
                body.append(("text", text))
                continue
            words = _TOKEN.findall(text)
            if words[0] in stop or (words[0] == "else" and "else" in stop):
                return body, text
            if words[0] == "if":
                branches, other = [], []
                cond = words[1:]
                while True:
                    inner, ended = block(("end", "else"))
                    branches.append((cond, inner))
                    if ended == "end":
                        break
                    rest = _TOKEN.findall(ended)[1:]
                    if rest and rest[0] == "if":
                        cond = rest[1:]
                        continue
                    other, ended = block(("end",))
                    break
                body.append(("if", branches, other))
            elif words[0] == "range":
                assert words[2] == "," and words[4] == ":=", text
                inner, _ = block(("end",))
                body.append(("range", words[1], words[5:], inner))
            elif len(words) > 1 and words[1] == ":=":
                body.append(("set", words[0], words[2:]))
            else:
                body.append(("out", words))
        assert not stop, f"no {{{{ end }}}} for a block in {template[:60]!r}"
        return body, ""

    return block(())[0]


def _eval(words: list[str], dot, env: dict):
    def term(i: int):
        w = words[i]
        if w == "(":
            value, i = call(i + 1)
            assert words[i] == ")"
            return value, i + 1
        if w.startswith('"'):
            return _const(w), i + 1
        if w.isdigit():
            return int(w), i + 1
        if w.startswith("$."):
            return env["$"][w[2:]], i + 1
        if w.startswith("$"):
            return env[w], i + 1
        if w.startswith("."):
            return dot[w[1:]], i + 1
        raise AssertionError(f"unknown term {w!r}")

    def call(i: int):
        name = words[i]
        if name not in FUNCS:
            return term(i)
        args = []
        i += 1
        while i < len(words) and words[i] != ")":
            value, i = term(i)
            args.append(value)
        return FUNCS[name](*args), i

    value, end = call(0)
    assert end == len(words), f"cannot read {' '.join(words)!r}"
    return value


FUNCS = {"and": lambda *a: next((x for x in a if not x), a[-1]), "not": lambda x: not x,
         "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "len": len, "slice": lambda x, i: x[i:]}


def _run(body: list, dot, env: dict) -> str:
    out = []
    for node in body:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "out":
            out.append(str(_eval(node[1], dot, env)))
        elif node[0] == "set":
            env[node[1]] = _eval(node[2], dot, env)
        elif node[0] == "if":
            chosen = next((inner for cond, inner in node[1] if _eval(cond, dot, env)), node[2])
            out.append(_run(chosen, dot, env))
        elif node[0] == "range":
            for i, item in enumerate(_eval(node[2], dot, env)):
                out.append(_run(node[3], item, {**env, node[1]: i}))
    return "".join(out)


def render(template: str, data: dict) -> str:
    """``template`` rendered over ``data`` (Ollama's fields: Messages, System, Prompt, Response)."""
    data = {"Messages": [], "System": "", "Prompt": "", "Response": "", **data}
    return _run(_parse_actions(template), data, {"$": data})
