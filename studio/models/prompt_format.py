"""The training format: how a Q&A record is shown to a model without a chat template.

Training and inference use the same text, so the model learns where an answer starts and, through
the EOS token after it, where it ends::

    Question: How long is a match?
    Answer: Two halves of 45 minutes.<eos>
"""

from __future__ import annotations

from collections.abc import Sequence

QUESTION = "Question: "
ANSWER = "\nAnswer:"
STOP_STRINGS = ("\nQuestion:",)
"""Where a model that never learned to stop (a raw base model) starts a new turn: cut there."""


def prompt(question: str) -> str:
    """The text a model continues to answer ``question``."""
    return f"{QUESTION}{question.strip()}{ANSWER}"


def completion(answer: str) -> str:
    """The text the model is trained to produce after the prompt (the EOS token follows it)."""
    return " " + answer.strip()


def prompt_from_messages(messages: Sequence[dict[str, str]]) -> str:
    """A chat history as a training-format prompt: the last user message is the question.

    Models trained on single Q&A records know no system prompt or history, so both are left out.
    """
    for msg in reversed(messages):
        if msg.get("role") == "user":
            return prompt(msg.get("content", ""))
    return prompt("")


def cut_at_stop(text: str, stops: Sequence[str] = STOP_STRINGS) -> str:
    """The answer up to the first stop string, stripped."""
    for stop in stops:
        pos = text.find(stop)
        if pos != -1:
            text = text[:pos]
    return text.strip()
