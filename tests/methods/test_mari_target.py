"""``mari`` with ``target=holdout`` (ours, not the paper's): γ·relu(I(forget; retain) − I(holdout; retain)) with the
holdout MI computed without gradient, and the checks that refuse it without holdout data."""

from __future__ import annotations

import pytest
import torch

from obliviate import losses
from obliviate.api import check_config
from obliviate.config import ConfigError, from_dict, load_config
from obliviate.data.collate import collate, tokenize_rows
from obliviate.errors import ObliviateError
from obliviate.methods.base import RetainTerm
from obliviate.methods.mari import Mari, MariConfig


def _batch(tok, rows):
    return collate(tokenize_rows(rows, tok, max_length=64)[0], tok.pad_token_id)


@pytest.fixture
def batches(tiny_gpt2, tiny_rows):
    model, tok = tiny_gpt2
    model.eval()  # dropout off, as the loop runs mari
    forget, retain = _batch(tok, tiny_rows["forget"][:3]), _batch(tok, tiny_rows["retain"][:5])
    return model, forget, retain, _batch(tok, tiny_rows["holdout"][:3])


def _pooled(model, batch):
    """(V,) fp64 sum of next-token softmax over labelled positions, and their count (independent of losses)."""
    with torch.no_grad():
        probs = torch.softmax(model(**batch.model_inputs()).logits.double(), -1)  # (B, T, V)
    mask = batch.labels[:, 1:] != -100  # position t predicts token t + 1
    return probs[:, :-1][mask].sum(0), int(mask.sum())


def _mi(sum_r, n_r, sum_u, n_u):
    """full_vs_retain MI by the definition: Z=0 the retain ∪ other positions, Z=1 the retain positions again."""
    joint = torch.stack([sum_r + sum_u, sum_r], 1) / (2 * n_r + n_u)  # (V, 2) p(v, z)
    return torch.special.xlogy(joint, joint / (joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True))).sum().item()


def test_config_and_flag():
    assert not Mari(MariConfig()).needs_holdout and Mari(MariConfig(target="holdout")).needs_holdout
    with pytest.raises(ConfigError, match="target"):
        from_dict(MariConfig, {"target": "gold"}, "method.args")


def test_loss_is_gamma_relu_of_the_excess_plus_retain(batches):
    model, forget, retain, holdout = batches
    pooled = {k: _pooled(model, b) for k, b in (("r", retain), ("u", forget), ("h", holdout))}
    i = {k: _mi(*pooled["r"], *pooled[k]) for k in ("u", "h")}
    # the pooled MIs differ on this model; take the order of forget/holdout whose excess is positive
    forget, holdout, i_u, i_h = (
        (forget, holdout, i["u"], i["h"]) if i["u"] > i["h"] else (holdout, forget, i["h"], i["u"])
    )
    cfg = MariConfig(gamma=1e4, retain=RetainTerm("none"), target="holdout")
    out = Mari(cfg).loss(model, forget, retain, None, holdout=holdout)
    assert out.logs["mari"] == pytest.approx(i_u, rel=1e-4, abs=1e-9)
    assert out.logs["mari_target"] == pytest.approx(i_h, rel=1e-4, abs=1e-9)
    assert out.loss.item() == pytest.approx(1e4 * (i_u - i_h), rel=1e-3, abs=1e-6)
    # swapped, the excess is negative: the loss is 0, not γ·(I_u − I_h)
    assert Mari(cfg).loss(model, holdout, retain, None, holdout=forget).loss.item() == 0.0
    # the retain term is added as in the zero target
    with_retain = MariConfig(gamma=1e4, retain=RetainTerm("nll", weight=2.0), target="holdout")
    out2 = Mari(with_retain).loss(model, forget, retain, None, holdout=holdout)
    with torch.no_grad():
        nll = losses.masked_mean_nll(model(**retain.model_inputs()).logits, retain.labels).item()
    assert out2.logs["retain_nll"] == pytest.approx(nll, rel=1e-5)
    assert out2.loss.item() == pytest.approx(2.0 * nll + out.loss.item(), rel=1e-5)
    zero = Mari(MariConfig(gamma=1e4, retain=RetainTerm("none"))).loss(model, forget, retain, None)
    assert zero.loss.item() == pytest.approx(1e4 * i_u, rel=1e-3) and "mari_target" not in zero.logs


def _mi_grad(model, forget, retain, holdout, target):
    model.zero_grad(set_to_none=True)
    cfg = MariConfig(gamma=1.0, retain=RetainTerm("none"), target=target)
    out = Mari(cfg).loss(model, forget, retain, None, holdout=holdout)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return out, torch.cat([g.flatten() for g in grads]) if grads else torch.zeros(1)


def test_no_gradient_below_the_target_and_the_full_gradient_above(batches):
    model, forget, retain, holdout = batches
    # Swapping the roles: forget rows as the "holdout" and holdout rows as the "forget" batch, one of the two
    # orders has I_u < I_h (the pooled MIs differ on this model), the other I_u > I_h.
    runs = [_mi_grad(model, a, retain, b, "holdout") for a, b in ((forget, holdout), (holdout, forget))]
    below = [(o, g) for o, g in runs if o.logs["mari"] < o.logs["mari_target"]]
    above = [(o, g) for o, g in runs if o.logs["mari"] > o.logs["mari_target"]]
    assert len(below) == len(above) == 1
    (o_below, g_below), (o_above, g_above) = below[0], above[0]
    assert o_below.loss.item() == 0.0 and torch.count_nonzero(g_below) == 0
    # above the target the holdout term is a constant: the gradient is the zero target's gradient
    a, b = (forget, holdout) if runs[0][0] is o_above else (holdout, forget)
    _, g_zero = _mi_grad(model, a, retain, b, "zero")
    assert torch.count_nonzero(g_above) > 0 and torch.allclose(g_above, g_zero, rtol=1e-5, atol=1e-12)


def test_missing_holdout_is_refused(batches, tiny_data_files, tmp_path):
    model, forget, retain, _ = batches
    with pytest.raises(RuntimeError, match="holdout"):
        Mari(MariConfig(target="holdout", retain=RetainTerm("nll"))).loss(model, forget, retain, None)
    cfg = load_config(
        None,
        [
            "method.name=mari",
            "method.args.target=holdout",
            f"model.path={tmp_path / 'no_model_needed'}",
            f"data.forget={tiny_data_files['forget']}",
            f"data.retain={tiny_data_files['retain']}",
            f"output_dir={tmp_path / 'out'}",
        ],
    )
    with pytest.raises(ObliviateError, match="needs holdout data"):
        check_config(cfg)
    assert not (tmp_path / "out").exists()
