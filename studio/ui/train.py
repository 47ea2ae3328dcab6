"""The Train page's settings: dataset, base and method, the run's settings, preview, memory check, start.

The run itself, once started, is ``studio.ui.train_live`` (the live view, asking the model, push and merge).
"""

from __future__ import annotations

import html
import sys
from typing import Any

import streamlit as st

from studio import settings as field_settings  # the page already has a settings() of its own
from studio import ui
from studio.data import store
from studio.data.display import plural
from studio.data.ref import DatasetRef, load_dataset
from studio.errors import StudioError
from studio.models import prompt_format
from studio.train import job, liger, lora, memory, recipe, runs, scratch
from studio.train.config import (
    PRESET_NOTES,
    PRESETS,
    TrainConfig,
    default_preset,
    field_help,
    held_out_advice,
    presets_for,
    recommend,
)
from studio.ui import numbers

BASES = ("scratch", "distilgpt2", "a model from the library", "an earlier run", "another model (Hub id or folder)")


# --- settings ------------------------------------------------------------------------------------------


def pick_dataset() -> tuple[list[dict], DatasetRef] | None:
    """Dataset and version selectors; returns (records, provenance) or None when there is none."""
    datasets = store.list_datasets()
    if not datasets:
        st.info("No datasets yet: create or import one on the Dataset page.")
        return None
    ids = [d.id for d in datasets]
    # This page's own choice, kept while other pages are open (their widgets' state is dropped);
    # the Dataset page's selection only on the first visit.
    picked = st.session_state.get("train.dataset_id")  # this page's pick when it was last drawn
    # deleted since (another tab or session): the box falls back to another dataset, which Start must not train on
    st.session_state["train.pick_gone"] = "the dataset you picked" if picked and picked not in ids else None
    selected = picked or st.session_state.get("dataset.selected")
    index = ids.index(selected) if selected in ids else 0
    c1, c2 = st.columns([3, 1])
    info = c1.selectbox("Dataset", datasets, index=index, format_func=lambda d: d.name, key="train.dataset")
    st.session_state["train.dataset_id"] = info.id
    versions = [v.version for v in reversed(info.versions)]
    if not versions:  # none saved, or each one's file damaged outside the studio (said as such)
        for line in store.damaged(info.id) or ["This dataset has no saved version yet: save it on the Dataset page."]:
            st.warning(ui.md(line))
        return None
    version = ui.kept_choice(c2.selectbox, "Version", versions, f"train.version.{info.id}",  # a deleted one: the latest
                             format_func=lambda v: f"v{v}" + (" (latest)" if v == versions[0] else ""))
    from studio.ui import dataset as dataset_ui

    unsaved = dataset_ui.unsaved_summary(info.id)
    if unsaved:  # edited on the Dataset page and not saved: a run trains on a saved version only
        st.warning(f"{ui.md(info.name)} has unsaved changes on the Dataset page ({unsaved}): a run trains on the saved "
                   f"v{version}. Save them there first to train on them.", icon=":material/edit:")
    return ui.run_or_error(load_dataset, info.id, version)


def cannot_train(records: list[dict]) -> str | None:
    """Why these records cannot be trained on (empty, or fewer than two usable records), else None."""
    try:
        recipe.usable_indices(records)
    except StudioError as exc:
        return str(exc)
    return None



def pick_base() -> str | None:
    """Scratch, the tutorial's distilgpt2, a library model (the bundled SmolLM2 offline), a run, or any id."""
    from studio.models import bundled, loading
    from studio.ui import models as models_ui

    default_spec, why = loading.offline_default("distilgpt2")  # the tutorial's model wherever it can be loaded
    offline_bundled = default_spec == bundled.SPEC
    default = 2 if offline_bundled else (0 if why else 1)
    # As chosen before a visit to another page (the computed default only on the first visit)
    choice = ui.kept_choice(st.radio, "Base model", BASES, "train.base_choice", default, horizontal=True,
                            help="scratch trains a small GPT-2 from zero; the others fine-tune a pretrained model.")
    if choice == "scratch":
        return "scratch"
    if choice == "distilgpt2":
        return "distilgpt2"  # offline, the memory check below says it cannot be loaded and Start stays off
    if choice == "a model from the library":
        kept = st.session_state.get("train.base_model.kept")  # as picked before a visit to another page, if still there
        spec = models_ui.model_picker("train.base_model", "Model", kept if models_ui.still_there(kept) else default_spec,
                                      include_runs=False)
        st.session_state["train.base_model.kept"] = spec
        if spec != default_spec:
            st.session_state["train.base_model.chosen"] = True
        # Why the bundled model stands in for distilgpt2; not once a model was picked on purpose (the Models page's
        # "Train on it" on the bundled model read as if it had been swapped in).
        if offline_bundled and spec == bundled.SPEC and not st.session_state.get("train.base_model.chosen"):
            st.caption(why)
        return spec
    if choice == "an earlier run":
        done = [r for r in runs.list_runs() if r.has_model or r.checkpoints()]
        # a run whose model lost its weights (a LoRA run's adapter_model.safetensors deleted) failed at Start's load
        lost = [r for r in done if not _loads(r)]
        done = [r for r in done if r not in lost]
        if lost:
            st.caption(f"Not offered (no weights saved: train it again, or delete it on its Runs tab): "
                       f"{', '.join(ui.md(r.name) for r in lost)}.")
        if not done:
            st.info("No run has a usable model yet: the runs above lost their weights." if lost
                    else "No run has a saved model yet.")
            return None
        repeated = {r.id for r, label in zip(done, runs.distinct_labels(done)) if label == r.id}  # names alike
        kept = st.session_state.get("train.base_run.kept")
        if kept is not None and kept not in {r.id for r in done} and not runs.run_dir(kept).is_dir():
            st.session_state["train.pick_gone"] = st.session_state.get("train.pick_gone") or "the run you picked to continue"
        run = ui.kept_choice(st.selectbox, "Continue training", done, "train.base_run", ident=lambda r: r.id,
                             format_func=lambda r: f"{r.name} ({r.status.state}"
                             + (f", {r.id})" if r.id in repeated else ")"))  # a deleted one: the first
        return run.model_spec
    spec = ui.kept(st.text_input, "Hub id, local folder or .gguf file", "train.base_other", "", max_chars=ui.SHORT_TEXT_CHARS,
                   placeholder="e.g. gpt2 or /models/my-model")
    return spec.strip() or None


def _loads(run: runs.RunRecord) -> bool:
    """Whether a run's model has its weights where it loads from (``studio.models.library.has_weights``)."""
    from studio.models import library, run_folders

    folder = run_folders.model_dir(run.dir)
    return folder is not None and library.has_weights(folder)


def base_loads(base: str) -> bool:
    """Whether ``base`` can be read here; when not, its reason is shown once, in one line (the preset, the
    preview and the memory check below each said it again: three identical errors)."""
    return base == "scratch" or base_shape(base) is not None


def base_shape(base: str, scratch_size: str = "small", vocab_size: int = 2000,
               positions: int = 0) -> memory.ModelShape | None:
    """The base's shape (``memory.shape_for_base``: the estimate, the recommended preset), read once per change of the
    base or its files (``memory.base_stamp``), not on every rerun by each of its three readers; None with the reason
    shown when it cannot be read (not kept: a folder fixed meanwhile is read again)."""
    positions = positions if base == "scratch" else 0  # a pretrained base has its own: one read whatever Max length
    stamp = memory.base_stamp(base)
    if stamp is None:
        return ui.run_or_error(memory.shape_for_base, base, scratch_size=scratch_size, vocab_size=vocab_size,
                               positions=positions)
    return ui.run_or_error(_shape, base, scratch_size, vocab_size, positions, stamp)


@st.cache_resource(show_spinner=False, max_entries=32)
def _shape(base: str, scratch_size: str, vocab_size: int, positions: int, stamp: tuple) -> memory.ModelShape:
    return memory.shape_for_base(base, scratch_size=scratch_size, vocab_size=vocab_size, positions=positions)


METHOD_NOTES = {
    "full": "full fine-tuning: every weight learns (the largest run folder)",
    "lora": "LoRA: small adapters on a frozen base; a few % of the parameters, a run folder of megabytes",
    "qlora": "QLoRA: LoRA on a 4-bit base, for big models on a small GPU (CUDA only)",
}


LORA_FIELDS = lora.LORA_FIELDS


def continued_adapters(base: str) -> dict[str, Any] | None:
    """``lora.continued``: an earlier LoRA run's or a Hub adapter's method and settings, continued as they are."""
    return lora.continued(base)


def pick_method(base: str) -> str | None:
    """Full, LoRA or QLoRA for a pretrained base; None (with the reason) for QLoRA without CUDA. An earlier
    LoRA run starts on its own method (continuing it trains its adapters), unless the person chose another."""
    if base == "scratch":
        return "full"
    options = list(METHOD_NOTES)
    adapters = continued_adapters(base)
    suggested = lora.default_method(adapters)
    ui.follow("train.method", suggested)  # Full for a LoRA run offered a full run of its merged base by default
    # kept_choice: with a run open, a visit to another page gave Full again (the widget's own state was dropped)
    method = ui.kept_choice(st.radio, "Method", options, "train.method", options.index(suggested), horizontal=True,
                            format_func=lambda m: {"full": "Full", "lora": "LoRA", "qlora": "QLoRA"}[m],
                            help=field_help("method"))
    if adapters and method == "full":
        st.caption(f"full fine-tuning: {adapters['of']} are merged into its base and every weight learns "
                   "(a full model's run folder, not the adapters' megabytes)")
    elif adapters:
        st.caption(f"{METHOD_NOTES[method].split(':')[0]}: continues {adapters['of']} as they are (rank "
                   f"{adapters['lora_r']}, alpha {adapters['lora_alpha']}, on {adapters['lora_targets']}); "
                   "the base stays frozen")
    else:
        st.caption(METHOD_NOTES[method])
    if method == "qlora" and not lora.qlora_here():
        st.error("QLoRA needs a CUDA GPU (bitsandbytes 4-bit), and this machine has none: choose LoRA, which trains "
                 "the same adapters on the unquantized base.", icon=":material/error:")
        return None
    return method


LR_STEP = 1e-5  # the Learning rate box's - and +: Streamlit's default step (0.01) made 3e-5 into 0.01003 in one click


WHOLE = ("batch_size", "batch_tokens", "max_length", "grad_accum", "logging_steps", "lora_r", "lora_alpha", "seed",
         "vocab_size", "max_steps")  # the settings that take a whole number: 2.5 typed is refused, 4.0 trains as 4


def _number(box: Any, name: str, value: int | float, key: str, wrong: list[str], *, lo: float | None = None,
            label: str | None = None, **kwargs: Any) -> int | float:
    """A number box for a TrainConfig field under the one rule of ``studio.ui.numbers``: its label, help and range come
    from the field (``studio.settings``; ``lo`` and ``label`` where the page offers less, or says more); a value out of
    range, or a fraction where ``WHOLE`` wants a whole number, is returned as typed and its one line added to ``wrong``,
    in the order the boxes are drawn."""
    ui.follow(key, value)  # the preset's value for another dataset, unless the person changed this one
    field_lo, hi = field_settings.bounds(TrainConfig, name)
    kwargs.setdefault("step", 1 if isinstance(value, int) and not isinstance(value, bool) else 0.01)
    typed, why = numbers.number_box(box, label or field_settings.label(TrainConfig, name), key, value,
                                    lo=field_lo if lo is None else lo, hi=hi, whole=name in WHOLE,
                                    help=field_help(name), **kwargs)
    if why:
        wrong.append(why)
    return typed


def _choice(box: Any, name: str, value: str, key: str, **kwargs: Any) -> str:
    options = list(field_settings.choices(TrainConfig, name) or ())
    ui.follow(key, value)
    value = st.session_state.get(f"{key}.kept", value)  # as set before a visit to another page (ui.kept)
    chosen = box.selectbox(field_settings.label(TrainConfig, name), options, index=options.index(value), key=key,
                           help=field_help(name), **kwargs)
    st.session_state[f"{key}.kept"] = chosen
    return chosen


def settings(base: str, n_records: int = 0, method: str = "full") -> TrainConfig | None:
    """Preset plus the advanced settings, each with a one-line explanation."""
    names = presets_for(base)
    default = default_preset(base)
    head = st.container()  # the preset and the recommended one's reasoning: Advanced keeps its place whichever is picked
    name = ui.kept_choice(head.selectbox, "Preset", names, f"train.preset.{base == 'scratch'}", names.index(default),
                          format_func=lambda n: f"{n}: {PRESET_NOTES[n]}")
    why = None
    adapters = continued_adapters(base) if method != "full" else None
    if name == "recommended":
        shape = base_shape(base)
        # an adapter continued: its own rank and targets train, not the preset's rank 16 on every linear layer
        trains = (f"{adapters['of']} continued, rank {adapters['lora_r']} on {adapters['lora_targets']}"
                  if adapters else "")
        p, why = recommend(n_records, base=base, method=method, parameters=shape.params if shape else None,
                           change_it="in Advanced", trains=trains)
        reason = head.empty()  # filled once Advanced is read: what was changed there is said with it
    else:
        p = PRESETS[name].replace(method=method) if base != "scratch" else PRESETS[name]
    if adapters:  # its adapters train as they were made: their rank, alpha, dropout and targets are the run's
        p = p.replace(**{k: adapters[k] for k in LORA_FIELDS})
    name = f"{name}.{method}"  # widget keys: a method's own defaults
    with st.expander("Advanced settings"):
        # two columns, not three: in thirds of an 800 px window each box kept 44 px for its number beside its clear and
        # step buttons, and Learning rate 0.0002 read "0.00"
        c1, c2 = st.columns(2)
        ui.follow(f"train.gc.{name}", p.gradient_checkpointing)
        wrong: list[str] = []  # each box's refusal, in the order drawn (``_number``)
        warmup_wrong: list[str] = []  # a warm-up out of its range, by the unit chosen (share or steps): said after them
        values = dict(
            learning_rate=_number(c1, "learning_rate", p.learning_rate, f"train.lr.{name}", wrong, format="%g",
                                  step=LR_STEP),
            batch_size=_number(c2, "batch_size", p.batch_size, f"train.bs.{name}", wrong),
            epochs=_number(c2, "epochs", int(p.epochs), f"train.ep.{name}", wrong) if float(p.epochs).is_integer()
            else _number(c2, "epochs", float(p.epochs), f"train.ep.{name}", wrong),
            max_steps=_max_steps(c1, p.max_steps, name, wrong),  # beside Epochs (the second row), which it overrides
            weight_decay=_number(c1, "weight_decay", p.weight_decay, f"train.wd.{name}", wrong),
            test_fraction=_number(c2, "test_fraction", p.test_fraction, f"train.tf.{name}", wrong),
            max_length=_number(c1, "max_length", p.max_length, f"train.ml.{name}", wrong),
            warmup_steps=_warmup(c1, p.warmup_steps, name, warmup_wrong),
            lr_scheduler=_choice(c2, "lr_scheduler", p.lr_scheduler, f"train.sch.{name}"),
            grad_accum=_number(c2, "grad_accum", p.grad_accum, f"train.ga.{name}", wrong),
            logging_steps=_number(c1, "logging_steps", p.logging_steps, f"train.log.{name}", wrong),
            seed=_number(c2, "seed", p.seed, f"train.seed.{name}", wrong),
            gradient_checkpointing=ui.kept(c1.checkbox, "Gradient checkpointing", f"train.gc.{name}",
                                           p.gradient_checkpointing, help=field_help("gradient_checkpointing")),
            question_dropout=_number(c1, "question_dropout", p.question_dropout, f"train.qd.{name}", wrong, step=0.05),
            batch_tokens=_number(c2, "batch_tokens", p.batch_tokens, f"train.bt.{name}", wrong, step=512),
            liger=_liger(c2, p.liger, name),
        )
        if adapters:
            values.update({k: getattr(p, k) for k in LORA_FIELDS})
            st.caption(f"LoRA rank {p.lora_r}, alpha {p.lora_alpha}, dropout {p.lora_dropout:g}, on {p.lora_targets}: "
                       f"{adapters['of']}, continued as they are (choose Full to train every weight).")
        elif method != "full":
            l1, l2 = st.columns(2)  # two a row: in quarters of an 800 px window a box had no room for its number
            l3, l4 = st.columns(2)
            ui.follow(f"train.lr_t.{name}", p.lora_targets)
            values["lora_r"] = _number(l1, "lora_r", p.lora_r, f"train.lr_r.{name}", wrong)
            values["lora_alpha"] = _number(l2, "lora_alpha", p.lora_alpha, f"train.lr_a.{name}", wrong)
            values["lora_dropout"] = _number(l3, "lora_dropout", p.lora_dropout, f"train.lr_d.{name}", wrong)
            values["lora_targets"] = ui.kept(l4.text_input, "Target modules", f"train.lr_t.{name}", p.lora_targets, max_chars=ui.SHORT_TEXT_CHARS,
                                             help=field_help("lora_targets"))
        if base == "scratch":
            values["scratch_size"] = _choice(c1, "scratch_size", p.scratch_size, f"train.size.{name}",
                                             format_func=lambda s: f"{s}: {scratch.SIZES[s].note}")
            values["vocab_size"] = _number(c2, "vocab_size", p.vocab_size, f"train.vocab.{name}", wrong)
        gpus_wrong = gpu_settings()
    wrong += warmup_wrong + ([gpus_wrong] if gpus_wrong else [])
    if why is not None:  # the preset's reasoning named 12 epochs while Advanced said 3: say what differs. Said while a
        # value is out of range too: the line gone then moved Advanced, and the box being typed in, up under the pointer
        changed = [f"{field_settings.label(TrainConfig, k)} {_shown(k, getattr(p, k))} → {_shown(k, v)}"
                   for k, v in values.items() if v != getattr(p, k)]
        reason.info(why + (f" Changed in Advanced: {', '.join(changed)}." if changed else ""), icon=":material/tune:")
    if wrong:  # Start is refused until they are in range: what it trains with is what the screen shows
        for line in wrong:
            st.error(line, icon=":material/error:")
        return None
    return ui.run_or_error(p.replace, base=base, method=method, **values)


def held_out_note(cfg: TrainConfig, n_records: int) -> None:
    """Say, before Start, that the run holds nothing out (Evaluate would find every question leaked) and what to set."""
    advice = held_out_advice(cfg, n_records)
    if advice:
        st.info(advice, icon=":material/quiz:")


def _liger(col: Any, value: bool, name: str) -> bool:
    """Liger Kernel's checkbox: off and disabled, with the reason under it, where it cannot run (no CUDA GPU,
    or liger-kernel not installed)."""
    from studio.models import loading

    why = liger.off_reason(loading.pick_device())
    ui.follow(f"train.liger.{name}", value and not why)
    on = col.checkbox(field_settings.label(TrainConfig, "liger"), value and not why, key=f"train.liger.{name}",
                      disabled=bool(why), help=field_help("liger"))
    if why:
        col.caption(why)
    return on and not why


def _max_steps(col: Any, value: int, name: str, wrong: list[str]) -> int:
    """Max steps, 0 for none (the run goes by Epochs): the field's own "none", -1, is no number a person types, so the
    box shows 0 for it and gives it back unchanged (no "Changed in Advanced: Max steps -1 → 0")."""
    typed = _number(col, "max_steps", max(0, value), f"train.ms.{name}", wrong, lo=0, label="Max steps (0 = off)")
    return typed if typed or value > 0 else value


def _shown(name: str, value: Any) -> str:
    """A setting's value as its box shows it: Max steps' none (-1) as 0."""
    return numbers.shown(max(0, value) if name == "max_steps" else value)


WARMUP_UNITS = {"share": "a share of all steps", "steps": "a number of steps"}


def _warmup(col: Any, value: float, name: str, wrong: list[str]) -> float:
    """The warm-up, named for what its value is: a share of all steps (the config's value below 1) or steps."""
    ui.follow(f"train.wu_unit.{name}", "share" if 0 < value < 1 else "steps")  # the preset's, unless changed
    ui.follow(f"train.wu.{name}.share", value if value < 1 else 0.05)
    ui.follow(f"train.wu.{name}.steps", int(value) if value >= 1 else 0)
    unit = col.radio("Warm-up as", list(WARMUP_UNITS), index=0 if 0 < value < 1 else 1, horizontal=True,
                     key=f"train.wu_unit.{name}", format_func=WARMUP_UNITS.get)
    if unit == "share":  # a free-typed box (``studio.ui.numbers``): a value outside is refused in one line
        share, why = numbers.number_box(
            col, "Warm-up share", f"train.wu.{name}.share", value if value < 1 else 0.05, lo=0.0, hi=0.99,
            help="The share of all training steps over which the learning rate rises from 0 to its full value (0.05: "
                 "the first 5% of the steps).")
    else:
        most = int(field_settings.bounds(TrainConfig, "warmup_steps")[1])  # the config's own bound
        share, why = numbers.number_box(
            col, "Warm-up steps", f"train.wu.{name}.steps", int(value) if value >= 1 else 0, lo=0, hi=most,
            whole=True, help="How many steps at the start the learning rate takes to rise from 0 to its full value "
                             "(0: none). A whole number; choose the share for a fraction of the run.")
    if why:
        wrong.append(why)
    return share


@st.cache_resource(show_spinner=False, max_entries=4)
def _scratch_tokenizer(texts: tuple[str, ...], vocab: int) -> Any:
    return scratch.train_tokenizer(list(texts), vocab)


@st.cache_resource(show_spinner=False, max_entries=4)
def _tokenizer(spec: str) -> Any:
    from studio.models import loading
    from studio.train.config import offline_remedy

    with offline_remedy():
        return loading.load_tokenizer(spec)


PREVIEW_LOADS = "train.preview_loads"  # set by the first run: the runs after it load the base's tokenizer
LOADING = "The preview is loading the base's tokenizer: a moment."  # Start waits for what the preview finds


@st.fragment(run_every=0.5)
def _load_after_paint() -> None:
    """The page again once its first run is on screen: that run left the tokenizer unloaded (loading it imports
    transformers, seconds on a fresh start), this one loads it. Not drawn then, so the ticks stop."""
    if not st.session_state.get(f"{PREVIEW_LOADS}.ticks"):  # drawn in the first run itself: that run goes on to its end
        st.session_state[f"{PREVIEW_LOADS}.ticks"] = True
        return
    st.rerun(scope="app")


def preview(cfg: TrainConfig, records: list[dict], of: object = None) -> tuple[list[int] | None, str | None]:
    """The records exactly as the model will see them, token counts, truncation and the loss-carrying tokens.
    Returns the training records' token lengths (for the memory estimate; None when the tokenizer cannot load) and
    why Start is refused (no training record, or no held-out one, keeps any of its answer within Max length; or
    ``LOADING`` in the page's first run, which draws without the tokenizer: ``_load_after_paint``), else None.
    ``of`` names the records (a dataset and its version): another one shows its first record again."""
    _first_record_for(of)
    keep = ui.run_or_error(recipe.usable_indices, records)
    if keep is None:
        return None, None
    split = recipe.split_indices(keep, cfg.test_fraction, cfg.seed)
    if cfg.base == "scratch":
        texts = tuple(scratch.corpus(records[i] for i in split["train"]))
        tok = _scratch_tokenizer(texts, cfg.vocab_size)
    elif not st.session_state.get(PREVIEW_LOADS) and "transformers" not in sys.modules:
        # the first paint, where loading the tokenizer would import transformers first (seconds on a fresh start):
        # the settings drawn, the tokenizer loaded after. Once it is imported, a tokenizer loads in this run.
        st.session_state[PREVIEW_LOADS] = True
        st.caption(f"{plural(len(split['train']), 'record')} to train on, {len(split['test']):,} held out. "
                   "Loading the base's tokenizer…")
        _load_after_paint()
        return None, LOADING
    else:
        tok = ui.run_or_error(_tokenizer, cfg.base)
        if tok is None:
            return None, None
    limit = _record_limit(cfg)  # the run's cut (``loop.check_answers_fit``): Max length, or the base's positions
    rows = recipe.preview_rows(tok, records, keep, limit)
    train_rows = set(split["train"])
    lengths = [r["tokens"] for r in rows if r["record"] - 1 in train_rows]
    refused = recipe.nothing_kept([r["loss tokens"] for r in rows if r["record"] - 1 in train_rows],
                                  [r["loss tokens"] for r in rows if r["record"] - 1 not in train_rows], limit,
                                  cfg.max_length)
    answerless = sum(not r["loss tokens"] for r in rows)
    n_trunc = sum(r["truncated"] for r in rows)
    skipped = len(records) - len(keep)
    st.caption(f"{plural(len(split['train']), 'record')} to train on, {len(split['test']):,} held out"
               + (f", {skipped:,} skipped (empty question or answer)" if skipped else "")
               + f". Format: {recipe.format_name(tok)}. {recipe.longest_line(rows, limit)}")
    if n_trunc:
        fix = "raise Max length or shorten them" if limit == cfg.max_length else \
            f"shorten them (the base takes {limit:,} positions, whatever Max length)"
        st.warning(f"{n_trunc} record(s) are longer than {limit:,} tokens and will be truncated "
                   f"(they lose the end of their answer and their EOS): {fix}."
                   + (f" {recipe.answerless_line(answerless, limit)}" if answerless else ""))
    st.dataframe(rows, hide_index=True, width="stretch", height=220)
    # a free-typed box (``studio.ui.numbers``): 0 or 1e999 left the browser's bounded box red, the last record shown
    typed, why = numbers.number_box(st, "Show record", "train.preview_record", keep[0] + 1, lo=1, hi=len(records),
                                    whole=True, help="Numbered from 1, as on the Dataset page: its tokens, with the "
                                                     "ones that carry loss highlighted.")
    if why:
        st.error(why, icon=":material/error:")
    pick = -1 if why else int(typed) - 1
    if pick in keep:
        enc = recipe.encode_record(tok, records[pick]["question"], records[pick]["answer"], limit,
                                   prompt_format.context_of(records[pick]))
        st.markdown(highlight(recipe.token_rows(tok, enc)), unsafe_allow_html=True)
        st.caption("Highlighted tokens carry loss (the answer and its end-of-text); the prompt does not.")
    return lengths, refused


def _record_limit(cfg: TrainConfig) -> int:
    """Tokens a record keeps in the run (``memory.record_limit``): Max length, or the base's positions where they end
    sooner. A base whose shape cannot be read counts as Max length (the memory estimate says why)."""
    if cfg.base == "scratch":  # built with Max length's positions
        return cfg.max_length
    stamp = memory.base_stamp(cfg.base)
    try:
        shape = memory.shape_for_base(cfg.base) if stamp is None else _shape(cfg.base, cfg.scratch_size,
                                                                               cfg.vocab_size, 0, stamp)
    except (StudioError, OSError, ValueError):
        return cfg.max_length
    return memory.record_limit(cfg.max_length, shape.context)


def _first_record_for(of: object) -> None:
    """Show record back to the first record when the dataset (or its version) changes: a 40 kept from a larger one
    was refused in the smaller one ("out of range: use 1 to 10") rather than showing its first record."""
    state = st.session_state
    if state.get("train.preview_record.of", of) != of:
        numbers.forget("train.preview_record")
    state["train.preview_record.of"] = of


def highlight(rows: list[dict]) -> str:
    """Tokens as HTML spans, loss-carrying ones highlighted; all text escaped."""
    spans = []
    for r in rows:
        text = html.escape(r["token"]).replace("\n", "↵<br>")
        style = "background:#ffd86b;color:#000" if r["loss"] else "background:#eee;color:#555"
        spans.append(f'<span style="{style};padding:1px 2px;margin:1px;border-radius:3px;'
                     f'font-family:monospace;white-space:pre-wrap" title="id {r["id"]}">{text}</span>')
    return f'<div data-testid="train-tokens" style="line-height:1.9">{"".join(spans)}</div>'


def memory_check(cfg: TrainConfig, lengths: list[int] | None = None, loading: bool = False) -> bool:
    """The memory estimate for ``cfg`` on records of these token ``lengths`` (the largest batch they make;
    unknown: batch x max length); False (the reason shown) when the base cannot be loaded. ``loading``: the preview's
    tokenizer is still loading (the page's first paint), so the lengths are not known yet: said so, and LoRA's line on
    full fine-tuning (``memory.lora_over_full``) waits for them. On the bundled SmolLM2 the first paint's 8 x 512
    tokens read 13.36 GiB for a full fine-tune and 11.75 GiB for LoRA (15.86 with LoRA dropout 0.05), where the sample's
    own longest batch (8 x 86) needs 4.54 and 3.40 GiB."""
    shape = base_shape(cfg.base, cfg.scratch_size, cfg.vocab_size, cfg.max_length)
    if shape is None:
        return False
    from studio.models import loading as model_loading  # not ``loading``: that name is the argument

    device = model_loading.pick_device()
    run = memory.for_run(cfg, lengths, shape=shape, device=device)  # the one estimate: bench/ measures this one
    rows, seq, est = run.rows, run.seq, run.estimate
    if cfg.liger and not run.liger and not liger.problem(device):  # it can run here, but not on this model
        st.info(liger.unsupported_note(shape.model_type), icon=":material/info:")
    dev = memory.device_memory()
    ok, line = memory.verdict(est, dev, cfg.batch_size, seq, cfg.batch_tokens)
    # The same count and words as the run's log (peft's: the adapters counted in the total).
    adapters = shape.lora_params(cfg.lora_r, cfg.lora_targets) if cfg.method != "full" else 0
    share = (f" · {cfg.method.upper() if cfg.method == 'qlora' else 'LoRA'}: "
             f"{memory.trainable_line(adapters, shape.params + adapters)}"
             if cfg.method != "full" else f" · {shape.params:,} parameters, all trainable")
    from_data = (", the data's longest" if lengths else
                 ", Max length until the base's tokenizer has loaded to count the data's" if loading else "")
    budget = f", filled to {cfg.batch_tokens:,} tokens per step" if cfg.batch_tokens else ""
    parts = memory.breakdown(est, f"batch {rows} × {seq} tokens{from_data}{budget}") + share
    (st.success if ok else st.warning)(line, icon=":material/memory:")
    st.caption(parts)
    if not loading and (why := memory.lora_over_full(cfg, lengths, shape=shape, device=device)):  # said why
        st.caption(f":material/info: {why}")
    return True


def gpu_settings() -> str | None:
    """GPUs and sharding, shown only where this machine has more than one GPU (``studio.train.launch``); returns why
    the GPUs typed cannot be used (a number box of ``studio.ui.numbers``: 9 of 4 GPUs is refused, not replaced)."""
    from studio.train import launch

    n = launch.gpu_count()
    if n < 2:
        return None
    g1, g2 = st.columns(2)
    gpus, why = numbers.number_box(g1, "GPUs", "train.gpus", n, lo=1, hi=n, whole=True,
                                   help="One training process per GPU; each takes the batch size in records a step.")
    # one GPU holds the whole model: sharding is not offered (start() passes "none"), rather than kept and ignored
    g2.selectbox("Sharding", list(launch.SHARDING), key="train.sharding", format_func=launch.SHARDING.get,
                 disabled=gpus < 2, help="How the GPUs split the model's memory (through accelerate)."
                 + (" Needs 2 or more GPUs." if gpus < 2 else ""))
    return why


def start(cfg: TrainConfig, meta: DatasetRef, name: str) -> str | None:
    """Start the training job (``studio.train.job``); returns the run id, or None with the reason shown."""
    gone = st.session_state.get("train.pick_gone")
    if gone:  # the boxes fell back to another choice as this click redrew them: not what was asked for
        ui.show_error(f"Not started: {gone} is no longer there (deleted in another tab or session). The form now "
                      "shows another: check it and press Start again.")
        return None
    gpus = int(numbers.last_good("train.gpus", 1))  # Start is off while the count typed is refused
    return ui.run_or_error(job.start_training, cfg, meta, name, gpus=gpus,
                  sharding=st.session_state.get("train.sharding", "none") if gpus > 1 else "none")
