"""An Ollama ``Modelfile`` for an exported GGUF: FROM, TEMPLATE (Go template syntax), SYSTEM, PARAMETER stop.

A Jinja chat template cannot be translated to Go in general, but a chat template only ever wraps
each message in a role's prefix and suffix. ``chat_parts`` renders the model's own template over a
conversation with marker texts and reads those pieces off the result (a stop token ends each
suffix, as in ChatML and Phi-3); the parts are then checked by rebuilding several conversations and
comparing with the Jinja rendering. A template that is not of that shape gets no TEMPLATE line
(Ollama then reads the chat template inside the GGUF itself) and the Modelfile says so. A default
system prompt that the template inserts (SmolLM2's) becomes the SYSTEM line, under a comment saying whose it is: the
model's own, as transformers and the GGUF's chat template give it, not the studio's Chat default; one a SYSTEM line cannot carry
(a no-break space, a zero-width joiner, a line ending in three quotes) is written by the TEMPLATE itself instead.

A model without a chat template uses the studio's training format (``Question: ...\\nAnswer:``).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.errors import StudioError
from studio.models import prompt_format

ROLES = ("system", "user", "assistant")
_MARK = {"system": "SYSMARK7q", "user": "USRMARK7q", "assistant": "ASTMARK7q", "user2": "USRMARK8q"}


@dataclass(frozen=True)
class ChatParts:
    prefix: dict[str, str]  # role -> text before its content
    suffix: dict[str, str]  # role -> text after its content
    generation: str  # what opens the assistant's answer
    default_system: str | None  # a system prompt the template inserts when the conversation has none
    bos: str  # text the template puts first (the BOS token) when the runtime does not add it
    stop: str  # the end-of-turn token that ends each suffix

    def render(self, messages: list[dict[str, str]]) -> str:
        """The conversation as these parts lay it out, ready for the assistant's answer."""
        out = self.bos
        if self.default_system is not None and (not messages or messages[0]["role"] != "system"):
            messages = [{"role": "system", "content": self.default_system}, *messages]
        for m in messages:
            out += self.prefix[m["role"]] + m["content"] + self.suffix[m["role"]]
        return out + self.generation


def _split_suffix(text: str, stop: str) -> tuple[str, str] | None:
    """(suffix, rest): the suffix ends after the stop token and the line breaks that follow it."""
    at = text.find(stop)
    if at < 0:
        return None
    end = at + len(stop)
    while end < len(text) and text[end] in "\r\n":
        end += 1
    return text[:end], text[end:]


def chat_parts(tokenizer: Any, stops: list[str], add_bos: bool) -> ChatParts | None:
    """The role prefixes and suffixes of the tokenizer's chat template, or None when it is not of that shape."""
    for stop in stops:
        parts = _chat_parts(tokenizer, stop, add_bos)
        if parts is not None:
            return parts
    return None


def _chat_parts(tokenizer: Any, stop: str, add_bos: bool) -> ChatParts | None:
    if not getattr(tokenizer, "chat_template", None) or not stop:
        return None

    def render(messages: list[dict], generation: bool) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)

    m = _MARK
    conv = [{"role": "system", "content": m["system"]}, {"role": "user", "content": m["user"]},
            {"role": "assistant", "content": m["assistant"]}, {"role": "user", "content": m["user2"]}]
    try:
        full = render(conv, True)
        lone = render([{"role": "user", "content": m["user"]}], False)
    except Exception:  # noqa: BLE001 - a template that refuses a system turn, or raises on anything else
        return None
    pieces = re.split("|".join(m.values()), full)
    if len(pieces) != 5:
        return None
    head, x1, x2, x3, tail = pieces
    parts = [_split_suffix(x, stop) for x in (x1, x2, x3)]
    if any(p is None for p in parts):
        return None
    (s_sys, p_user), (s_user, p_asst), (s_asst, p_user2) = parts
    if p_user2 != p_user or not tail.startswith(s_user):
        return None
    generation = tail[len(s_user):]
    bos = getattr(tokenizer, "bos_token", None) or ""
    # a BOS token written by the template itself (not the start of every user turn, as ChatML's <|im_start|> is)
    lead = bos if bos and head.startswith(bos) and not p_user.startswith(bos) else ""
    p_sys = head[len(lead):]
    default = None
    lone_head = lone.split(m["user"])[0]
    if lone_head != lead + p_user:
        start, end = lead + p_sys, s_sys + p_user
        if not (lone_head.startswith(start) and lone_head.endswith(end)):
            return None
        default = lone_head[len(start):len(lone_head) - len(end)]
    result = ChatParts({"system": p_sys, "user": p_user, "assistant": p_asst},
                       {"system": s_sys, "user": s_user, "assistant": s_asst}, generation, default,
                       "" if add_bos else lead, stop)
    checks = [[{"role": "user", "content": "Hi there"}],
              [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
               {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}]]
    for messages in checks:
        try:
            expected = render(messages, True)
        except Exception:  # noqa: BLE001
            return None
        target = expected[len(lead):] if add_bos and lead and expected.startswith(lead) else expected
        if result.render(messages) != target:
            return None
    return result


def _go(text: str) -> str:
    """``text`` as a Go template string constant, ASCII only: Ollama's Modelfile parser drops every character that
    is not printable (a no-break space, a zero-width joiner, a control character), so those are Go escapes."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif " " <= c <= "~":
            out.append(c)
        elif c in _SHORT:
            out.append(_SHORT[c])
        else:
            out.append(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
    return '{{ "' + "".join(out) + '" }}'


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def go_template(parts: ChatParts, default_system: str | None = None) -> str:
    """Ollama's TEMPLATE for ``parts``: messages when Ollama passes them, else system + prompt. ``default_system``:
    a default system prompt the template itself writes when the conversation has none (one no SYSTEM line can
    carry); it goes in as a Go string constant, escaped like every other."""
    default = "" if default_system is None else _go(parts.prefix["system"] + default_system + parts.suffix["system"])
    first = '{{ if and (eq $i 0) (ne .Role "system") }}' + default + "{{ end }}" if default else ""
    branches = "".join(
        ("{{ if" if i == 0 else "{{ else if") + f' eq .Role "{role}" }}}}' + _go(parts.prefix[role])
        + "{{ .Content }}" + (_go(parts.suffix[role]) if role != "assistant"
                              else "{{ if not $last }}" + _go(parts.suffix[role]) + "{{ end }}")
        for i, role in enumerate(ROLES))
    return (
        (_go(parts.bos) if parts.bos else "")
        + "{{ if .Messages }}{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}"
        + first + branches + "{{ end }}"
        + '{{ if and $last (ne .Role "assistant") }}' + _go(parts.generation) + "{{ end }}{{ end }}"
        + "{{ else }}{{ if .System }}" + _go(parts.prefix["system"]) + "{{ .System }}" + _go(parts.suffix["system"])
        + ("{{ else }}" + default if default else "")
        + "{{ end }}{{ if .Prompt }}" + _go(parts.prefix["user"]) + "{{ .Prompt }}" + _go(parts.suffix["user"])
        + "{{ end }}" + _go(parts.generation) + "{{ .Response }}{{ end }}"
    )


def plain_template() -> str:
    """The studio's training format, for models without a chat template."""
    return _go(prompt_format.QUESTION) + "{{ .Prompt }}" + _go(prompt_format.ANSWER)


def _kept(text: str) -> bool:
    """Whether Ollama's Modelfile parser keeps every character of ``text``: it drops what is not printable, save
    spaces, tabs and line breaks."""
    return all(c.isprintable() or c in " \t\r\n" for c in text)


def fits_from_line(name: str) -> bool:
    """Whether a file name can follow ``FROM ./`` on one line that Ollama reads back unchanged."""
    return _kept(name) and not any(c in name for c in "\r\n")


def value(text: str) -> str | None:
    """``text`` as a Modelfile value that Ollama's parser reads back unchanged, or None when there is none.

    The parser does no unescaping (``"\\n"`` stays a backslash and an n), and a value ends at the first line break
    where what came before, trailing spaces left out, is a whole quoted string. So text in triple quotes may hold
    line breaks and quotes, as long as no line of it ends in three quotes (a line ending in a quote rules out
    single quotes too); one line goes in single quotes, as Ollama writes it."""
    lines = [line.rstrip(" \t") for line in re.split(r"[\r\n]", text)[:-1]]
    if not _kept(text) or any(line.endswith('"""') for line in lines):
        return None
    return f'"{text}"' if not lines and not text.startswith('"') else f'"""{text}"""'


def _line(keyword: str, text: str, what: str) -> str:
    quoted = value(text)
    if quoted is None:
        raise StudioError(f"The model's {what} {text[:40]!r} cannot be written in an Ollama Modelfile (a line of it ends "
                          "in \"\"\", or it holds a character Ollama drops): change it in the model's tokenizer "
                          "files, then export again.")
    return f"{keyword} {quoted}"


SYSTEM_COMMENT = ("# SYSTEM: the default system prompt of the model's own chat template, which the template writes when a "
                  "conversation has none (a run trained through that template trained with it). A system message you "
                  "send replaces it; delete the line to send none.")


def system_summary(default: str | None, chat_template: bool = True) -> str:
    """One line on the system prompt the Ollama model is given when a conversation has none."""
    if not chat_template:
        return ("Ollama system prompt: none (the model has no chat template: it is asked in the studio's "
                "\"Question: ... Answer:\" format, as it trained).")
    if default is None:
        return "Ollama system prompt: none (the model's chat template has no default one)."
    return (f"Ollama system prompt, when a conversation has none: the model's own default, {default!r}, as its chat "
            "template writes it (a run trained through that template trained with it); a system message replaces it.")


def modelfile(gguf_name: str, tokenizer: Any, stops: list[str], add_bos: bool) -> str:
    """The Modelfile text for a GGUF file named ``gguf_name`` in the same folder; ``stops``: the stop tokens.
    FROM is written bare, as Ollama writes it (its parser reads to the end of the line, spaces included)."""
    lines = ["# Made by SLM Studio. Create the model with: ollama create NAME -f "
             + shlex.quote(Path(gguf_name).stem + ".Modelfile"), f"FROM ./{gguf_name}"]
    stops = list(stops)
    if getattr(tokenizer, "chat_template", None):
        parts = chat_parts(tokenizer, stops, add_bos)
        if parts is None:
            lines.insert(1, "# The chat template is not a plain per-role wrapper: no TEMPLATE line, so Ollama uses "
                            "the chat template stored in the GGUF file.")
        else:
            default = parts.default_system
            system = None if default is None else value(default)
            if default is not None and system is None:  # a character Ollama drops, or a line ending in """
                lines.insert(1, "# The default system prompt cannot be a SYSTEM line (Ollama would change it): the "
                                "TEMPLATE writes it when a conversation has no system prompt.")
            lines.append(f'TEMPLATE """{go_template(parts, default if system is None else None)}"""')
            if system is not None:
                lines.append(SYSTEM_COMMENT)
                lines.append(f"SYSTEM {system}")
    else:
        lines.append(f'TEMPLATE """{plain_template()}"""')
        stops += list(prompt_format.STOP_STRINGS)
    lines += [_line("PARAMETER stop", s, "stop token") for s in dict.fromkeys(stops)]
    return "\n".join(lines) + "\n"


def model_name(stem: str) -> str:
    """An Ollama model name from a file stem ("SmolLM2 FAQ.Q8_0" -> "smollm2-faq-q8_0")."""
    return re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-") or "studio-model"


def create_command(modelfile_path: Path, gguf_stem: str) -> str:
    """The command to paste into a shell: the Modelfile's path quoted when it has spaces ("My Models/faq.gguf")."""
    return f"ollama create {model_name(gguf_stem)} -f {shlex.quote(str(modelfile_path))}"
