"""Run the Optuna studies of ``obliviate tune``: one study per method, each trial an ordinary ``unlearn`` run.

Output folder::

    tune_settings.json        the base run config and tune settings (marks the folder; a resume must match it)
    study.db                  the Optuna storage (default ``sqlite:///<out>/study.db``; any SQLAlchemy URL instead)
    <method>/trials/<NNNN>/   each trial's run folder (a pruned trial keeps its log and summary, not its model)
    <method>/selected/        a copy of the selected trial's run folder (summary.json gains a ``tune`` record)
    tune.json                 every trial of every study: parameters, scores, state, pruning reason, gold FQ
    report/                   tune.md with the Pareto front, selected point and parameter-importance plots

A killed tune loses only the trials in flight: finished trials are in the storage, and the next ``obliviate tune``
with the same ``--out`` continues until ``--trials`` trials have finished. A trial whose process died (its heartbeat
stopped) is marked failed and retried once with the same parameters; one whose process is known to be gone (it ran
on this host under a pid that no longer exists, or it died before recording who ran it) is marked failed when the
study is opened again. Several processes (or machines, with a shared
database URL) on one study each draw new trials and stop together when the study has ``--trials`` finished trials.

Launched on several processes (``torchrun``, ``accelerate launch``, with or without the FSDP config) the processes
are one worker: the main process draws each trial and all of them train it together (:mod:`obliviate.tune.group`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock
from tqdm.auto import tqdm

from obliviate.config import RunConfig, to_dict
from obliviate.errors import ObliviateError
from obliviate.tune.gold import GoldReporter
from obliviate.tune.group import Group, together
from obliviate.tune.objective import ObjectiveConfig, Probe, hopeless, measure, score, select
from obliviate.tune.space import Space, apply
from obliviate.utils.io import atomic_dir, atomic_write_json

log = logging.getLogger(__name__)

SETTINGS_FILE = "tune_settings.json"
RETAIN_ROWS = 256  # retain examples the objective measures (the first ones, as the continual stop rule)


@dataclass
class TuneSettings:
    """What ``obliviate tune`` searches and how (everything except the base run config)."""

    methods: list[str] = field(default_factory=lambda: ["npo"])
    trials: int = 12  # finished (complete or pruned) trials per study
    sampler: str = "tpe"  # tpe | grid
    grid_points: int = 3  # grid sampler: values per parameter
    lr: tuple[float, float] = (1e-5, 3e-3)
    steps: tuple[int, int] = (20, 80)
    check_every: int = 10  # optimiser steps between the mid-run checks (and the step grid)
    probe_rows: int = 64  # forget / holdout / retain rows of each mid-run check
    pruner: str = "hopeless"  # hopeless (rules in objective.hopeless) | median (+ Optuna's MedianPruner) | none
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    seed: int = 0  # sampler seed (train.seed comes from the run config)
    storage: str | None = None  # SQLAlchemy URL; None: sqlite:///<out>/study.db
    heartbeat: int = 60  # seconds between a running trial's heartbeats; stale after 2x
    gold: str | None = None  # gold model, only to report each trial's forget quality
    eval_suite: str = "world"
    eval_data: str | None = None  # the suite's --data; None: taken from a world: forget spec


@dataclass
class TuneResult:
    out: Path
    doc: dict[str, Any]  # tune.json
    selected: dict[str, Path | None]  # method -> selected run folder (None: no trial within the retain budget)


def tune(cfg: RunConfig, settings: TuneSettings, out: str | Path, *, overwrite: bool = False, progress: bool = True):
    """Tune every method in ``settings.methods`` on ``cfg``'s model and data (see the module docstring).

    Raises:
        ObliviateError: bad settings, missing retain / holdout data or an output folder that is not a tune's
            (under a multi-process launch every process raises the main process's error).
    """
    import optuna

    from obliviate.tune.report import write_tune_outputs

    procs = Group.start()  # several processes: this one drives the study or follows it (obliviate.tune.group)
    if procs is not None and not procs.main:
        return procs.follow()
    out = Path(out)
    try:
        spaces = _check(cfg, settings, out)
        _prepare_out(out, cfg, settings, overwrite)
        storage = _storage(settings, out)
        ctx = _Context.build(cfg, settings, out, procs)
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the bar and tune.json report trials; lines break it
        studies = {}
        for method, space in spaces.items():
            studies[method] = _run_study(ctx, method, space, storage, progress)
        with FileLock(out / ".outputs.lock"):  # processes sharing the study finish together: one writes at a time
            result = write_tune_outputs(ctx, studies)
    except Exception as e:
        if procs is not None:
            procs.fail(e)  # the other processes raise it too instead of waiting for the next trial
        raise
    if procs is not None:
        procs.send("done", result)
    return result


def _check(cfg: RunConfig, settings: TuneSettings, out: Path) -> dict[str, Space]:
    from obliviate.api import check_config

    if not (cfg.data.retain and cfg.data.holdout):
        raise ObliviateError(
            "tune needs data.retain and data.holdout (rows of the same kind the model never saw): the objective "
            "compares the forget set with the holdout set under a retain budget"
        )
    if settings.trials < 1 or settings.sampler not in ("tpe", "grid") or settings.pruner not in PRUNERS:
        raise ObliviateError(
            f"--trials must be >= 1, --sampler tpe|grid, --pruner {'|'.join(PRUNERS)} (got {settings.trials}, "
            f"{settings.sampler!r}, {settings.pruner!r})"
        )
    if not 0 <= settings.objective.budget < 1 or settings.objective.tolerance < 0:
        raise ObliviateError("--retain-budget must be in [0, 1) and --tolerance >= 0")
    if not settings.methods:
        raise ObliviateError("no methods given; pass --methods npo,graddiff")
    spaces = {}
    for m in settings.methods:
        spaces[m] = Space(m, settings.lr, settings.steps, settings.check_every)
        spaces[m].check()
        point = {"lr": settings.lr[0], "steps": settings.steps[0], **{p.name: p.low for p in spaces[m].params}}
        # A path no trial uses: trial 0000 may be running (locked) in another process sharing the study.
        check_config(_trial_config(cfg, m, point, out / m / "trials" / "config-check", 1))
    return spaces


def _prepare_out(out: Path, cfg: RunConfig, settings: TuneSettings, overwrite: bool) -> None:
    """New or empty folder: start; an earlier tune: resume (same settings) or replace (``overwrite``); anything
    else is never touched."""
    marker = out / SETTINGS_FILE
    doc = {"run_config": to_dict(cfg), "settings": json.loads(json.dumps(asdict(settings)))}
    if out.exists() and not out.is_dir():
        raise ObliviateError(f"--out {str(out)!r} is a file; choose a folder path")
    if out.is_dir() and any(out.iterdir()):
        if not marker.is_file():
            raise ObliviateError(f"--out {str(out)!r} is not empty and holds no earlier tune; choose a new folder")
        if overwrite:
            shutil.rmtree(out)
        else:
            old = json.loads(marker.read_text())
            keep = {"trials", "methods", "heartbeat", "storage"}  # may change when resuming: budget, who runs what
            if {k: v for k, v in old["settings"].items() if k not in keep} != {
                k: v for k, v in doc["settings"].items() if k not in keep
            } or old["run_config"] != doc["run_config"]:
                raise ObliviateError(
                    f"--out {str(out)!r} holds a tune with other settings; resume it with the same ones, or pass "
                    "--overwrite to start again"
                )
            log.info("resuming the tune in %s", out)
    atomic_write_json(marker, doc)


def _storage(settings: TuneSettings, out: Path) -> Any:
    """RDB storage with heartbeats (a dead process's trial is failed and retried once) and, for SQLite, a long
    lock timeout so several processes can share the file."""
    import optuna
    import sqlalchemy.exc
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    url = settings.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    engine = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats: stable enough
    for attempt in range(3):  # two processes creating the tables of a new database at once: one retries
        try:
            return RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=settings.heartbeat,
                grace_period=2 * settings.heartbeat,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
            )  # fmt: skip
        except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError) as e:  # raced
            if attempt == 2:
                raise ObliviateError(f"cannot open --storage {url!r}: {e}") from None
            time.sleep(1 + attempt)
        except (ImportError, ValueError) as e:
            raise ObliviateError(f"cannot open --storage {url!r}: {e}") from None


def _trial_config(cfg: RunConfig, method: str, point: dict[str, Any], run_dir: Path, check_every: int) -> RunConfig:
    from dataclasses import replace

    args = apply(cfg.method.args if cfg.method.name == method else {}, point)
    return replace(
        cfg,
        method=replace(cfg.method, name=method, args=args),
        train=replace(cfg.train, lr=float(point["lr"]), max_steps=int(point["steps"]), save_every=0),
        output_dir=str(run_dir),
        overwrite=True,
        resume=False,
        stop_check_every=check_every,
    )


@dataclass
class _Context:
    """What every trial shares: the base config, settings, the probe and the original model's scores."""

    cfg: RunConfig
    settings: TuneSettings
    out: Path
    tokenizer: Any
    probe: Probe
    original: dict[str, Any]  # score() of the original model on the full probe
    original_check: dict[str, Any]  # ... and on the mid-run probe
    gold: GoldReporter | None
    procs: Group | None  # several processes: every trial is sent to the others, which train it too

    @classmethod
    def build(cls, cfg: RunConfig, settings: TuneSettings, out: Path, procs: Group | None = None) -> _Context:
        from obliviate.data import build_data
        from obliviate.models import load_model_and_tokenizer
        from obliviate.tune.objective import independent_units

        model, tok = load_model_and_tokenizer(cfg.model)
        data = build_data(cfg.data, tok, seed=cfg.train.seed)
        probe = Probe(
            data.forget, data.holdout, data.retain[:RETAIN_ROWS],
            independent_units(data.forget_rows), independent_units(data.holdout_rows),
        )  # fmt: skip
        small = probe.head(settings.probe_rows)
        full_m, small_m = measure(model, tok, probe), measure(model, tok, small)
        obj = settings.objective
        original = score(full_m, probe, full_m["retain_acc"], obj)
        original_check = score(small_m, small, small_m["retain_acc"], obj)
        del model
        gold = GoldReporter.build(cfg, settings, out) if settings.gold else None
        return cls(cfg, settings, out, tok, probe, original, original_check, gold, procs)


class _Monitor:
    """The mid-run check of one trial (a train callback): score the small probe, report it to Optuna, and stop
    the run when it is hopeless or the pruner says so."""

    def __init__(self, trial: Any, ctx: _Context) -> None:
        self.trial, self.ctx = trial, ctx
        self.probe = ctx.probe.head(ctx.settings.probe_rows)
        self.reason: str | None = None
        self.last: dict[str, Any] | None = None

    def __call__(self, info: Any) -> bool:
        obj = self.ctx.settings.objective
        s = score(measure(info.model, self.ctx.tokenizer, self.probe), self.probe,
                  self.ctx.original_check["retain_acc"], obj)  # fmt: skip
        self.last = s
        self.trial.report(s["distance"], info.step)
        if self.ctx.settings.pruner != "none":
            self.reason = hopeless(s, self.probe.n_forget, self.probe.n_holdout, obj.budget)
        if self.reason is None and self.trial.should_prune():
            self.reason = f"pruner: distance {s['distance']:.3f} at step {info.step} is worse than the median"
        return self.reason is not None


def _objective(ctx: _Context, method: str, space: Space):
    import optuna

    from obliviate.api import unlearn, work_dir
    from obliviate.train.loop import NonFiniteLossError

    def run(trial: Any) -> float:
        point = space.suggest(trial)
        run_dir = ctx.out / method / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # who ran it (shared studies)
        trial.set_user_attr("point", point)
        trial.set_user_attr("violation", 1.0)  # infeasible until measured (the report's view; see _violation)
        monitor = _Monitor(trial, ctx)
        trial_cfg = _trial_config(ctx.cfg, method, point, run_dir, space.step)
        t0 = time.time()
        try:
            with together(ctx.procs, trial_cfg):  # several processes: all of them train it
                result = unlearn(trial_cfg, progress=False, callback=monitor)
        except NonFiniteLossError as e:
            shutil.rmtree(work_dir(run_dir), ignore_errors=True)
            _violation(trial, 1.0)
            trial.set_user_attr("pruned_reason", f"non-finite loss: {e}")
            raise optuna.TrialPruned(str(e)) from None
        trial.set_user_attr("time_s", round(time.time() - t0, 2))
        if monitor.reason is not None:
            shutil.rmtree(result.model_dir, ignore_errors=True)  # never selected: keep the log, not the weights
            trial.set_user_attr("pruned_reason", monitor.reason)
            trial.set_user_attr("check", monitor.last)
            _violation(trial, monitor.last["violation"])
            raise optuna.TrialPruned(monitor.reason)
        s = score(measure(result.model, ctx.tokenizer, ctx.probe), ctx.probe, ctx.original["retain_acc"],
                  ctx.settings.objective)  # fmt: skip
        trial.set_user_attr("scores", s)
        _violation(trial, s["violation"])
        if ctx.gold is not None:
            trial.set_user_attr("gold", ctx.gold.report(result.model_dir, run_dir))
        return s["distance"]

    return run


def _violation(trial: Any, value: float) -> None:
    """The retain-budget violation (<= 0: feasible), for the report and as the sampler's constraint (set once per
    trial; a running trial has none, and TPE ignores running trials' feasibility)."""
    trial.set_user_attr("violation", value)
    trial.set_constraint("retain_budget", value)


PRUNERS = ("hopeless", "median", "none")


def _sampler(settings: TuneSettings, space: Space) -> Any:
    import optuna

    if settings.sampler == "grid":
        return optuna.samplers.GridSampler(space.grid(settings.grid_points), seed=settings.seed)
    # constrained TPE: the trials' retain_budget constraint (set_constraint) marks infeasible ones
    return optuna.samplers.TPESampler(seed=settings.seed, n_startup_trials=min(4, settings.trials))


def finished(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def _run_study(ctx: _Context, method: str, space: Space, storage: Any, progress: bool) -> Any:
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    s = ctx.settings
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3) if s.pruner == "median" else optuna.pruners.NopPruner()
    study = optuna.create_study(
        storage=storage, study_name=f"obliviate-{method}", direction="minimize", sampler=_sampler(s, space),
        pruner=pruner, load_if_exists=True,
    )  # fmt: skip
    fail_orphans(study, storage, grace=2 * s.heartbeat)
    done = len(finished(study))
    bar = tqdm(total=s.trials, initial=min(done, s.trials), desc=f"tune {method}", unit="trial", disable=not progress)

    def update(study: Any, trial: Any) -> None:
        bar.update(trial.state in (TrialState.COMPLETE, TrialState.PRUNED))
        chosen = select({t.number: t.user_attrs["scores"] for t in study.get_trials(deepcopy=False)
                         if t.state == TrialState.COMPLETE and "scores" in t.user_attrs})  # fmt: skip
        if chosen is not None:
            best = study.trials[chosen].user_attrs["scores"]
            bar.set_postfix_str(f"best #{chosen}: distance {best['distance']:.3f}, AUC {best['auc']:.3f}")

    if done < s.trials:
        stop = MaxTrialsCallback(s.trials, states=(TrialState.COMPLETE, TrialState.PRUNED))
        study.optimize(_objective(ctx, method, space), n_trials=s.trials - done, callbacks=[stop, update],
                       catch=(ObliviateError,))  # fmt: skip
    bar.close()
    return study


def fail_orphans(study: Any, storage: Any, grace: float) -> list[int]:
    """Mark failed the RUNNING trials whose process is gone but whose heartbeat cannot say so: optuna fails only
    trials with a stale heartbeat, and a process killed between creating a trial and its first heartbeat leaves it
    RUNNING for ever. Failed here: a trial run on this host by a pid that no longer exists, or one started more than
    ``grace`` seconds ago that never recorded its worker. Returns the numbers of the trials failed."""
    from optuna.trial import TrialState

    host, now, failed = socket.gethostname(), datetime.now(), []  # optuna stores naive local start times
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        if worker:
            where, _, pid = worker.rpartition(":")
            gone = where == host and pid.isdigit() and not _alive(int(pid))
        else:
            gone = t.datetime_start is not None and (now - t.datetime_start).total_seconds() > grace
        if gone:
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            failed.append(t.number)
    if failed:
        log.info("marked trial(s) %s failed: their process is gone", ", ".join(map(str, failed)))
    return failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def copy_selected(src: Path, dst: Path, record: dict[str, Any]) -> None:
    """Copy the selected trial's run folder to ``dst`` atomically; its summary.json gains the ``tune`` record."""
    with atomic_dir(dst) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
        summary = json.loads((tmp / "summary.json").read_text())
        atomic_write_json(tmp / "summary.json", {**summary, "tune": record})
