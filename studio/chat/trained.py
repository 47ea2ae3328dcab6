"""How a training run's model was prompted while it trained, so Chat can ask it the same way by default.

Training (``studio.train.recipe``) and evaluation (``studio.models.generate``) put the question in a
single user turn with no system prompt: through the base's chat template (whose own default system
prompt, such as SmolLM2's, then applies) or, without one, the "Question: ... Answer:" format. A chat
with another system prompt is a prompt the run never saw, and answers differently from evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.errors import StudioError

AS_TRAINED = "As trained (no system prompt)"


@dataclass(frozen=True)
class TrainedPrompt:
    run_name: str
    system: str  # the system prompt it trained with ("": none of its own)
    description: str  # one line for the page


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
        how = (f"{base}'s chat template, the question as the only user turn and no system prompt of its own (the "
               "template's default, if it has one, applies)")
    elif run.format == recipe.FORMAT_QA:
        how = "the \"Question: ... Answer:\" format (its base has no chat template), with no system prompt"
    else:
        return None
    return TrainedPrompt(run.name, "", f"Trained with {how}: evaluation asks it the same way.")
