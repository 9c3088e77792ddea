"""The ``mari`` method: loss wiring, the one-pass Z construction on a real model, stop-gradient, chunking, LoRA +
bf16, the multi-process (all-reduced) estimator, and unlearning on the built-in world."""

from __future__ import annotations

import math

import pytest
import torch

from obliviate import losses
from obliviate.config import ConfigError, from_dict
from obliviate.data.collate import collate, tokenize_rows
from obliviate.methods import METHODS
from obliviate.methods.base import RetainTerm
from obliviate.methods.mari import Mari, MariConfig
from obliviate.reference import Reference


def _examples(tokenizer, rows):
    return tokenize_rows(rows, tokenizer, max_length=64)[0]


@pytest.fixture
def tiny_setup(tiny_gpt2, tiny_rows):
    model, tok = tiny_gpt2
    model.eval()  # dropout off, as the loop runs methods with disable_dropout
    forget = collate(_examples(tok, tiny_rows["forget"][:3]), tok.pad_token_id)
    retain = collate(_examples(tok, tiny_rows["retain"][:5]), tok.pad_token_id)
    return model, tok, forget, retain


def test_registered_and_config_validated():
    assert METHODS.get("mari") is Mari
    cfg = from_dict(MariConfig, {"construction": "unlearn_vs_retain", "retain": {"kind": "nll"}}, "method.args")
    assert not Mari(cfg).needs_reference and Mari(MariConfig()).needs_reference
    with pytest.raises(ConfigError, match="construction"):
        from_dict(MariConfig, {"construction": "forget_vs_all"}, "method.args")
    with pytest.raises(ConfigError, match="retain"):
        from_dict(MariConfig, {"retain": "nll"}, "method.args")


def test_loss_terms_logs_and_backward(tiny_setup):
    model, _, forget, retain = tiny_setup
    ref = Reference.copy_of(model)
    out = Mari(MariConfig(gamma=7.0)).loss(model, forget, retain, ref)
    logs = out.logs
    assert logs["retain_kl"] == pytest.approx(0.0, abs=1e-6)  # model == reference at the start
    assert logs["mari"] == logs["mari_full_vs_retain"] > 0
    assert logs["mari_unlearn_vs_retain"] > logs["mari_full_vs_retain"]  # equal priors: larger scale
    assert logs["mari_n_forget"] == (forget.labels[:, 1:] != -100).sum().item()
    assert out.loss.item() == pytest.approx(7.0 * logs["mari"] + logs["retain_kl"], rel=1e-5)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    nll_cfg = MariConfig(construction="unlearn_vs_retain", retain=RetainTerm("nll"))
    trained = Mari(nll_cfg).loss(model, forget, retain, None)
    assert trained.logs["mari"] == pytest.approx(logs["mari_unlearn_vs_retain"], rel=1e-5)
    assert "retain_nll" in trained.logs


def test_one_pass_equals_concatenated_retain_forget_retain_batch(tiny_setup, tiny_rows):
    """The authors' estimator on a real model: one padded batch [retain, forget, retain] with Z = [0, 0, 1]."""
    model, tok, forget, retain = tiny_setup
    ex_r, ex_u = _examples(tok, tiny_rows["retain"][:5]), _examples(tok, tiny_rows["forget"][:3])
    big = collate(ex_r + ex_u + ex_r, tok.pad_token_id)
    with torch.no_grad():
        probs = torch.softmax(model(**big.model_inputs()).logits.double(), -1)  # (2R + U, T, V)
        mine = Mari(MariConfig()).loss(model, forget, retain, Reference.copy_of(model)).logs["mari"]
    mask = losses.next_token_positions(labels=big.labels)  # (2R + U, T)
    z = torch.tensor([0.0] * (len(ex_r) + len(ex_u)) + [1.0] * len(ex_r), dtype=torch.float64)[:, None]
    p = probs[mask]  # (N, V)
    zpos = z.expand_as(mask)[mask]  # (N,)
    joint = torch.stack([(p * (1 - zpos)[:, None]).sum(0), (p * zpos[:, None]).sum(0)], 1) / len(p)  # (V, 2)
    explicit = torch.special.xlogy(joint, joint / (joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True))).sum()
    assert mine == pytest.approx(explicit.item(), rel=1e-4, abs=1e-8)


def _logits_grad_of_retain(model, forget, retain, cfg) -> torch.Tensor:
    captured = []

    def hook(_module, _inputs, output):
        output.retain_grad()
        captured.append(output)

    handle = model.lm_head.register_forward_hook(hook)
    try:
        Mari(cfg).loss(model, forget, retain, None).loss.backward()
    finally:
        handle.remove()
    return captured[0].grad  # the first forward is the retain batch


def test_stopgrad_retain_blocks_the_mari_gradient_through_retain(tiny_setup):
    model, _, forget, retain = tiny_setup
    only_mi = {"retain": RetainTerm("nll", 0.0), "gamma": 1.0}
    assert _logits_grad_of_retain(model, forget, retain, MariConfig(**only_mi)).abs().sum() > 0
    frozen = _logits_grad_of_retain(model, forget, retain, MariConfig(stopgrad_retain=True, **only_mi))
    assert frozen is None or frozen.abs().sum() == 0


def test_chunk_size_does_not_change_loss_or_gradients(tiny_setup):
    model, _, forget, retain = tiny_setup
    results = []
    for chunk in (0, 1, 7):
        model.zero_grad()
        out = Mari(MariConfig(retain=RetainTerm("nll"), chunk_size=chunk)).loss(model, forget, retain, None)
        out.loss.backward()
        results.append((out.loss.detach(), [p.grad.clone() for p in model.parameters()]))
    for loss, grads in results[1:]:
        torch.testing.assert_close(loss, results[0][0])
        for g, g0 in zip(grads, results[0][1]):
            torch.testing.assert_close(g, g0, rtol=1e-4, atol=1e-7)


def test_lora_with_bf16_autocast(tiny_setup):
    from peft import LoraConfig, get_peft_model

    model, _, forget, retain = tiny_setup
    with torch.no_grad():
        fp32 = Mari(MariConfig()).loss(model, forget, retain, Reference.copy_of(model)).logs
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True))
    ref = Reference(peft_model, via_disabled_adapter=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = Mari(MariConfig()).loss(peft_model, forget, retain, ref)
    out.loss.backward()
    assert out.loss.dtype == torch.float32 and math.isfinite(out.loss.item())
    assert out.logs["mari"] == pytest.approx(fp32["mari"], rel=0.1)  # bf16 logits, fp32 MI math
    changed = {n for n, p in peft_model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert changed and all("lora_" in n for n in changed)


def test_a_few_steps_lower_the_trained_mi(tiny_setup):
    model, _, forget, retain = tiny_setup
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):  # fit forget + retain first, so the forget outputs carry marginal information
        loss = losses.masked_mean_nll(model(**forget.model_inputs()).logits, forget.labels)
        loss = loss + losses.masked_mean_nll(model(**retain.model_inputs()).logits, retain.labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    method = Mari(MariConfig(construction="unlearn_vs_retain", gamma=1.0, retain=RetainTerm("nll", 0.1)))
    values = []
    for _ in range(10):
        out = method.loss(model, forget, retain, None)
        values.append(out.logs["mari"])
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert values[0] > 0.05 and values[-1] < 0.5 * values[0]


def _dp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        model, forget, retain = _dp_setup()
        sl = slice(rank * 2, rank * 2 + 2)  # each process gets half of every global batch
        for sync in (True, False):
            model.zero_grad()
            out = Mari(MariConfig(retain=RetainTerm("nll", 0.0), sync_processes=sync)).loss(
                model, _rows(forget, sl), _rows(retain, sl), None
            )
            out.loss.backward()
            grads = torch.cat([p.grad.flatten() for p in model.parameters()])
            dist.all_reduce(grads)  # DDP: average gradients over processes
            torch.save({"mari": out.logs["mari"], "grad": grads / world}, f"{out_dir}/r{rank}_{sync}.pt")
    finally:
        dist.destroy_process_group()


def _dp_setup():
    from transformers import GPT2Config, GPT2LMHeadModel

    from obliviate.types import Batch

    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=40, n_positions=16, bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(cfg).double().eval()  # fp64: summation order across processes does not matter
    g = torch.Generator().manual_seed(1)

    def batch(lengths):
        ids = torch.randint(2, 40, (len(lengths), 8), generator=g)
        attn = (torch.arange(8)[None] < torch.tensor(lengths)[:, None]).long()
        return Batch(ids, attn, ids.masked_fill(attn == 0, -100))

    return model, batch([8, 5, 8, 3]), batch([6, 8, 4, 8])


def _rows(b, sl):
    from obliviate.types import Batch

    return Batch(b.input_ids[sl], b.attention_mask[sl], b.labels[sl])


def test_data_parallel_sync_gives_the_global_batch_mi_and_gradient(tmp_path):
    """Two gloo processes, each with half the batch: with sync, every process's MI and the averaged gradient equal
    the single-process full-batch ones; without sync they do not (each rank's MI is a local estimate)."""
    import torch.multiprocessing as mp

    model, forget, retain = _dp_setup()
    out = Mari(MariConfig(retain=RetainTerm("nll", 0.0))).loss(model, forget, retain, None)
    out.loss.backward()
    full_grad = torch.cat([p.grad.flatten() for p in model.parameters()])
    # fork: the workers inherit the imported modules (spawn would re-import torch, transformers and pytest)
    mp.start_processes(_dp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, start_method="fork")
    synced = [torch.load(tmp_path / f"r{r}_True.pt") for r in range(2)]
    local = [torch.load(tmp_path / f"r{r}_False.pt") for r in range(2)]
    for res in synced:
        assert res["mari"] == pytest.approx(out.logs["mari"], rel=1e-5)
        torch.testing.assert_close(res["grad"], full_grad, rtol=1e-4, atol=1e-8)
    assert all(abs(res["mari"] - out.logs["mari"]) > 1e-4 * out.logs["mari"] for res in local)
    assert not torch.allclose(local[0]["grad"], full_grad, rtol=1e-2, atol=1e-6)


def test_mari_on_the_world_moves_forget_toward_gold_and_lowers_the_certificate_mi(world_models, tmp_path):
    """The built-in world (tiny, correlated, forget10 of a 60-person world): forget QA accuracy moves most of the
    way to the gold model's, retain QA accuracy stays >= 95 % of the original's, and the certificate's pooled MI of
    the unlearned model is below the original's."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from obliviate.api import unlearn
    from obliviate.config import DataConfig, MethodSpec, ModelConfig, RunConfig, TrainConfig
    from obliviate.eval.certificate import certify
    from obliviate.world import load_split_rows, qa_accuracy

    data = world_models["data"]
    rows = {s: load_split_rows(f"{data}/{s}") for s in ("forget10", "retain_eval")}
    cfg = RunConfig(
        model=ModelConfig(path=str(world_models["full"])),
        data=DataConfig(forget=[f"world:{data}/forget10"], retain=f"world:{data}/retain90", max_length=64),
        method=MethodSpec(name="mari", args={"gamma": 20.0}),
        train=TrainConfig(lr=1e-3, batch_size=16, retain_batch_size=64, max_steps=25, log_every=5),
        output_dir=str(tmp_path / "mari"),
    )
    result = unlearn(cfg, progress=False)
    models = {"unlearned": (result.model.eval(), result.tokenizer)}
    for name in ("full", "gold"):
        path = world_models[name]
        models[name] = (AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path))
    acc = {n: {s: qa_accuracy(m, t, r).accuracy for s, r in rows.items()} for n, (m, t) in models.items()}
    gap_before = acc["full"]["forget10"] - acc["gold"]["forget10"]
    gap_after = acc["unlearned"]["forget10"] - acc["gold"]["forget10"]
    assert gap_before > 0.5 and abs(gap_after) < 0.25 * gap_before, acc
    assert acc["unlearned"]["retain_eval"] >= 0.95 * acc["full"]["retain_eval"], acc
    mi = {
        n: certify(m, t, rows["forget10"], rows["retain_eval"], max_length=64, n_boot=0, n_perm=0, progress=False)
        for n, (m, t) in models.items()
        if n != "gold"
    }
    for k in losses.MARI_CONSTRUCTIONS:
        assert (
            mi["unlearned"]["models"]["model"]["mari"][k]["value"] < mi["full"]["models"]["model"]["mari"][k]["value"]
        )
