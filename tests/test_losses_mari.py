"""The Forgetting-MarI primitives in obliviate.losses: pooled softmax, weighted JSD and the two Z constructions."""

import math

import pytest
import torch

from obliviate import losses

LN3 = math.log(3.0)


def _h(*p: float) -> float:
    return -sum(x * math.log(x) for x in p if x > 0)


def test_weighted_jsd_hand_computed():
    # P0 = (1/2, 1/2), P1 = (1, 0), pi = 1/2: M = (3/4, 1/4), MI = H(3/4, 1/4) - ln2 / 2 = 0.562335 - 0.346574
    p0 = torch.tensor([0.5, 0.5])
    p1 = torch.tensor([1.0, 0.0])
    assert losses.weighted_jsd(p0, p1, 0.5).item() == pytest.approx(0.2157616, abs=1e-6)
    # pi0 = 1/4: M = (7/8, 1/8), MI = H(7/8, 1/8) - ln2 / 4 = 0.376770 - 0.173287
    assert losses.weighted_jsd(p0, p1, 0.25).item() == pytest.approx(0.2034829, abs=1e-6)
    # disjoint supports with equal priors: the JSD maximum ln 2
    assert losses.weighted_jsd(torch.tensor([1.0, 0.0]), p1.flip(0), 0.5).item() == pytest.approx(math.log(2))


def _hand_batches() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    # retain: softmax([0, 0]) = (1/2, 1/2) and softmax([ln3, 0]) = (3/4, 1/4); a third, padded position is masked
    logits_r = torch.tensor([[[0.0, 0.0], [LN3, 0.0], [9.0, -9.0]]])
    mask_r = torch.tensor([[True, True, False]])
    # unlearn: softmax([0, ln3]) = (1/4, 3/4)
    logits_u = torch.tensor([[[0.0, LN3], [5.0, 5.0]]])
    mask_u = torch.tensor([[True, False]])
    return logits_r, mask_r, logits_u, mask_u


def test_pooled_mari_hand_computed_both_constructions():
    logits_r, mask_r, logits_u, mask_u = _hand_batches()
    sum_r = losses.pooled_softmax(logits_r, mask_r)
    sum_u = losses.pooled_softmax(logits_u, mask_u)
    torch.testing.assert_close(sum_r, torch.tensor([1.25, 0.75]))
    torch.testing.assert_close(sum_u, torch.tensor([0.25, 0.75]))
    # full_vs_retain: P0 = (1/2, 1/2), P1 = P_r = (5/8, 3/8), pi0 = 3/5, M = (0.55, 0.45)
    # MI = H(.55, .45) - 3/5 ln2 - 2/5 H(5/8, 3/8) = 0.688139 - 0.415888 - 0.264625 = 0.007626
    full = losses.marginal_information(sum_r, 2, sum_u, 1, "full_vs_retain")
    assert full.item() == pytest.approx(_h(0.55, 0.45) - 0.6 * math.log(2) - 0.4 * _h(5 / 8, 3 / 8), abs=1e-6)
    assert full.item() == pytest.approx(0.007626, abs=2e-6)
    # unlearn_vs_retain: P0 = (1/4, 3/4), P1 = (5/8, 3/8), pi = 1/2, M = (7/16, 9/16)
    # MI = 0.685314 - (0.562335 + 0.661563) / 2 = 0.073365
    unl = losses.marginal_information(sum_r, 2, sum_u, 1, "unlearn_vs_retain")
    assert unl.item() == pytest.approx(0.073365, abs=2e-6)


@pytest.mark.parametrize("pi0", [0.5, 0.1, 0.83])
def test_weighted_jsd_equals_entropy_form(pi0):
    g = torch.Generator().manual_seed(0)
    p0 = torch.softmax(torch.randn(4, 50, generator=g, dtype=torch.float64) * 3, -1)
    p1 = torch.softmax(torch.randn(4, 50, generator=g, dtype=torch.float64) * 3, -1)
    m = pi0 * p0 + (1 - pi0) * p1
    expected = losses.entropy(m) - pi0 * losses.entropy(p0) - (1 - pi0) * losses.entropy(p1)
    torch.testing.assert_close(losses.weighted_jsd(p0, p1, pi0), expected)
    # batched priors (bootstrap replicates) give the same values row by row
    batched = losses.weighted_jsd(p0, p1, torch.full((4,), pi0, dtype=torch.float64))
    torch.testing.assert_close(batched, expected)


def test_weighted_jsd_is_accurate_in_fp32_when_tiny():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(50_000, generator=g, dtype=torch.float64) * 3
    p1 = torch.softmax(a, 0)
    p0 = torch.softmax(a + 1e-3 * torch.randn(50_000, generator=g, dtype=torch.float64), 0)
    exact = losses.weighted_jsd(p0, p1, 0.55).item()  # ~1e-7 nats
    assert losses.weighted_jsd(p0.float(), p1.float(), 0.55).item() == pytest.approx(exact, rel=0.05)


def test_zero_iff_pooled_distributions_equal():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(1, 6, 11, generator=g)
    mask = torch.ones(1, 6, dtype=torch.bool)
    # the same positions in another order and batch layout: different sequences, identical pooled distribution
    other = logits[:, torch.tensor([3, 1, 5, 0, 4, 2])].reshape(2, 3, 11)
    s_r = losses.pooled_softmax(logits, mask)
    s_u = losses.pooled_softmax(other, torch.ones(2, 3, dtype=torch.bool))
    for c in losses.MARI_CONSTRUCTIONS:
        assert losses.marginal_information(s_r, 6, s_u, 6, c).item() == pytest.approx(0.0, abs=1e-7)
    # change a single position and both constructions become strictly positive
    changed = other.clone()
    changed[0, 0, 0] += 2.0
    s_c = losses.pooled_softmax(changed, torch.ones(2, 3, dtype=torch.bool))
    for c in losses.MARI_CONSTRUCTIONS:
        assert losses.marginal_information(s_r, 6, s_c, 6, c).item() > 1e-5


def _explicit_concat_mi(probs_r: torch.Tensor, probs_u: torch.Tensor) -> torch.Tensor:
    """The authors' estimator: concatenate [retain, unlearn, retain] outputs with Z labels [0, 0, 1] and compute
    sum_{v,z} p(v,z) log(p(v,z) / (p(v) p(z))) from the per-sample soft predictions."""
    probs = torch.cat([probs_r, probs_u, probs_r])  # (2N_r + N_u, V)
    z = torch.cat([torch.zeros(len(probs_r) + len(probs_u)), torch.ones(len(probs_r))]).to(probs.dtype)
    n = len(probs)
    joint = torch.stack([(probs * (1 - z)[:, None]).sum(0), (probs * z[:, None]).sum(0)], 1) / n  # (V, 2)
    pv = joint.sum(1, keepdim=True)
    pz = joint.sum(0, keepdim=True)
    return torch.special.xlogy(joint, joint / (pv * pz)).sum()


def test_one_pass_equals_explicit_retain_forget_retain_construction():
    g = torch.Generator().manual_seed(3)
    logits_r = torch.randn(3, 5, 17, generator=g, dtype=torch.float64)
    logits_u = torch.randn(2, 4, 17, generator=g, dtype=torch.float64) * 2
    labels_r = torch.tensor([[1, 2, 3, 4, 5], [-100, 2, 3, 4, -100], [-100, -100, 3, -100, -100]])
    labels_u = torch.tensor([[1, 2, 3, 4], [-100, -100, 3, 4]])
    mask_r = losses.next_token_positions(labels=labels_r)
    mask_u = losses.next_token_positions(labels=labels_u)
    one_pass = losses.marginal_information(
        losses.pooled_softmax(logits_r, mask_r), mask_r.sum(), losses.pooled_softmax(logits_u, mask_u), mask_u.sum(),
        "full_vs_retain",
    )  # fmt: skip
    explicit = _explicit_concat_mi(torch.softmax(logits_r[mask_r], -1), torch.softmax(logits_u[mask_u], -1))
    torch.testing.assert_close(one_pass, explicit)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_chunked_equals_unchunked_values_and_gradients(dtype):
    g = torch.Generator().manual_seed(4)
    base = torch.randn(3, 7, 23, generator=g)
    mask = torch.rand(3, 7, generator=g) > 0.3
    weights = torch.randn(23, generator=g)

    def run(chunk):
        logits = base.to(dtype).requires_grad_(True)
        if chunk == "naive":
            pooled = torch.softmax(logits.float()[mask], -1).sum(0)
        elif chunk in ("fused", "autograd"):  # the two implementations the default picks between by size
            pooled = losses.pooled_softmax(logits, mask, fused=chunk == "fused")
        else:
            pooled = losses.pooled_softmax(logits, mask, chunk)
        (pooled * weights).sum().backward()
        return pooled.detach(), logits.grad.float()

    ref_val, ref_grad = run("naive")
    assert not ref_grad[~mask].any()
    for chunk in (1, 2, 5, None, "fused", "autograd"):
        val, grad = run(chunk)
        assert val.dtype == torch.float32
        torch.testing.assert_close(val, ref_val)
        torch.testing.assert_close(grad, ref_grad, atol=1e-2 if dtype == torch.bfloat16 else 1e-6, rtol=1e-2)


def test_pooled_softmax_picks_the_fused_pass_by_size(monkeypatch):
    """Plain autograd below losses.FUSED_MIN_LOGITS logits (faster while the softmax fits in cache), the fused
    row-block pass from there on (half the memory); an explicit ``fused`` or ``chunk_size`` overrides the choice."""
    monkeypatch.setattr(losses, "FUSED_MIN_LOGITS", 6 * 16)  # the size rule, without building 2**24 logits

    def backward_name(n_rows, **kw):
        logits = torch.zeros(1, n_rows, 16, requires_grad=True)  # (1, n_rows, V = 16)
        return type(losses.pooled_softmax(logits, torch.ones(1, n_rows, dtype=torch.bool), **kw).grad_fn).__name__

    assert "SoftmaxTerms" in backward_name(6)
    assert "SoftmaxTerms" not in backward_name(5)
    assert "SoftmaxTerms" in backward_name(5, fused=True)
    assert "SoftmaxTerms" not in backward_name(6, fused=False)
    assert "PooledSoftmaxSum" in backward_name(6, chunk_size=2)


def test_pooled_softmax_saves_only_the_logits():
    """Memory: autograd keeps the logits and the position index, never a (N, V) probability tensor."""
    logits = torch.randn(4, 16, 64, requires_grad=True)
    mask = torch.ones(4, 16, dtype=torch.bool)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        pooled = losses.pooled_softmax(logits * 1.0, mask, chunk_size=8)
    assert sum(t.numel() for t in saved if t.is_floating_point()) == logits.numel()
    pooled.sum().backward()


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(5)
    logits_r = torch.randn(2, 4, 6, generator=g, dtype=torch.float64, requires_grad=True)
    logits_u = torch.randn(1, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    mask_r = torch.tensor([[True, True, False, False], [True, True, True, False]])
    mask_u = torch.tensor([[False, True, True, True, False]])
    for c in losses.MARI_CONSTRUCTIONS:

        def f(lr, lu, c=c):
            s_r = losses.pooled_softmax(lr, mask_r, chunk_size=2)
            s_u = losses.pooled_softmax(lu, mask_u, chunk_size=2)
            return losses.marginal_information(s_r, 5, s_u, 3, c)

        assert torch.autograd.gradcheck(f, (logits_r, logits_u))
    assert torch.autograd.gradcheck(lambda x: losses.pooled_softmax(x, mask_r, chunk_size=3), (logits_r,))


def test_next_token_positions():
    labels = torch.tensor([[-100, -100, 7, 8, -100], [5, 6, 7, -100, -100]])
    expected = torch.tensor([[False, True, True, False, False], [True, True, False, False, False]])
    torch.testing.assert_close(losses.next_token_positions(labels=labels), expected)
    attn = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    expected = torch.tensor([[True, True, False, False], [True, True, True, False]])
    torch.testing.assert_close(losses.next_token_positions(attention_mask=attn), expected)
    with pytest.raises(ValueError, match="unknown MarI construction"):
        losses.mari_groups(torch.ones(2), 1, torch.ones(2), 1, "both")


def _naive_kl_and_pooled(logits, ref, labels, pool_mask):
    """Plain autograd reference for losses.kl_and_pooled_softmax: KL per labelled position, then masked means."""
    mask = losses.next_token_positions(labels=labels)
    logq, logp = torch.log_softmax(logits, -1), torch.log_softmax(ref, -1)
    kl = (logp.exp() * (logp - logq)).sum(-1)  # (B, T)
    pooled = (torch.softmax(logits, -1) * pool_mask.unsqueeze(-1)).sum((0, 1))  # (V,)
    return (kl * mask).sum() / mask.sum(), pooled


@pytest.mark.parametrize("terms", ["kl", "pooled", "both"])
def test_fused_softmax_terms_match_plain_autograd(terms):
    """KL and the pooled sum computed in one pass (sharing the softmax, in-place backward) equal plain autograd,
    in value and gradient, whichever of the two outputs the loss uses; blocks smaller than the rows are covered by
    a vocabulary large enough to give several row blocks."""
    g = torch.Generator().manual_seed(6)
    v = 40000  # > 2**18 / 8: row blocks of 6 rows over 3 * 5 = 15 rows
    logits = torch.randn(3, 5, v, generator=g, dtype=torch.float64)
    ref = logits + 0.5 * torch.randn(3, 5, v, generator=g, dtype=torch.float64)
    labels = torch.tensor([[1, 2, 3, 4, 5], [-100, 2, 3, -100, -100], [-100, -100, -100, -100, 7]])
    pool = torch.rand(3, 5, generator=g) > 0.4
    w = torch.randn(v, generator=g, dtype=torch.float64)
    results = []
    for fused in (True, False):
        x = logits.clone().requires_grad_(True)
        if fused:
            kl, pooled = losses.kl_and_pooled_softmax(x, ref, labels, pool if terms != "kl" else None)
        else:
            kl, pooled = _naive_kl_and_pooled(x, ref, labels, pool)
        loss = 3.0 * kl if terms != "pooled" else 0.0
        if terms != "kl":
            loss = loss + (pooled * w).sum()
        loss.backward()
        results.append((kl.detach(), None if pooled is None else pooled.detach(), x.grad))
    (kl_f, pooled_f, grad_f), (kl_n, pooled_n, grad_n) = results
    torch.testing.assert_close(kl_f, kl_n)
    if terms != "kl":
        torch.testing.assert_close(pooled_f, pooled_n)
    torch.testing.assert_close(grad_f, grad_n)
    assert kl_n.item() > 0.1 and grad_n.abs().max().item() > 1e-3  # a non-trivial case


def test_fused_softmax_terms_backward_runs_once():
    """Its buffers become the gradient (no (N, V) allocation in backward), so a second backward must fail loudly
    rather than return a wrong gradient; gradients are checked against plain autograd above (gradcheck needs
    repeated backward passes)."""
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(2, 4, 6, generator=g, dtype=torch.float64, requires_grad=True)
    ref = torch.randn(2, 4, 6, generator=g, dtype=torch.float64)
    labels = torch.tensor([[1, 2, 3, -100], [-100, 2, 3, 4]])
    kl, _ = losses.kl_and_pooled_softmax(logits, ref, labels, torch.ones(2, 4, dtype=torch.bool))
    kl.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="differentiated once"):
        kl.backward()


def test_pooled_softmax_without_grad():
    """Under no_grad (the certificate) the value is the same and nothing is kept for backward."""
    logits = torch.randn(2, 8, 50)
    mask = torch.ones(2, 8, dtype=torch.bool)
    with torch.no_grad():
        pooled = losses.pooled_softmax(logits, mask)
    torch.testing.assert_close(pooled, torch.softmax(logits, -1).sum((0, 1)))
    assert pooled.grad_fn is None


@pytest.mark.parametrize("fused", [True, False])
def test_pooled_softmax_stays_fp32_under_bf16_autocast(fused):
    """Under ``torch.autocast(bfloat16)`` a matmul would round the pooled sum to bf16 (~5e-3 relative error); the
    pooling runs with autocast off, so it matches the fp64 sum to fp32 precision."""
    torch.manual_seed(0)
    logits = torch.randn(3, 7, 50) * 3
    mask = (torch.rand(3, 7) > 0.3).float()
    exact = (mask.double().flatten()[:, None] * torch.softmax(logits.double().flatten(0, 1), -1)).sum(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = losses.pooled_softmax(logits, mask, fused=fused)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), exact, rtol=1e-5, atol=1e-6)
