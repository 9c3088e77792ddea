"""Diagonal NeuralUCB (Zhou, Li & Gu, ICML 2020), run the way INSTINCT (Lin et al., ICML 2024) runs it.

* Surrogate f(x; theta): MLP d -> hidden (ReLU) x depth -> 1, weights and biases ~ N(0, init_std^2). After every
  observation it is **refit from the same initialisation** on all (x, r) seen so far: full-batch Adam (lr,
  weight_decay = lam / n_observed), MSE, ``refit_steps`` steps.
* Inputs are standardised with the mean / std of the *observed* contexts (recomputed at each refit).
* Score of a candidate: ``f(x) + sigma(x)`` with ``sigma(x) = sqrt(sum_j lam * nu * g_j(x)^2 / U_j)``, g = the
  gradient of f w.r.t. all p surrogate parameters; U (length p) starts at lam.
* After the pick, ``U += g(x_chosen)^2`` (the chosen arm's gradient only, taken before the refit).

``greedy`` is the same object with nu = 0 (exploit the surrogate, no exploration bonus).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from obliviate.reveal.policies import PolicyConfig, register_policy


def _mlp(d: int, hidden: int, depth: int, std: float | None, seed: int) -> nn.Sequential:
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    sizes = [d] + [hidden] * depth
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], 1))
    with torch.no_grad():
        for m in layers:
            if isinstance(m, nn.Linear):
                # std=None: LeCun-normal N(0, 1/fan_in) (the NTK-style scale of the NeuralUCB analysis).
                s = std if std is not None else m.in_features**-0.5
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * s)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * (std if std is not None else 0.0))
    return nn.Sequential(*layers)


@register_policy("neural_ucb")
class NeuralUCBDiag:
    """Diagonal NeuralUCB over a fixed pool of arms (rows of ``features``)."""

    def __init__(self, features: np.ndarray, cfg: PolicyConfig) -> None:
        self.cfg = cfg
        self.features = torch.as_tensor(features, dtype=torch.float32)  # (N, d)
        self.net = _mlp(self.features.shape[1], cfg.hidden, cfg.depth, cfg.init_std, cfg.seed)
        self.init_state = {k: v.clone() for k, v in self.net.state_dict().items()}
        self.n_params = sum(p.numel() for p in self.net.parameters())
        self.U = torch.full((self.n_params,), float(cfg.lam))  # (p,) diagonal of Z
        self.obs_arms: list[int] = []
        self.obs_rewards: list[float] = []
        self.mean = torch.zeros(self.features.shape[1])
        self.std = torch.ones(self.features.shape[1])
        self.last_loss = float("nan")

    def _standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def predict(self, arms: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Surrogate mean ``f`` (n,) and per-arm parameter gradients ``g`` (n, p) for the given arms."""
        x = self._standardise(self.features[torch.as_tensor(arms, dtype=torch.long)])  # (n, d)
        params = {k: v.detach() for k, v in self.net.named_parameters()}

        def f_single(p: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
            return functional_call(self.net, p, (xi.unsqueeze(0),)).squeeze()

        grads = vmap(grad(f_single), in_dims=(None, 0))(params, x)  # name -> (n, *shape)
        g = torch.cat([grads[k].reshape(len(x), -1) for k in params], dim=1)  # (n, p)
        with torch.no_grad():
            mu = self.net(x).squeeze(-1)  # (n,)
        return mu, g

    def ucb(self, arms: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(score, mu, g)`` with ``score = mu + sqrt(sum(lam * nu * g^2 / U))``."""
        mu, g = self.predict(arms)
        sigma = torch.sqrt((self.cfg.lam * self.cfg.nu * g.pow(2) / self.U).sum(-1))  # (n,)
        return mu + sigma, mu, g

    def select(self, candidates: np.ndarray) -> int:
        score, _, g = self.ucb(candidates)
        best = int(torch.argmax(score))
        self.U += g[best].pow(2)  # only the chosen arm's gradient enters the diagonal Z
        return int(candidates[best])

    def update(self, arm: int, reward: float) -> None:
        self.obs_arms.append(int(arm))
        self.obs_rewards.append(float(reward))
        self._refit()

    def _refit(self) -> None:
        x = self.features[torch.as_tensor(self.obs_arms, dtype=torch.long)]  # (n_obs, d)
        y = torch.tensor(self.obs_rewards, dtype=torch.float32)  # (n_obs,)
        self.mean = x.mean(0)
        # One observation has no spread: keep unit scale rather than dividing by zero.
        self.std = x.std(0, unbiased=True) + 1e-8 if len(x) > 1 else torch.ones_like(self.mean)
        self.net.load_state_dict(self.init_state)  # the same initialisation every time (INSTINCT)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.lam / len(x))
        xs = self._standardise(x)
        with torch.enable_grad():
            for _ in range(self.cfg.refit_steps):
                opt.zero_grad(set_to_none=True)
                loss = nn.functional.mse_loss(self.net(xs).squeeze(-1), y)
                loss.backward()
                opt.step()
        self.last_loss = float(loss.detach()) if self.cfg.refit_steps else float("nan")


@register_policy("greedy")
def greedy(features: np.ndarray, cfg: PolicyConfig) -> NeuralUCBDiag:
    """The NeuralUCB surrogate without its exploration bonus (nu = 0)."""
    return NeuralUCBDiag(features, dataclasses.replace(cfg, nu=0.0))
