"""Gold-free hyper-parameter and stopping selection (``obliviate tune``), on Optuna.

    from obliviate import load_config
    from obliviate.tune import TuneSettings, tune
    result = tune(load_config("configs/smoke_tiny.yaml"), TuneSettings(methods=["npo"], trials=6), "runs/tune")
    print(result.selected["npo"], result.doc["studies"]["npo"]["selected"])

A study per method searches the learning rate, the step budget and the method's weights
(:mod:`obliviate.tune.space`); every trial is an ordinary :func:`obliviate.unlearn` run, checked every few steps
and pruned when hopeless; the objective (:mod:`obliviate.tune.objective`) uses only the forget, retain and holdout
sets. A gold model, when given, is only reported (:mod:`obliviate.tune.gold`). Sits above the api layer: nothing
below imports it.
"""

from obliviate.tune.objective import ObjectiveConfig
from obliviate.tune.study import TuneResult, TuneSettings, tune

__all__ = ["ObjectiveConfig", "TuneResult", "TuneSettings", "tune"]
