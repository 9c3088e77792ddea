"""Reveal-and-Release: find what a model knows with bandit-chosen instructions, then unlearn it in orthogonal LoRA
rounds (docs/reveal_release.md).

Modules: :mod:`.scorers` (text -> [0, 1], registry ``SCORERS``), :mod:`.pool` (instruction pools),
:mod:`.policies` / :mod:`.neural_ucb` (bandit policies ``neural_ucb``, ``greedy``, ``random``), :mod:`.generate`
(sampling, features, forget-set filtering), :mod:`.runner` (one Reveal run), :mod:`.olora` (stacked round
adapters, O-LoRA loss, negation), :mod:`.release` (the rounds), :mod:`.pipeline` (config -> run directory) and
:mod:`.tasks` (built-in synthetic tasks with tiny models). The per-round objective is
:mod:`.objective`; :mod:`.plugin` registers the whole run as the pipeline ``reveal_release`` (``method.name``).
"""
