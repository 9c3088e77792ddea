"""Pure tensor primitives shared by the unlearning methods. No model calls here: inputs are logits and labels.

Conventions: ``logits`` is (B, T, V) for ``input_ids`` (B, T); ``labels`` is (B, T) with -100 on ignored positions,
aligned with ``input_ids`` (HF convention), so the logits at position t predict ``labels[:, t + 1]``. Every
function shifts the *targets* once, here (:func:`next_token_targets`), never the logits: slicing ``logits[:, :-1]``
would copy the whole (B, T, V) tensor before the softmax (1.6x the cost of the NLL's forward + backward at V = 32k).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def next_token_targets(labels: torch.Tensor) -> torch.Tensor:
    """Targets aligned with the unshifted logits: ``labels[:, t + 1]`` at position t, IGNORE at the last: (B, T)."""
    return F.pad(labels[:, 1:], (0, 1), value=IGNORE)


def _token_nll(logits: torch.Tensor, labels: torch.Tensor, reduction: str) -> tuple[torch.Tensor, torch.Tensor]:
    """F.cross_entropy of the unshifted (B, T, V) logits (fp32) against the shifted targets, and the (B, T) mask."""
    tgt = next_token_targets(labels)  # (B, T)
    nll = F.cross_entropy(logits.float().flatten(0, 1), tgt.flatten(), ignore_index=IGNORE, reduction=reduction)
    return nll, tgt != IGNORE


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each target token: ``(logp, mask)``, both (B, T-1); logp is 0 where mask is False.

    Computed in fp32 (log_softmax of bf16 logits loses precision on large vocabularies).
    """
    nll, mask = _token_nll(logits, labels, "none")  # (B*T,), (B, T)
    return -nll.view(mask.shape)[:, :-1], mask[:, :-1]


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor, average: bool = False) -> torch.Tensor:
    """Sum (or, with ``average``, per-token mean) of target log-probabilities per sequence: (B,)."""
    logp, mask = token_logprobs(logits, labels)
    total = logp.sum(-1)
    if average:
        return total / mask.sum(-1).clamp(min=1)
    return total


def masked_mean_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood over all labelled tokens of the batch (scalar); 0 if none is labelled."""
    total, mask = _token_nll(logits, labels, "sum")
    return total / mask.sum().clamp(min=1)


def kl_to_ref(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Forward KL(p_ref || p_theta) of the next-token distributions, per-token mean over labelled positions.

    Zero (with zero gradient) when ``logits == ref_logits``.
    """
    kl, _ = kl_and_pooled_softmax(logits, ref_logits, labels)
    return kl


def npo_term(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO forget loss (Zhang et al. 2024): ``-(2/beta) * mean(logsigmoid(-beta * (logp - ref_logp)))``.

    ``logp``/``ref_logp`` are (B,) sequence log-probabilities under the model and the frozen reference.
    At logp == ref_logp the value is (2/beta)·ln 2.
    """
    return -(2.0 / beta) * F.logsigmoid(-beta * (logp - ref_logp)).mean()


def simnpo_term(avg_logp: torch.Tensor, beta: float, delta: float) -> torch.Tensor:
    """SimNPO forget loss (Fan et al. 2024), exactly as OpenUnlearning computes it:
    ``-(2/beta) * mean(logsigmoid(beta * (avg_nll - delta)))`` with ``avg_nll = -avg_logp``.

    ``avg_logp`` is the length-normalised sequence log-probability (B,); no reference model is needed. The paper's
    reward margin gamma equals ``beta * delta`` here.
    """
    return -(2.0 / beta) * F.logsigmoid(beta * (-avg_logp - delta)).mean()


def dpo_term(
    chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor, beta: float
) -> torch.Tensor:
    """DPO loss (Rafailov et al. 2023): ``-(2/beta) * mean(logsigmoid(beta * ((c - rc) - (r - rr))))``.

    All inputs are (B,) sequence log-probabilities. The 2/beta scale follows OpenUnlearning's ``compute_dpo_loss``
    so that beta does not change the gradient magnitude at the start; at initialisation (model == reference)
    the value is (2/beta)·ln 2.
    """
    margin = (chosen - ref_chosen) - (rejected - ref_rejected)
    return -(2.0 / beta) * F.logsigmoid(beta * margin).mean()


# --- Forgetting-MarI primitives (pooled next-token distributions and their mutual information) -----------------

MARI_CONSTRUCTIONS = ("full_vs_retain", "unlearn_vs_retain")


def next_token_positions(
    labels: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Positions whose logits predict a real next token: (B, T) bool, aligned with the logits.

    With ``labels``, position t counts iff ``labels[:, t + 1]`` is labelled (answer tokens of QA rows; every real
    token of raw text). With ``attention_mask`` instead, iff tokens t and t + 1 are both real. The last position
    never counts (it has no next token).
    """
    ref = labels if labels is not None else attention_mask
    if ref is None:
        raise ValueError("next_token_positions needs labels or attention_mask")
    if labels is not None:
        return next_token_targets(labels) != IGNORE
    out = torch.zeros(ref.shape, dtype=torch.bool, device=ref.device)
    real = attention_mask.bool()
    out[:, :-1] = real[:, :-1] & real[:, 1:]
    return out


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    # fp64 stays fp64 (gradcheck); bf16/fp16/fp32 are all reduced in fp32.
    return torch.float64 if dtype == torch.float64 else torch.float32


class _PooledSoftmaxSum(torch.autograd.Function):
    """Sum over selected positions of softmax(logits), chunk by chunk, with a matching chunked backward.

    Autograd through ``softmax(...).sum(0)`` would keep every chunk's (n, V) probabilities alive until backward;
    this saves only ``logits`` (already produced by the model) and recomputes each chunk's probabilities in
    backward, so at most one (chunk, V) probability block exists at any time.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, index: torch.Tensor, chunk: int) -> torch.Tensor:
        flat = logits.reshape(-1, logits.shape[-1])  # (B*T, V), a view of contiguous logits
        dt = _compute_dtype(logits.dtype)
        total = torch.zeros(flat.shape[-1], dtype=dt, device=logits.device)  # (V,)
        for ix in index.split(chunk):
            total += torch.softmax(flat[ix].to(dt), dim=-1).sum(0)
        ctx.save_for_backward(logits, index)
        ctx.chunk = chunk
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        logits, index = ctx.saved_tensors
        flat = logits.reshape(-1, logits.shape[-1])
        dt = _compute_dtype(logits.dtype)
        grad_logits = torch.zeros_like(logits)  # (B, T, V), returned as is: autograd can keep it without a copy
        out = grad_logits.view(-1, logits.shape[-1])  # (B*T, V); unselected positions get no gradient
        g = grad.to(dt)  # (V,)
        for ix in index.split(ctx.chunk):
            p = torch.softmax(flat[ix].to(dt), dim=-1)  # (n, V)
            # softmax Jacobian-vector product p * (g - <p, g>), with two (n, V) blocks alive; elementwise ops only,
            # so autocast leaves it in fp32
            pg = p * g
            out[ix] = pg.addcmul_(p, pg.sum(-1, keepdim=True), value=-1.0).to(out.dtype)
        return grad_logits, None, None


def _row_block(n_cols: int) -> int:
    # rows per block of the fused softmax terms: about 2**18 floats (1 MiB in fp32), small enough to stay in cache
    return max(1, (1 << 18) // n_cols)


class _SoftmaxTerms(torch.autograd.Function):
    """``(Σ_n w_n·KL(p_n ‖ q_n), Σ_n m_n·q_n)`` for q = softmax(logits), p = softmax(ref), one softmax shared.

    The retain KL and MarI's pooled sum need the same softmax; both are computed in one pass over row blocks that stay
    in cache, instead of separate autograd graphs that each sweep the whole (N, V) tensor several times. Saved for
    backward: q − p (KL only), q (pooling only) or q and p, never the logits; backward overwrites these buffers with
    the gradient, so it allocates no (N, V) tensor and can run only once (no ``retain_graph``).
    """

    @staticmethod
    def forward(ctx, logits, ref, w, m):  # (N, V); (N, V) detached or None; (N,) KL weights or None; (N,) or None
        dt = _compute_dtype(logits.dtype)
        n, v = logits.shape
        keep = ctx.needs_input_grad[0]
        q = torch.empty(n, v, dtype=dt, device=logits.device) if keep else None  # q, or q − p when KL only
        p = torch.empty_like(q) if keep and ref is not None and m is not None else None
        kl = torch.zeros((), dtype=dt, device=logits.device)
        pooled = torch.zeros(v, dtype=dt, device=logits.device)
        step = _row_block(v)
        with torch.autocast(logits.device.type, enabled=False):  # fp32 sums even under bf16 autocast
            for a in range(0, n, step):
                rows = slice(a, a + step)
                x = logits[rows].to(dt)  # (r, V)
                qc = torch.softmax(x, dim=-1)  # not exp(log q): the same rounding as the pooling-only path
                if m is not None:
                    pooled += m[rows].to(dt) @ qc
                if ref is not None:
                    lp = torch.log_softmax(ref[rows].to(dt), dim=-1)  # (r, V) log p
                    pc = lp.exp()
                    kl += w[rows].to(dt) @ lp.sub_(torch.log_softmax(x, dim=-1)).mul_(pc).sum(-1)
                    if p is not None:
                        p[rows] = pc
                    elif keep:
                        qc.sub_(pc)
                if keep:
                    q[rows] = qc
        ctx.buffers = (q, p)
        ctx.w, ctx.m, ctx.in_dtype, ctx.has_ref = w, m, logits.dtype, ref is not None
        ctx.set_materialize_grads(False)
        return kl, pooled

    @staticmethod
    def backward(ctx, g_kl, g_pool):
        q, p = ctx.buffers
        if q is None:
            raise RuntimeError("the fused softmax terms can be differentiated once (no retain_graph)")
        ctx.buffers = (None, None)  # q becomes the gradient below
        use_kl = g_kl is not None and ctx.has_ref
        use_pool = g_pool is not None and ctx.m is not None
        if not (use_kl or use_pool):
            return None, None, None, None
        s = g_kl * ctx.w.to(q.dtype) if use_kl else None  # (N,) d loss / d KL_n
        g = g_pool.to(q.dtype) if use_pool else None  # (V,)
        step = _row_block(q.shape[-1])
        for a in range(0, q.shape[0], step):
            rows = slice(a, a + step)
            qc = q[rows]  # (r, V) view, overwritten with d loss / d logits
            if use_pool:  # softmax Jacobian-vector product m·q·(g − <q, g>), plus the KL's s·(q − p)
                tmp = (g - (qc @ g).unsqueeze(-1)).mul_(ctx.m[rows].to(q.dtype).unsqueeze(-1))  # (r, V)
                if use_kl:
                    tmp.add_(s[rows].unsqueeze(-1))
                qc.mul_(tmp)
                if use_kl:
                    qc.addcmul_(p[rows], s[rows].unsqueeze(-1), value=-1.0)
            else:
                if p is not None:
                    qc.sub_(p[rows])
                qc.mul_(s[rows].unsqueeze(-1))
        return q.to(ctx.in_dtype), None, None, None


def kl_and_pooled_softmax(
    logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor, pool_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`kl_to_ref` and, with ``pool_mask`` (B, T), :func:`pooled_softmax` of the same logits (V,), sharing one
    softmax (MarI's retain side). ``ref_logits`` are detached; the sum is None without ``pool_mask``."""
    mask = next_token_positions(labels=labels).flatten()  # (B*T,)
    w = mask.float() / mask.sum().clamp(min=1)  # (B*T,) per-token mean over labelled positions
    m = pool_mask.flatten().float() if pool_mask is not None else None
    kl, pooled = _SoftmaxTerms.apply(logits.flatten(0, 1), ref_logits.flatten(0, 1), w, m)
    return kl, pooled if pool_mask is not None else None


# Fewest logits (B·T·V) for which pooled_softmax's default runs the fused row-block pass instead of plain autograd.
# CPU, 1 thread, fp32, forward + backward, B·T = 256-4096, V = 1024-32000 (benchmarks/results/step_speed.md, pooled
# table): below 2**24 plain autograd was faster in every run (fused ÷ autograd 1.03-1.5; the whole softmax is small
# and stays in cache). From 2**24 on the order changed from run to run with the machine's load (0.5-1.25; autograd's
# time varied most) while the fused pass keeps half the memory (252 vs 500 MiB at 1024 x 32000), so from there on it
# is the default. The retain KL's fused pass (kl_and_pooled_softmax) was never slower than autograd at these sizes in
# a side measurement (not in the results file), so it has no switch.
FUSED_MIN_LOGITS = 1 << 24


def pooled_softmax(
    logits: torch.Tensor, mask: torch.Tensor, chunk_size: int | None = None, fused: bool | None = None
) -> torch.Tensor:
    """Sum of the next-token softmax over the masked positions: (V,) in fp32 (fp64 for fp64 logits).

    Divide by ``mask.sum()`` for the pooled distribution P̄ (a mean of probabilities, never of logits).

    Args:
        logits: (B, T, V) logits, any float dtype, temperature 1.
        mask: (B, T) bool, the positions to pool (see :func:`next_token_positions`).
        chunk_size: None (default) keeps the fp32 probabilities for backward (see ``fused``). A number recomputes
            them in backward, that many positions at a time, keeping only the logits: half the memory for bf16
            logits, about 1.6x the time. The result does not depend on it.
        fused: with ``chunk_size`` None, True computes the probabilities row block by row block with an in-place
            backward (:class:`_SoftmaxTerms`), False by plain autograd; None (default) picks by size: fused from
            :data:`FUSED_MIN_LOGITS` logits on, where it keeps half the memory at a similar time, autograd below
            (faster there).
    """
    if chunk_size is not None:
        index = mask.reshape(-1).nonzero().squeeze(-1)  # (N,)
        return _PooledSoftmaxSum.apply(logits, index, int(chunk_size))
    if fused is None:
        fused = logits.numel() >= FUSED_MIN_LOGITS
    flat = logits.flatten(0, 1)  # (B*T, V)
    if fused:
        return _SoftmaxTerms.apply(flat, None, None, mask.flatten().to(logits.dtype))[1]
    dt = _compute_dtype(logits.dtype)
    with torch.autocast(logits.device.type, enabled=False):  # fp32 even under bf16 autocast (matmul would cast)
        return mask.flatten().to(dt) @ torch.softmax(flat.to(dt), dim=-1)  # (V,); autograd keeps the softmax


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats along the last dim, with 0·log 0 = 0 (value and gradient)."""
    return -torch.special.xlogy(p, p.clamp_min(torch.finfo(p.dtype).tiny)).sum(-1)


def weighted_jsd(p0: torch.Tensor, p1: torch.Tensor, pi0: float | torch.Tensor) -> torch.Tensor:
    """Weighted Jensen–Shannon divergence = I(X; Z) for binary Z, in nats: ``H(M) − π₀H(P₀) − π₁H(P₁)``.

    ``p0``/``p1`` are (..., V) distributions, ``pi0`` = P(Z=0), M = π₀P₀ + π₁P₁. Computed as
    ``Σ_z π_z Σ_v [P_z log(P_z/M) − P_z + M]``, which equals the entropy form for normalised inputs but sums
    non-negative terms, so it stays accurate in fp32 when the MI is tiny (the entropy difference cancels
    catastrophically: ~2e-7 absolute error at V = 50k, larger than the values reached after unlearning).
    """
    pi0 = torch.as_tensor(pi0, dtype=p0.dtype, device=p0.device)  # () or (...,)
    m = pi0.unsqueeze(-1) * p0 + (1 - pi0).unsqueeze(-1) * p1  # (..., V)
    tiny = torch.finfo(m.dtype).tiny
    mc = m.clamp_min(tiny)

    def kl_to_m(p: torch.Tensor) -> torch.Tensor:
        return (torch.special.xlogy(p, p.clamp_min(tiny) / mc) - p + m).sum(-1)

    return pi0 * kl_to_m(p0) + (1 - pi0) * kl_to_m(p1)


def mari_groups(
    sum_r: torch.Tensor, n_r: torch.Tensor | float, sum_u: torch.Tensor, n_u: torch.Tensor | float, construction: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The two Z groups ``(P₀, P₁, π₀)`` from pooled probability sums of retain (r) and unlearn (u) positions.

    ``full_vs_retain`` (the authors' encoding): Z=0 is retain ∪ unlearn, Z=1 the same retain positions again, so
    P₀ = (Σ_r + Σ_u)/(N_r + N_u), P₁ = Σ_r/N_r, π₀ = (N_r + N_u)/(2N_r + N_u) — the [retain, unlearn, retain]
    concatenation without a second retain pass. ``unlearn_vs_retain``: P₀ = Σ_u/N_u, P₁ = Σ_r/N_r, π₀ = ½.
    ``sum_*`` are (..., V) and ``n_*`` position counts (scalars or (...,) tensors for batched replicates).
    """
    n_r = torch.as_tensor(n_r, dtype=sum_r.dtype, device=sum_r.device).unsqueeze(-1)
    n_u = torch.as_tensor(n_u, dtype=sum_r.dtype, device=sum_r.device).unsqueeze(-1)
    p_r = sum_r / n_r.clamp_min(1)
    if construction == "full_vs_retain":
        p0 = (sum_r + sum_u) / (n_r + n_u).clamp_min(1)
        pi0 = ((n_r + n_u) / (2 * n_r + n_u).clamp_min(1)).squeeze(-1)
        return p0, p_r, pi0
    if construction == "unlearn_vs_retain":
        return sum_u / n_u.clamp_min(1), p_r, torch.full_like(n_r.squeeze(-1), 0.5)
    raise ValueError(f"unknown MarI construction {construction!r}; use one of {', '.join(MARI_CONSTRUCTIONS)}")


def marginal_information(
    sum_r: torch.Tensor, n_r: torch.Tensor | float, sum_u: torch.Tensor, n_u: torch.Tensor | float, construction: str
) -> torch.Tensor:
    """ℓ_MarI: I(X; Z) of the pooled next-token distribution under ``construction`` (see :func:`mari_groups`)."""
    p0, p1, pi0 = mari_groups(sum_r, n_r, sum_u, n_u, construction)
    return weighted_jsd(p0, p1, pi0)


def activation_mse(hidden: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean squared distance between hidden states and a target (RMU), as OpenUnlearning computes it.

    ``hidden`` is (B, T, D); ``target`` broadcasts to it ((B, T, D) reference activations or a (D,) control vector);
    ``mask`` (B, T) marks the positions that count (no shift: the state at position t belongs to token t). Per
    sequence: the mean over D of the squared difference, averaged over its masked positions; then the batch mean.
    """
    sq = (hidden.float() - target.float()).pow(2).mean(-1)  # (B, T)
    m = mask.to(sq.dtype)
    return ((sq * m).sum(-1) / m.sum(-1).clamp(min=1)).mean()
