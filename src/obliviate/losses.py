"""Pure tensor primitives shared by the unlearning methods. No model calls here: inputs are logits and labels.

Conventions: ``logits`` is (B, T, V) for ``input_ids`` (B, T); ``labels`` is (B, T) with -100 on ignored positions,
aligned with ``input_ids`` (HF convention), so the logits at position t predict ``labels[:, t + 1]``. Every
function shifts once, here, so methods never re-slice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def shift(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Align logits with their next-token targets.

    Returns ``(logits[:, :-1], targets, mask)`` with shapes (B, T-1, V), (B, T-1), (B, T-1); ignored targets are
    replaced by 0 so they can index safely and ``mask`` (bool) marks the real ones.
    """
    lg = logits[:, :-1, :]
    tgt = labels[:, 1:]
    mask = tgt != IGNORE
    return lg, tgt.masked_fill(~mask, 0), mask


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each target token: ``(logp, mask)``, both (B, T-1); logp is 0 where mask is False.

    Computed in fp32 (log_softmax of bf16 logits loses precision on large vocabularies).
    """
    lg, tgt, mask = shift(logits, labels)
    logp = torch.log_softmax(lg.float(), dim=-1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
    return logp * mask, mask


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor, average: bool = False) -> torch.Tensor:
    """Sum (or, with ``average``, per-token mean) of target log-probabilities per sequence: (B,)."""
    logp, mask = token_logprobs(logits, labels)
    total = logp.sum(-1)
    if average:
        return total / mask.sum(-1).clamp(min=1)
    return total


def masked_mean_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood over all labelled tokens of the batch (scalar); 0 if none is labelled."""
    logp, mask = token_logprobs(logits, labels)
    return -logp.sum() / mask.sum().clamp(min=1)


def kl_to_ref(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Forward KL(p_ref || p_theta) of the next-token distributions, per-token mean over labelled positions.

    Zero (with zero gradient) when ``logits == ref_logits``.
    """
    lg, _, mask = shift(logits, labels)
    ref, _, _ = shift(ref_logits, labels)
    logq = torch.log_softmax(lg.float(), dim=-1)  # (B, T-1, V) model
    logp = torch.log_softmax(ref.float(), dim=-1)  # (B, T-1, V) reference
    kl = (logp.exp() * (logp - logq)).sum(-1)  # (B, T-1)
    return (kl * mask).sum() / mask.sum().clamp(min=1)


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
