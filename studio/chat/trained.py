"""How a training run's model was prompted while it trained, so Chat can ask it the same way by default.

Training (``studio.train.recipe``) and evaluation (``studio.models.generate``) put the question in a
single user turn with no system prompt: through the base's chat template (whose own default system
prompt, such as SmolLM2's, then applies) or, without one, the "Question: ... Answer:" format. A chat
with another system prompt is a prompt the run never saw, and answers differently from evaluation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.errors import StudioError

AS_TRAINED = "As trained (no system prompt)"
"""The preset's key, kept in the saved settings as it always was; the page shows ``TrainedPrompt.label``."""
WITH_TEMPLATE_DEFAULT = "As trained (its chat template's default system prompt)"


@dataclass(frozen=True)
class TrainedPrompt:
    run_name: str
    system: str  # the system prompt it trained with ("": none of its own)
    description: str  # one line for the page
    label: str = AS_TRAINED  # the preset's name as shown: true of what the model gets


class _FolderTemplate:
    """A model folder's chat template rendered as transformers renders it (a sandboxed Jinja environment), without
    loading its tokenizer: the page reads it at each pick of a run."""

    def __init__(self, template: str):
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def refuse(message: str) -> None:
            raise ValueError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
        env.globals["raise_exception"] = refuse
        self._template = env.from_string(template)

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool = False, **_: Any) -> str:
        return self._template.render(messages=messages, add_generation_prompt=False, bos_token="", eos_token="")


def _template_default(folder: Path) -> str | None:
    """The system prompt the chat template in ``folder`` writes into a conversation without one (SmolLM2's), or None:
    it writes none, or there is no template that can be read."""
    from studio.models.prompt_format import template_default_system

    try:
        path = folder / "chat_template.jinja"
        if path.is_file():
            template = path.read_text(encoding="utf-8")
        else:
            template = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("chat_template")
        if not isinstance(template, str):
            return None
        return template_default_system(_FolderTemplate(template))
    except Exception:  # noqa: BLE001 -- an unreadable file, or a template Jinja refuses: said as before
        return None


def trained_prompt(spec: str) -> TrainedPrompt | None:
    """The prompt format of the run behind ``spec`` (``run:<id>``); None for any other model or an unreadable run."""
    from studio.models.spec import parse_spec
    from studio.train import recipe, runs

    try:
        parsed = parse_spec(spec)
        if parsed.kind != "run":
            return None
        run = runs.load_run(parsed.name)
    except StudioError:  # no spec at all, or a run that is gone
        return None
    base = run.base or "its base"
    if run.format == recipe.FORMAT_CHAT:
        from studio.models import loading

        try:
            default = _template_default(Path(loading.resolve(spec).source))
        except StudioError:  # no model saved yet: what the run's record says
            default = None
        if default:  # SmolLM2's: "no system prompt" was not true of what the model gets
            how = (f"{base}'s chat template, the question as the only user turn and no system prompt of its own, so "
                   f"the template writes its default: “{default}”")
            return TrainedPrompt(run.name, "", f"Trained with {how}. Evaluation asks it the same way.",
                                 WITH_TEMPLATE_DEFAULT)
        how = (f"{base}'s chat template, the question as the only user turn and no system prompt of its own (the "
               "template's default, if it has one, applies)")
    elif run.format == recipe.FORMAT_QA:
        how = "the \"Question: ... Answer:\" format (its base has no chat template), with no system prompt"
    else:
        return None
    return TrainedPrompt(run.name, "", f"Trained with {how}: evaluation asks it the same way.")
