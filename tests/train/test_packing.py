"""Padding-free batches (CUDA's) train on exactly what padded batches do: the same loss, labels -100 in
the same places, no attention across records. Runs on CPU with tiny models; the CUDA copy of the loss
check runs where CUDA is (bf16, the GPU's attention kernels)."""

from __future__ import annotations

import functools

import pytest

from studio.train import recipe
from tests.conftest import build_tiny_causal_lm

RECORDS = [
    {"question": "How long is a match?", "answer": "Two halves of 45 minutes."},
    {"question": "How many players are on a team?", "answer": "Eleven, one of them the goalkeeper."},
    {"question": "What is a corner kick?", "answer": "A restart when the defenders last touched the ball."},
    {"question": "Who enforces the Laws of the Game?", "answer": "The referee."},
]
CHAT = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def _model(tmp_path, arch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny_causal_lm(tmp_path / arch, arch=arch, chat_template=CHAT if arch == "phi3" else None)
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="sdpa").eval()
    return model, AutoTokenizer.from_pretrained(path)


def _losses(model, tok, device="cpu", dtype=None):
    import torch

    enc = recipe.features(recipe.encode_records(tok, RECORDS, range(len(RECORDS)), 128))
    padded = recipe.Collator(tok.pad_token_id)(enc)
    packed = recipe.PackedCollator()(enc)
    model = model.to(device, dtype=dtype) if dtype else model.to(device)
    with torch.no_grad():  # use_cache=False as in training: a key/value cache turns packing detection off
        a = model(**{k: v.to(device) for k, v in padded.items()}, use_cache=False)
        b = model(**{k: v.to(device) for k, v in packed.items()}, use_cache=False)
    start = 0
    for row, f in enumerate(enc):  # every record's logits, not just the mean loss, match
        n = len(f["input_ids"])
        torch.testing.assert_close(b.logits[0, start:start + n].float(), a.logits[row, :n].float(),
                                   rtol=1e-3 if dtype is None else 5e-2, atol=1e-3 if dtype is None else 5e-2)
        start += n
    return float(a.loss), float(b.loss)


@pytest.mark.parametrize("arch", ["gpt2", "phi3"])
def test_packed_batch_has_the_padded_batchs_loss(tmp_path, arch):
    model, tok = _model(tmp_path, arch)
    padded, packed = _losses(model, tok)
    assert padded == pytest.approx(packed, rel=1e-5)


def test_packed_batch_is_one_row_with_positions_restarting_and_answer_only_labels(tmp_path):
    _, tok = _model(tmp_path, "gpt2")
    enc = recipe.encode_records(tok, RECORDS, range(len(RECORDS)), 128)
    batch = recipe.PackedCollator()(recipe.features(enc))
    ids, labels, pos = (batch[k][0].tolist() for k in ("input_ids", "labels", "position_ids"))
    assert "attention_mask" not in batch
    assert ids == [t for e in enc for t in e.input_ids]  # no padding token anywhere
    start = 0
    for e in enc:
        n = len(e.input_ids)
        assert pos[start:start + n] == list(range(n))
        # -100 on exactly the prompt (which covers each record's first position); the answer and its EOS carry loss
        assert labels[start:start + n] == [recipe.IGNORE] * e.prompt_len + e.input_ids[e.prompt_len:]
        assert labels[start + n - 1] == tok.eos_token_id
        start += n
    assert start == len(ids)


def test_a_record_cannot_see_the_record_before_it_in_a_packed_row(tmp_path):
    """Changing record 1 must not change record 2's logits (block-diagonal attention)."""
    import torch

    model, tok = _model(tmp_path, "gpt2")
    enc = recipe.features(recipe.encode_records(tok, RECORDS, [0, 1], 128))
    other = recipe.features(recipe.encode_records(tok, RECORDS, [2, 1], 128))
    n1, m1 = len(enc[0]["input_ids"]), len(other[0]["input_ids"])
    with torch.no_grad():
        a = model(**recipe.PackedCollator()(enc), use_cache=False).logits[0, n1:]
        b = model(**recipe.PackedCollator()(other), use_cache=False).logits[0, m1:]
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.cuda
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("arch", ["gpt2", "phi3"])
def test_packed_batch_has_the_padded_batchs_loss_on_cuda_in_bf16(tmp_path, arch):
    import torch

    model, tok = _model(tmp_path, arch)
    padded, packed = _losses(model, tok, "cuda", torch.bfloat16)
    assert padded == pytest.approx(packed, rel=2e-2)


def _padded_then_packed(cfg, records, tmp_path, monkeypatch) -> dict[bool, list[dict]]:
    """The studio's loop run twice on the same settings, padded (CPU's policy) then with packing forced
    on (CUDA's): each run's metrics rows, by whether it packed."""
    from studio.train import loop as train
    from studio.train import runs

    metrics = {}
    for packed in (False, True):
        monkeypatch.setattr(train, "packs", lambda device, packed=packed: packed)
        out = tmp_path / f"run-{packed}"
        assert train.run_job(cfg, records, out, dataset={"name": "tiny"}).state == "finished"
        metrics[packed] = runs.read_metrics(out)
    return metrics


@pytest.mark.parametrize("arch", ["gpt2", "phi3"])
def test_a_packed_run_trains_like_a_padded_one_and_counts_every_real_token_once(tmp_path, arch, monkeypatch, offline):
    """The studio's loop with packing forced on (CUDA's policy) against padded (CPU's): the same batches,
    the same loss at every step, and tokens/s counted on the real tokens."""
    import json

    from transformers import AutoTokenizer

    from studio.train import config as train_config

    base = build_tiny_causal_lm(tmp_path / arch, arch=arch, chat_template=CHAT if arch == "phi3" else None)
    conf = json.loads((base / "config.json").read_text())
    conf.update({k: 0.0 for k in ("resid_pdrop", "embd_pdrop", "attn_pdrop") if k in conf})  # dropout draws
    (base / "config.json").write_text(json.dumps(conf))  # differ with the batch's shape: compare without it
    cfg = train_config.TrainConfig(base=str(base), learning_rate=1e-3, batch_size=2, epochs=2, test_fraction=0.0,
                                   logging_steps=1, eval_per_epoch=False)
    losses = {}
    tok = AutoTokenizer.from_pretrained(base)
    real = sum(len(e.input_ids) for e in recipe.encode_records(tok, RECORDS, range(len(RECORDS)), cfg.max_length))
    for packed, metrics in _padded_then_packed(cfg, RECORDS, tmp_path, monkeypatch).items():
        rows = [r for r in metrics if "loss" in r]
        losses[packed] = [r["loss"] for r in rows]
        assert rows[-1]["tokens_seen"] == 2 * real  # two epochs of every real token, no padding counted
    assert len(losses[True]) == len(losses[False]) == 4
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)


def test_packing_is_checked_per_model_and_refused_where_records_would_see_each_other(tmp_path):
    """A model that ignores ``position_ids`` or drops the keyword arguments that say where records start
    (as an architecture without them would; built here by dropping them, since every architecture installed
    here passes them on) trains padded, with its own attention left in place."""
    from transformers import GPT2LMHeadModel

    from studio.train import packing

    model, _ = _model(tmp_path, "gpt2")
    before = model.config._attn_implementation
    assert packing.prepare(model) == before and model.training is False
    assert model.config._attn_implementation == packing.NAME
    packing.restore(model, before)

    class IgnoresPositions(GPT2LMHeadModel):
        def forward(self, *args, position_ids=None, **kwargs):
            return super().forward(*args, **kwargs)

    class DropsRecordStarts(GPT2LMHeadModel):
        def forward(self, *args, cu_seq_lens_q=None, cu_seq_lens_k=None, **kwargs):
            return super().forward(*args, **kwargs)

    for cls in (IgnoresPositions, DropsRecordStarts):
        blind = cls(model.config)
        blind.load_state_dict(model.state_dict())
        blind.train()
        assert packing.prepare(blind) is None, cls.__name__
        assert blind.training  # the check leaves the model's mode as it found it
        assert blind.config._attn_implementation == before


def _varlen_losses(model, tok, device="cpu", dtype=None):
    """The padded batch's logits against the packed row through ``packing.attention`` (no mask from transformers)."""
    import torch

    from studio.train import packing

    enc = recipe.features(recipe.encode_records(tok, RECORDS, range(len(RECORDS)), 128))
    padded = recipe.Collator(tok.pad_token_id)(enc)
    packed = packing.VarlenCollator()(enc)
    model = model.to(device, dtype=dtype) if dtype else model.to(device)
    with torch.no_grad():
        a = model(**{k: v.to(device) for k, v in padded.items()}, use_cache=False)
        before = packing.use(model)
        try:
            b = model(**{k: v.to(device) if hasattr(v, "to") else v for k, v in packed.items()}, use_cache=False)
        finally:
            packing.restore(model, before)
    assert model.config._attn_implementation == before
    tol = {} if dtype is None else {"rtol": 5e-2, "atol": 5e-2}
    start = 0
    for row, f in enumerate(enc):
        n = len(f["input_ids"])
        torch.testing.assert_close(b.logits[0, start:start + n].float(), a.logits[row, :n].float(), **tol)
        start += n
    return float(a.loss), float(b.loss)


@pytest.mark.parametrize("arch", ["gpt2", "phi3", "llama"])
def test_varlen_packed_row_gives_each_record_its_padded_logits(tmp_path, arch):
    """The studio's own attention for packed rows (no T x T mask from transformers, no host sync): every
    record's logits as in the padded batch, on GPT-2, Phi-3 and Llama with grouped key/value heads."""
    model, tok = _model(tmp_path, arch)
    padded, packed = _varlen_losses(model, tok)
    assert packed == pytest.approx(padded, rel=1e-5)


def test_varlen_collator_marks_where_each_record_starts(tmp_path):
    from studio.train import packing

    _, tok = _model(tmp_path, "gpt2")
    enc = recipe.features(recipe.encode_records(tok, RECORDS, range(len(RECORDS)), 128))
    batch = packing.VarlenCollator()(enc)
    lengths = [len(f["input_ids"]) for f in enc]
    assert batch["cu_seq_lens_q"].tolist() == [sum(lengths[:i]) for i in range(len(lengths) + 1)]
    assert batch["max_length_q"] == max(lengths)
    assert batch["input_ids"].shape == (1, sum(lengths))
    mask = packing.block_causal_mask(batch["cu_seq_lens_q"], sum(lengths), "cpu")[0, 0]
    assert int(mask.sum()) == sum(n * (n + 1) // 2 for n in lengths)  # causal within records, nothing across


def test_a_model_trained_with_varlen_attention_saves_its_own_attention(tmp_path):
    """The registered name is the training forward's only: the saved config loads anywhere."""
    import json

    from studio.train import packing

    model, _ = _model(tmp_path, "gpt2")
    before = packing.use(model)
    assert model.config._attn_implementation == packing.NAME
    packing.restore(model, before)
    model.save_pretrained(tmp_path / "saved")
    assert packing.NAME not in (tmp_path / "saved" / "config.json").read_text()
    assert json.loads((tmp_path / "saved" / "config.json").read_text())["model_type"] == "gpt2"


@pytest.mark.cuda
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("arch", ["gpt2", "phi3", "llama"])
def test_varlen_packed_row_matches_padded_on_cuda_in_bf16(tmp_path, arch):
    """On CUDA the packed row goes through torch's variable-length flash kernel where this torch has it."""
    import torch

    model, tok = _model(tmp_path, arch)
    padded, packed = _varlen_losses(model, tok, "cuda", torch.bfloat16)
    assert packed == pytest.approx(padded, rel=2e-2)


def _reference_varlen(query, key, value, cu_q, cu_k, max_q, max_k, *, scale=None, window_size=(-1, -1),
                      enable_gqa=False, **_):
    """torch's ``varlen_attn`` contract ((T, H, D) in and out, causal by ``window_size=(-1, 0)``), one SDPA call
    per record: a CPU stand-in for the CUDA kernel, so the code around the kernel runs here."""
    import torch
    import torch.nn.functional as F

    assert window_size == (-1, 0) and query.dtype in (torch.float16, torch.bfloat16)
    assert cu_q.dtype == torch.int32 and max_q == max(int(b - a) for a, b in zip(cu_q[:-1], cu_q[1:]))
    outs = []
    for a, b in zip(cu_q.tolist()[:-1], cu_q.tolist()[1:]):
        q, k, v = (t[a:b].transpose(0, 1)[None] for t in (query, key, value))
        outs.append(F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, enable_gqa=enable_gqa)[0]
                    .transpose(0, 1))
    return torch.cat(outs)


def _first_release_varlen(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, is_causal=False, return_aux=None):
    """The kernel's first signature (``is_causal``; no ``scale``, no grouped heads)."""
    assert is_causal and key.shape[1] == query.shape[1]
    return _reference_varlen(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, window_size=(-1, 0))


@pytest.mark.parametrize("signature", [_reference_varlen, _first_release_varlen], ids=["now", "first-release"])
@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_the_varlen_kernel_branch_hands_the_kernel_what_it_expects(tmp_path, arch, signature, monkeypatch):
    """The branch that calls torch's varlen kernel on CUDA, run here against a stand-in with the kernel's
    contract (either signature torch has had): shapes, int32 offsets, causal attention, grouped key/value
    heads (expanded for a kernel without them), the output's layout."""
    import torch

    from studio.train import packing

    calls = []

    @functools.wraps(signature)  # the studio reads the kernel's signature
    def kernel(*args, **kwargs):
        calls.append(1)
        return signature(*args, **kwargs)

    monkeypatch.setattr(packing, "_varlen_kernel", lambda device: kernel)
    model, tok = _model(tmp_path, arch)
    padded, packed = _varlen_losses(model, tok, "cpu", torch.bfloat16)
    assert calls and packed == pytest.approx(padded, rel=2e-2)


def test_a_packed_run_evaluates_like_a_padded_one(tmp_path, monkeypatch, offline):
    """Held-out records go through the packed collator too: the same eval loss after each epoch (Llama,
    grouped key/value heads, under the studio's attention)."""
    from studio.train import config as train_config

    base = build_tiny_causal_lm(tmp_path / "llama", arch="llama")
    records = [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball{' and the goal' * (i % 3)}."}
               for i in range(12)]
    cfg = train_config.TrainConfig(base=str(base), learning_rate=1e-3, batch_size=4, epochs=2, test_fraction=0.25,
                                   logging_steps=1, eval_per_epoch=True)
    curves = {packed: [(r.get("loss"), r.get("eval_loss")) for r in metrics]
              for packed, metrics in _padded_then_packed(cfg, records, tmp_path, monkeypatch).items()}
    evals = {k: [e for _, e in v if e is not None] for k, v in curves.items()}
    assert len(evals[True]) == len(evals[False]) == 2
    assert evals[True] == pytest.approx(evals[False], rel=1e-5)
    assert [t for t, _ in curves[True] if t] == pytest.approx([t for t, _ in curves[False] if t], rel=1e-5)


def test_the_packing_check_runs_under_trainings_autocast_so_a_failing_kernel_means_padded_batches(tmp_path,
                                                                                                 monkeypatch):
    """Full training on CUDA keeps float32 weights and runs under bf16 autocast, where packed rows reach torch's
    varlen kernel; the check before training must take that path too (here: CPU autocast and a stand-in kernel), so
    a kernel that fails on this GPU sends the run to padded batches instead of crashing it at its first step."""
    import torch

    from studio.train import packing

    calls = []

    @functools.wraps(_reference_varlen)  # the kernel's signature, which the studio reads
    def failing(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("FlashAttention only supports Ampere GPUs or newer.")

    monkeypatch.setattr(packing, "_varlen_kernel", lambda device: failing)
    model, _ = _model(tmp_path, "llama")
    before = model.config._attn_implementation
    assert packing.prepare(model, autocast=torch.bfloat16) is None and calls  # the kernel ran, failed: pad
    assert model.config._attn_implementation == before

    monkeypatch.setattr(packing, "_varlen_kernel", lambda device: _reference_varlen)  # a kernel that works
    assert packing.prepare(model, autocast=torch.bfloat16) == before
    packing.restore(model, before)


def test_a_kernel_that_fails_only_backward_means_padded_batches_and_the_check_leaves_no_gradient(tmp_path,
                                                                                                 monkeypatch):
    """A varlen kernel that runs forward but fails in its backward pass (an unsupported GPU or head size for the
    backward kernel) passed the forward-only check, and crashed the run at its first step. The check now runs the
    backward too, with no parameter's gradient computed or kept and the weights as they were."""
    import torch

    from studio.train import packing

    class FailsBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, out):
            return out.clone()

        @staticmethod
        def backward(ctx, grad):
            raise RuntimeError("FlashAttention backward for head dim > 192 requires A100/A800 or H100/H800")

    @functools.wraps(_reference_varlen)  # the kernel's signature, which the studio reads
    def forward_only(*args, **kwargs):
        return FailsBackward.apply(_reference_varlen(*args, **kwargs))

    model, _ = _model(tmp_path, "llama")
    model.train()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    before = model.config._attn_implementation
    monkeypatch.setattr(packing, "_varlen_kernel", lambda device: forward_only)
    assert packing.prepare(model, autocast=torch.bfloat16) is None  # forward passes, backward fails: pad
    assert model.config._attn_implementation == before and model.training

    monkeypatch.setattr(packing, "_varlen_kernel", lambda device: _reference_varlen)  # forward and backward work
    assert packing.prepare(model, autocast=torch.bfloat16) == before
    packing.restore(model, before)
    assert all(p.grad is None for p in model.parameters())  # nothing for the optimizer's first step to pick up
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())


def test_each_process_checks_packing_on_its_own_gpu(monkeypatch):
    """Under accelerate launch (LOCAL_RANK set per process) the model goes to the process's own GPU for the
    packing check, as QLoRA's 4-bit base does, not every process's onto the first."""
    from studio.train import base

    monkeypatch.setenv("LOCAL_RANK", "1")
    assert base.process_device("cuda") == "cuda:1" and base.process_gpu() == 1
    assert base.process_device("cpu") == "cpu"
    monkeypatch.delenv("LOCAL_RANK")
    assert base.process_device("cuda") == "cuda:0"
