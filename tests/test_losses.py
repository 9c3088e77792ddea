"""The loss primitives in obliviate.losses against values worked out by hand (the MarI primitives: test_losses_mari).

The running example has V = 3 and T = 3. Logits are chosen so the softmax is exact fractions:
``[ln 2, 0, 0] -> (1/2, 1/4, 1/4)``, ``[ln 3, ln 2, 0] -> (1/2, 1/3, 1/6)``, ``[0, 0, 0] -> (1/3, 1/3, 1/3)``.
Sequence 0 has labels ``[-100, 1, 0]`` (targets 1 then 0), sequence 1 ``[-100, 2, -100]`` (one target, then padding),
so the labelled next-token probabilities are 1/4 and 1/2 (sequence 0) and 1/3 (sequence 1).
"""

from __future__ import annotations

import math

import pytest
import torch

from bench_scripts import load_script
from obliviate import losses

LN2, LN3 = math.log(2.0), math.log(3.0)


def example() -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (2, 3, 3), labels (2, 3)) of the module docstring; unused positions hold large junk values."""
    logits = torch.tensor(
        [
            [[LN2, 0.0, 0.0], [LN3, LN2, 0.0], [50.0, -50.0, 7.0]],  # last position predicts nothing
            [[0.0, 0.0, 0.0], [-40.0, 40.0, 3.0], [9.0, 9.0, -9.0]],  # position 1 targets padding
        ]
    )
    labels = torch.tensor([[-100, 1, 0], [-100, 2, -100]])
    return logits, labels


def test_next_token_targets_shift_the_labels_not_the_logits() -> None:
    _, labels = example()
    tgt = losses.next_token_targets(labels)
    assert tgt.shape == labels.shape  # aligned with the unshifted (B, T, V) logits: no copy of them
    assert tgt.tolist() == [[1, 0, -100], [2, -100, -100]]  # position t predicts labels[:, t + 1]; none at the end


def test_token_logprobs() -> None:
    logp, mask = losses.token_logprobs(*example())
    expected = torch.tensor([[math.log(1 / 4), math.log(1 / 2)], [math.log(1 / 3), 0.0]])
    torch.testing.assert_close(logp, expected)
    assert mask.tolist() == [[True, True], [True, False]]


def test_token_logprobs_are_fp32_for_bf16_logits() -> None:
    logits, labels = example()
    logp, _ = losses.token_logprobs(logits.to(torch.bfloat16), labels)
    assert logp.dtype == torch.float32


def test_sequence_logprob_sum_and_average() -> None:
    logits, labels = example()
    torch.testing.assert_close(losses.sequence_logprob(logits, labels), torch.tensor([math.log(1 / 8), -LN3]))
    avg = losses.sequence_logprob(logits, labels, average=True)
    torch.testing.assert_close(avg, torch.tensor([math.log(1 / 8) / 2, -LN3]))


def test_masked_mean_nll_is_a_token_mean_over_the_batch() -> None:
    # (ln 4 + ln 2 + ln 3) / 3 labelled tokens
    assert losses.masked_mean_nll(*example()).item() == pytest.approx(math.log(24) / 3)


def test_masked_mean_nll_without_labels_is_zero() -> None:
    logits, _ = example()
    assert losses.masked_mean_nll(logits, torch.full((2, 3), -100)).item() == 0.0


def test_kl_to_ref_is_zero_with_zero_gradient_at_equality() -> None:
    logits, labels = example()
    logits.requires_grad_(True)
    kl = losses.kl_to_ref(logits, logits.detach().clone(), labels)
    kl.backward()
    assert kl.item() == pytest.approx(0.0, abs=1e-7)
    assert logits.grad.abs().max().item() < 1e-7


def test_kl_to_ref_known_value() -> None:
    # Only sequence 1, position 0 differs: model uniform (1/3 each), reference (1/2, 1/4, 1/4).
    # KL(ref || model) = 1/2 ln(3/2) + 2 * 1/4 ln(3/4) = 1/2 ln(9/8), averaged over the 3 labelled positions.
    # The reference also differs at unlabelled positions, which must not count.
    logits, labels = example()
    ref = logits.clone()
    ref[1, 0] = torch.tensor([LN2, 0.0, 0.0])
    ref[1, 1] = torch.tensor([30.0, -30.0, 0.0])
    ref[0, 2] = torch.tensor([0.0, 0.0, 30.0])
    assert losses.kl_to_ref(logits, ref, labels).item() == pytest.approx(0.5 * math.log(9 / 8) / 3, rel=1e-5)


def test_npo_term_at_equality_is_2_ln2_over_beta_with_unit_gradient() -> None:
    logp = torch.tensor([-3.0, -5.0], requires_grad=True)
    value = losses.npo_term(logp, logp.detach().clone(), beta=0.5)
    assert value.item() == pytest.approx(2 / 0.5 * LN2)
    value.backward()
    # d/dlogp of -(2/b) log sigmoid(-b d) is 2 sigmoid(b d) = 1 at d = 0, divided by the batch size of the mean
    torch.testing.assert_close(logp.grad, torch.tensor([0.5, 0.5]))


def test_npo_term_known_value() -> None:
    # beta = 1, log-ratios d = (0, ln 3): -2 ln sigmoid(0) = 2 ln 2, -2 ln sigmoid(-ln 3) = -2 ln(1/4) = 4 ln 2
    ref = torch.tensor([-2.0, -4.0])
    value = losses.npo_term(ref + torch.tensor([0.0, LN3]), ref, beta=1.0)
    assert value.item() == pytest.approx(3 * LN2)


def test_simnpo_term_known_values() -> None:
    # beta = 1, delta = 0, mean token log-prob -ln 3: -2 ln sigmoid(ln 3) = -2 ln(3/4) = 2 ln(4/3)
    assert losses.simnpo_term(torch.tensor([-LN3]), beta=1.0, delta=0.0).item() == pytest.approx(2 * math.log(4 / 3))
    # beta = 2, avg log-prob -1, delta = 1 - ln(3)/2: beta * (1 - delta) = ln 3, so the value is -(2/2) ln(3/4)
    value = losses.simnpo_term(torch.tensor([-1.0, -1.0]), beta=2.0, delta=1 - LN3 / 2)
    assert value.item() == pytest.approx(math.log(4 / 3))
    # the margin delta: at avg NLL == delta the value is (2/beta) ln 2, whatever beta
    assert losses.simnpo_term(torch.tensor([-0.7]), beta=4.5, delta=0.7).item() == pytest.approx(2 / 4.5 * LN2)


def test_dpo_term_at_initialisation_and_known_value() -> None:
    c, r = torch.tensor([-3.0, -1.0]), torch.tensor([-2.0, -6.0])
    assert losses.dpo_term(c, r, c, r, beta=0.1).item() == pytest.approx(2 / 0.1 * LN2, rel=1e-6)
    # chosen log-ratio +ln 3, rejected -ln 3: margin 2 ln 3, beta = 1/2 -> -4 ln sigmoid(ln 3) = 4 ln(4/3)
    value = losses.dpo_term(c + LN3, r - LN3, c, r, beta=0.5)
    assert value.item() == pytest.approx(4 * math.log(4 / 3))


def test_activation_mse_masks_positions_and_averages_per_sequence() -> None:
    # target (1, 1); sequence 0: squared distances (mean over D) 0 and 2 -> 1; sequence 1: 2 at its one real
    # position (the masked position is far away and must not count) -> 2; batch mean 1.5
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 1.0]], [[1.0, -1.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True], [True, False]])
    assert losses.activation_mse(hidden, torch.tensor([1.0, 1.0]), mask).item() == pytest.approx(1.5)
    # a (B, T, D) target (RMU's retain side) broadcasts the same way; equal activations give 0
    assert losses.activation_mse(hidden, hidden.clone(), mask).item() == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_shifted_targets_equal_the_sliced_logits_formulation(dtype) -> None:
    """Shifting the targets instead of slicing ``logits[:, :-1]`` changes no per-token value or gradient: compared with
    the previous formulation (kept in benchmarks/step_speed.py, which times both) on random inputs with padding."""
    sliced = load_script("step_speed")
    g = torch.Generator().manual_seed(7)
    base = (3 * torch.randn(3, 9, 40, generator=g)).to(dtype)
    ref = base.float() + torch.randn(3, 9, 40, generator=g)
    labels = torch.randint(0, 40, (3, 9), generator=g)
    labels[:, 0] = -100  # the prompt's first token and a padded tail, as collate writes them
    labels[1, 6:] = -100
    labels[2, :5] = -100

    def value_and_grad(fn):
        x = base.clone().requires_grad_(True)
        out = fn(x)
        (out if out.dim() == 0 else out.sum()).backward()
        return out.detach(), x.grad.float()

    pairs = [
        (lambda x: losses.token_logprobs(x, labels)[0], lambda x: sliced.sliced_token_logprobs(x, labels)[0]),
        (lambda x: losses.kl_to_ref(x, ref, labels), lambda x: sliced.sliced_kl_to_ref(x, ref, labels)),
    ]
    for ours, old in pairs:
        (v_new, g_new), (v_old, g_old) = value_and_grad(ours), value_and_grad(old)
        torch.testing.assert_close(v_new, v_old)  # per-token (B, T-1) log-probabilities, or the scalar KL
        torch.testing.assert_close(g_new, g_old)
        assert not g_new[:, -1].any()  # the last position predicts nothing
    assert losses.token_logprobs(base, labels)[1].tolist() == (labels[:, 1:] != -100).tolist()
