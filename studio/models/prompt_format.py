"""The training format: how a Q&A record is shown to a model without a chat template.

Training and inference use the same text, so the model learns where an answer starts and, through
the EOS token after it, where it ends::

    Question: How long is a match?
    Answer: Two halves of 45 minutes.<eos>

A record with a passage (its ``context``) shows the passage first, in both formats::

    Context: A match lasts two equal periods of 45 minutes.
    Question: How long is a match?
    Answer: Two halves of 45 minutes.<eos>
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CONTEXT = "Context: "
QUESTION = "Question: "
ANSWER = "\nAnswer:"
STOP_STRINGS = ("\nQuestion:", "\nContext:")

DEFAULT_SYSTEM = "You are a helpful assistant. Answer clearly and concisely."
"""The system prompt a chat-template model is asked with by default, in Chat and Evaluate alike (without one, a
template may add its own: SmolLM2's names itself and rambles), so both pages show the same model."""
"""Where a model that never learned to stop (a raw base model) starts a new turn: cut there."""


def context_of(record: dict) -> str | None:
    """A record's passage, or None when it has none (no field, not text, or only spaces)."""
    value = record.get("context")
    return value.strip() if isinstance(value, str) and value.strip() else None


def user_content(question: str, context: str | None = None) -> str:
    """What the user says to a chat model: the question, after its passage when it has one.

    The one place a passage meets a question: chat templates, exported ``messages`` and API prompts
    all use it, so a model is asked the way it was trained.
    """
    if context and context.strip():
        return f"{CONTEXT}{context.strip()}\n\n{QUESTION}{question.strip()}"
    return question.strip()


def prompt(question: str, context: str | None = None) -> str:
    """The text a model without a chat template continues to answer ``question`` (about ``context``)."""
    head = f"{CONTEXT}{context.strip()}\n" if context and context.strip() else ""
    return f"{head}{QUESTION}{question.strip()}{ANSWER}"


def completion(answer: str) -> str:
    """The text the model is trained to produce after the prompt (the EOS token follows it)."""
    return " " + answer.strip()


def prompt_from_messages(messages: Sequence[dict[str, str]]) -> str:
    """A chat history as a training-format prompt: the last user message is the question.

    Models trained on single Q&A records know no system prompt or history, so both are left out.
    """
    for msg in reversed(messages):
        if msg.get("role") == "user":
            return prompt(*split_user_content(msg.get("content", "")))
    return prompt("")


def split_user_content(content: str) -> tuple[str, str | None]:
    """(question, passage) back from ``user_content``; a plain message is a question without one."""
    sep = f"\n\n{QUESTION}"
    if content.startswith(CONTEXT) and sep in content:
        context, question = content[len(CONTEXT):].rsplit(sep, 1)
        return question, context
    return content, None


def cut_at_stop(text: str, stops: Sequence[str] = STOP_STRINGS) -> str:
    """The answer up to the first stop string, stripped."""
    for stop in stops:
        pos = text.find(stop)
        if pos != -1:
            text = text[:pos]
    return text.strip()


def template_default_system(tokenizer: Any) -> str | None:
    """The system prompt ``tokenizer``'s chat template writes into a conversation that has none (SmolLM2's "You are a
    helpful AI assistant named SmolLM, ..."), or None: it writes none, or its layout is not a system turn then a user
    turn. A run trained with no system prompt of its own trained with this one, and is asked with it."""
    system, user = "SYSMARK7q", "USRMARK7q"
    try:
        lone = tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False)
        both = tokenizer.apply_chat_template([{"role": "system", "content": system}, {"role": "user", "content": user}],
                                             tokenize=False)
    except Exception:  # noqa: BLE001 - jinja2 TemplateError: a template that forbids the system role, or any other
        return None
    if system not in both or user not in lone:
        return None
    before, _, after = both.partition(system)  # the system turn's prefix; its suffix and the user turn's prefix
    between, head = after.split(user)[0], lone.split(user)[0]
    if len(head) > len(before) + len(between) and head.startswith(before) and head.endswith(between):
        return head[len(before):len(head) - len(between)]
    return None
