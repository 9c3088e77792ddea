"""Diagonal NeuralUCB (Zhou, Li & Gu, ICML 2020), run the way INSTINCT (Lin et al., ICML 2024) runs it.

* Surrogate f(x; theta): MLP d -> hidden (ReLU) x depth -> 1. After every observation it is **refit from the same
  initialisation** on all (x, r) seen so far: full-batch Adam (lr, L2 weight_decay = lam / n_observed), MSE, at most
  ``refit_steps`` steps, stopping early once the MSE is <= ``refit_tol`` (NeuralUCB's official stopping rule; 0
  runs every step as INSTINCT does).
* Inputs are standardised with the mean / std of the *observed* contexts (recomputed at each refit).
* Score of a candidate: ``f(x) + sigma(x)`` with ``sigma(x) = sqrt(sum_j lam * nu * g_j(x)^2 / U_j)``, g = the
  gradient of f w.r.t. all p surrogate parameters; U (length p) starts at lam.
* After the pick, ``U += g(x_chosen)^2`` (the chosen arm's gradient only, taken before the refit).

``greedy`` is the same object with nu = 0 (exploit the surrogate, no exploration bonus).

The MLP is written in numpy with hand-written backprop: the refit runs hundreds of tiny full-batch steps per
evaluation, where framework overhead, not arithmetic, dominates (about 3x faster than torch autograd here), and the
per-arm gradients g come out of the same backward pass.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from obliviate.reveal.policies import PolicyConfig, register_policy


class _MLP:
    """ReLU MLP with per-sample parameter gradients. Parameters: [W_1, b_1, ..., W_L, b_L], W_l of shape (out, in)."""

    def __init__(self, d: int, hidden: int, depth: int, std: float | None, seed: int) -> None:
        rng = np.random.default_rng(seed)
        sizes = [d] + [hidden] * depth + [1]
        self.params: list[np.ndarray] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            # std=None: LeCun-normal N(0, 1/fan_in), zero bias (the NTK-style scale of the NeuralUCB analysis).
            self.params.append(rng.normal(size=(b, a)) * (std if std is not None else a**-0.5))
            self.params.append(rng.normal(size=b) * std if std is not None else np.zeros(b))

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """``f`` (n,), layer inputs ``acts`` and pre-activations ``pre`` (for backprop)."""
        acts, pre, a = [], [], x
        n_layers = len(self.params) // 2
        for i in range(n_layers):
            acts.append(a)
            z = a @ self.params[2 * i].T + self.params[2 * i + 1]  # (n, out)
            pre.append(z)
            a = np.maximum(z, 0.0) if i < n_layers - 1 else z
        return a[:, 0], acts, pre

    def backward(self, acts: list[np.ndarray], pre: list[np.ndarray], dout: np.ndarray) -> list[np.ndarray]:
        """Per-sample gradients of ``sum_i dout_i * f(x_i)`` as a list matching ``params``, each (n, *shape)."""
        grads: list[np.ndarray] = [np.empty(0)] * len(self.params)
        delta = dout[:, None]  # (n, 1): d(out)/d(pre-activation) of the last layer
        for i in range(len(self.params) // 2 - 1, -1, -1):
            grads[2 * i] = delta[:, :, None] * acts[i][:, None, :]  # (n, out, in)
            grads[2 * i + 1] = delta  # (n, out)
            if i:
                delta = (delta @ self.params[2 * i]) * (pre[i - 1] > 0)  # (n, in)
        return grads

    def batch_grad(self, acts: list[np.ndarray], pre: list[np.ndarray], dout: np.ndarray) -> list[np.ndarray]:
        """Gradients of ``sum_i dout_i * f(x_i)`` summed over the batch (no (n, out, in) tensors)."""
        grads: list[np.ndarray] = [np.empty(0)] * len(self.params)
        delta = dout[:, None]
        for i in range(len(self.params) // 2 - 1, -1, -1):
            grads[2 * i] = delta.T @ acts[i]
            grads[2 * i + 1] = delta.sum(0)
            if i:
                delta = (delta @ self.params[2 * i]) * (pre[i - 1] > 0)
        return grads


@register_policy("neural_ucb")
class NeuralUCBDiag:
    """Diagonal NeuralUCB over a fixed pool of arms (rows of ``features``)."""

    def __init__(self, features: np.ndarray, cfg: PolicyConfig) -> None:
        self.cfg = cfg
        self.features = np.asarray(features, dtype=np.float64)  # (N, d)
        self.net = _MLP(self.features.shape[1], cfg.hidden, cfg.depth, cfg.init_std, cfg.seed)
        self.init_params = [p.copy() for p in self.net.params]
        self.n_params = sum(p.size for p in self.net.params)
        self.U = np.full(self.n_params, float(cfg.lam))  # (p,) diagonal of Z
        self.obs_arms: list[int] = []
        self.obs_rewards: list[float] = []
        self.mean = np.zeros(self.features.shape[1])
        self.std = np.ones(self.features.shape[1])
        self.last_loss = float("nan")

    def predict(self, arms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Surrogate mean ``f`` (n,) and per-arm parameter gradients ``g`` (n, p) for the given arms."""
        x = (self.features[np.asarray(arms)] - self.mean) / self.std  # (n, d)
        mu, acts, pre = self.net.forward(x)
        g = self.net.backward(acts, pre, np.ones(len(x)))
        return mu, np.concatenate([gi.reshape(len(x), -1) for gi in g], axis=1)

    def ucb(self, arms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(score, mu, g)`` with ``score = mu + sqrt(sum_j lam * nu * g_j^2 / U_j)``."""
        mu, g = self.predict(arms)
        sigma = np.sqrt((self.cfg.lam * self.cfg.nu * g * g / self.U).sum(-1))  # (n,)
        return mu + sigma, mu, g

    def select(self, candidates: np.ndarray) -> int:
        score, _, g = self.ucb(candidates)
        best = int(np.argmax(score))
        self.U += g[best] ** 2  # only the chosen arm's gradient enters the diagonal Z
        return int(candidates[best])

    def update(self, arm: int, reward: float) -> None:
        self.obs_arms.append(int(arm))
        self.obs_rewards.append(float(reward))
        self._refit()

    def _refit(self) -> None:
        x = self.features[self.obs_arms]  # (n_obs, d)
        y = np.asarray(self.obs_rewards)  # (n_obs,)
        self.mean = x.mean(0)
        # One observation has no spread: keep unit scale rather than dividing by zero.
        self.std = x.std(0, ddof=1) + 1e-8 if len(x) > 1 else np.ones_like(self.mean)
        xs = (x - self.mean) / self.std
        self.net.params = [p.copy() for p in self.init_params]  # the same initialisation every time (INSTINCT)
        m = [np.zeros_like(p) for p in self.net.params]
        v = [np.zeros_like(p) for p in self.net.params]
        wd, (b1, b2), lr = self.cfg.lam / len(x), (0.9, 0.999), self.cfg.lr
        for step in range(1, self.cfg.refit_steps + 1):
            f, acts, pre = self.net.forward(xs)
            self.last_loss = float(np.mean((f - y) ** 2))
            if self.last_loss <= self.cfg.refit_tol:
                break
            grads = self.net.batch_grad(acts, pre, 2.0 * (f - y) / len(y))
            for p, g, mi, vi in zip(self.net.params, grads, m, v):
                g = g + wd * p  # torch Adam's (coupled) L2 weight decay
                mi *= b1
                mi += (1 - b1) * g
                vi *= b2
                vi += (1 - b2) * g * g
                p -= lr * (mi / (1 - b1**step)) / (np.sqrt(vi / (1 - b2**step)) + 1e-8)


@register_policy("greedy")
def greedy(features: np.ndarray, cfg: PolicyConfig) -> NeuralUCBDiag:
    """The NeuralUCB surrogate without its exploration bonus (nu = 0)."""
    return NeuralUCBDiag(features, dataclasses.replace(cfg, nu=0.0))
