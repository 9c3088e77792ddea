"""Fine-tune the *original* and the *gold* model on your own corpus (``obliviate finetune``).

    from obliviate.finetune import FinetuneOptions, finetune
    finetune(FinetuneOptions(data="prepared/", out="runs/ft", fresh="tiny"))

Both models follow one recipe and one seed: the original trains on every training row (forget + retain + general),
the gold on the same rows without the forget set. Each trains through the toolkit's one loop
(:func:`obliviate.train.loop.train`) with plain next-token NLL (answer tokens of QA rows, every token of text rows)
until greedy exact match on its own QA rows reaches ``target`` (checked every ``check_every`` steps) or
``max_steps`` is spent. Run folder::

    OUT/original/  OUT/gold/   save_pretrained model + tokenizer, finetune.json (recipe, steps, time, exact match
                               per split), train_log.jsonl, loss_curve.json
    OUT/finetune.json          both records side by side
    OUT/.<name>.partial/       an interrupted model's checkpoint and checks so far (``resume=True`` continues it)

``data`` is a folder written by ``obliviate prepare`` (``forget.jsonl``, ``retain.jsonl``, optional ``general.jsonl``
and ``*_text.jsonl``; ``holdout*`` is never trained on) or a list of files plus ``forget`` files. A model from
scratch (``fresh="tiny"`` / ``"small"``: the built-in world's architectures) gets a byte-level BPE tokenizer trained
offline on every row of the corpus, holdout included, so members and non-members are tokenised alike.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from obliviate.errors import ObliviateError

TRAIN_FILES = ("forget", "forget_text", "retain", "retain_text", "general")
EVAL_SPLITS = ("forget", "retain", "holdout", "general")


@dataclass
class FinetuneOptions:
    """Everything one ``finetune`` call needs; ``recipe()`` is what both models share (written to finetune.json)."""

    data: str | list[str] = ""  # a prepared folder, or corpus files (QA .jsonl and/or .txt)
    out: str = "runs/finetune"
    forget: list[str] = field(default_factory=list)  # forget files when `data` lists files
    model: str | None = None  # local folder / hub id to start from
    fresh: str | None = None  # or a fresh model: tiny | small (the built-in world's architectures)
    vocab_size: int = 2048  # tokenizer size for a fresh model
    target: float = 0.95  # stop once greedy exact match on the model's QA training rows reaches this
    max_steps: int = 3000  # step budget per model
    check_every: int = 0  # steps between exact-match checks (0: every 5 epochs)
    lr: float = 3e-3
    batch_size: int = 32
    warmup_steps: int = 20
    max_length: int = 128
    lora: bool = False  # train LoRA adapters (merged into the saved model) instead of every weight
    seed: int = 0
    models: tuple[str, ...] = ("original", "gold")
    resume: bool = False
    overwrite: bool = False
    progress: bool = True

    def recipe(self) -> dict[str, Any]:
        keep = ("target", "max_steps", "check_every", "lr", "batch_size", "warmup_steps", "max_length", "lora", "seed")
        return {k: getattr(self, k) for k in keep}


def _read(spec: str) -> list[dict]:
    from obliviate.data import load_rows

    return load_rows(spec)


def corpus(opts: FinetuneOptions) -> dict[str, list[dict]]:
    """The rows of every split: ``forget`` / ``retain`` (+ ``*_text``), ``general``, ``holdout`` (eval only)."""
    from obliviate.data.sources import row_key

    if isinstance(opts.data, str) and Path(opts.data).is_dir():
        root = Path(opts.data)
        found = {
            s: _read(str(root / f"{s}.jsonl")) for s in (*TRAIN_FILES, "holdout") if (root / f"{s}.jsonl").is_file()
        }
        if "forget" not in found:
            raise ObliviateError(f"{root} has no forget.jsonl; run `obliviate prepare` first or give --forget FILE")
        return found
    files = [opts.data] if isinstance(opts.data, str) else list(opts.data)
    if not [f for f in files if f] or not opts.forget:
        raise ObliviateError("finetune needs --data (a prepared folder, or corpus files with --forget FILE)")
    forget = [r for f in opts.forget for r in _read(f)]
    keys = {row_key(r) for r in forget}
    rest = [r for f in files if f for r in _read(f) if row_key(r) not in keys]
    return {"forget": forget, "retain": rest}


def training_rows(splits: dict[str, list[dict]], which: str) -> list[dict]:
    """Rows the ``original`` (everything but holdout) or the ``gold`` model (that, minus forget) trains on."""
    names = [s for s in TRAIN_FILES if which == "original" or not s.startswith("forget")]
    return [r for s in names for r in splits.get(s, [])]


def _joined(row: dict) -> str:
    """A QA row as one string, spaced the way :func:`obliviate.data.encode_pair` tokenises it."""
    p, a = row["prompt"], row["answer"]
    return p + ("" if p[-1:].isspace() or a[:1].isspace() else " ") + a


def start_model(opts: FinetuneOptions, splits: dict[str, list[dict]]) -> tuple[Any, Any]:
    """(model, tokenizer) to train: a fresh one (same weights for original and gold: seeded init) or a loaded one."""
    if (opts.model is None) == (opts.fresh is None):
        raise ObliviateError("give exactly one of --model PATH (to fine-tune) or --fresh tiny|small (from scratch)")
    if opts.model is not None:
        from obliviate.config import ModelConfig
        from obliviate.models import load_model_and_tokenizer

        return load_model_and_tokenizer(ModelConfig(path=opts.model))
    from obliviate.data.tokenizer import train_bpe_tokenizer
    from obliviate.model_presets import get_preset, init_model

    texts = [r["text"] if "text" in r and "prompt" not in r else _joined(r) for rows in splits.values() for r in rows]
    tokenizer = train_bpe_tokenizer(texts, opts.vocab_size)
    preset = replace(get_preset(opts.fresh), context=max(128, opts.max_length))
    return init_model(preset, tokenizer, seed=opts.seed), tokenizer


def exact_match(model: Any, tokenizer: Any, rows: list[dict], batch_size: int = 64) -> float | None:
    """Greedy exact match (:func:`obliviate.eval.match.exact_match`) on the QA ``rows``; None when none is QA."""
    from obliviate.data import encode_prompt
    from obliviate.data.sources import is_qa
    from obliviate.eval.match import exact_match as match
    from obliviate.eval.scoring import generate

    qa = [r for r in rows if is_qa(r)]
    if not qa:
        return None
    budget = max(len(tokenizer(r["answer"], add_special_tokens=False)["input_ids"]) for r in qa) + 2
    prompts = [encode_prompt(r["prompt"], tokenizer) for r in qa]
    gens = generate(model, tokenizer, prompts, batch_size=batch_size, max_new_tokens=budget, desc="em", progress=False)
    return sum(match(g, r["answer"]) for g, r in zip(gens, qa)) / len(qa)


CHECKS_FILE = "checks.jsonl"  # in the work folder: the exact-match checks so far, one JSON line each


def train_one(opts: FinetuneOptions, which: str, splits: dict[str, list[dict]], base: tuple[Any, Any]) -> dict:
    """Train ``OUT/<which>`` with :func:`obliviate.train.memorise.memorise` and save it atomically; its record."""
    import copy

    from obliviate.config import LoraConfig, TrainConfig
    from obliviate.train.loop import make_accelerator
    from obliviate.train.lora import attach_lora, merge
    from obliviate.train.memorise import memorise
    from obliviate.utils.io import atomic_dir, atomic_write_json, atomic_write_text, provenance
    from obliviate.utils.repro import fixed_threads

    out, work = Path(opts.out) / which, Path(opts.out) / f".{which}.partial"
    model, tokenizer = copy.deepcopy(base[0]), base[1]  # original and gold start from the same weights
    rows = training_rows(splits, which)
    qa_rows = [r for r in rows if "prompt" in r]
    every = opts.check_every or 5 * -(-len(rows) // opts.batch_size)  # 5 epochs (text windows aside)
    cfg = TrainConfig(
        lr=opts.lr, batch_size=opts.batch_size, max_steps=opts.max_steps, warmup_steps=opts.warmup_steps,
        scheduler="constant", clip_grad=1.0, save_every=every, log_every=1, seed=opts.seed,
    )  # fmt: skip
    if opts.lora:
        model = attach_lora(model, LoraConfig(enabled=True), seed=opts.seed)
    checks: list[dict] = []  # every mid-run check, those before an interruption too (kept in the work folder)

    def reached(info) -> bool:  # the loop's callback: True stops training
        em = exact_match(info.model, tokenizer, qa_rows)
        checks.append({"step": info.step, "exact_match": em})
        if main:
            with open(work / CHECKS_FILE, "a") as f:
                f.write(json.dumps(checks[-1]) + "\n")
        return em is None or em >= opts.target

    if opts.progress:
        print(f"finetune: {which} on {len(rows)} rows, target exact match {opts.target}", file=sys.stderr)
    # Several processes (data parallel or FSDP): all train and evaluate, the main one writes and removes files.
    acc = make_accelerator()
    main = acc.is_main_process
    if main:
        if not opts.resume:
            shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True, exist_ok=True)
    acc.wait_for_everyone()
    if (work / CHECKS_FILE).is_file():  # resumed: the checks the interrupted run made (a check the kill cut short
        # is not repeated: the run resumes after that step's checkpoint)
        lines = (work / CHECKS_FILE).read_text().split("\n")[:-1]  # complete lines (a kill may cut the last)
        checks.extend(json.loads(line) for line in lines)
        if main:  # drop a cut line, so that the next check starts a line of its own
            atomic_write_text(work / CHECKS_FILE, "".join(f"{line}\n" for line in lines))
    # A fresh tiny model trains as the built-in world's do: one thread, the same weights on every machine (and
    # several times faster than threads contending on a busy CPU; obliviate.utils.repro explains why)
    with fixed_threads() if opts.fresh else contextlib.nullcontext():
        run = memorise(model, tokenizer, rows, cfg, work, max_length=opts.max_length, progress=opts.progress,
                       callback=reached, callback_every=every, resume=opts.resume, accelerator=acc)  # fmt: skip
    model = merge(model) if opts.lora else model
    trained = exact_match(model, tokenizer, qa_rows)
    record = {
        "model": which,
        "trained_on": [s for s in TRAIN_FILES if s in splits and (which == "original" or "forget" not in s)],
        "start": opts.model or f"fresh:{opts.fresh}",
        "recipe": opts.recipe(),
        "rows": len(rows),
        **run,
        "exact_match_trained": trained,
        "reached_target": trained is None or trained >= opts.target,
        "checks": checks,
        "exact_match": {s: exact_match(model, tokenizer, splits.get(s, [])) for s in EVAL_SPLITS},
        **provenance(),
    }
    if main:
        with atomic_dir(out) as tmp:
            model.generation_config.pad_token_id = tokenizer.pad_token_id
            model.save_pretrained(str(tmp), safe_serialization=True)
            tokenizer.save_pretrained(str(tmp))
            for name in ("train_log.jsonl", "loss_curve.json"):
                shutil.copy(work / name, tmp / name)
            atomic_write_json(tmp / "finetune.json", record)
        shutil.rmtree(work, ignore_errors=True)
    acc.wait_for_everyone()
    return record


def finetune(opts: FinetuneOptions) -> dict[str, Any]:
    """Train (or, on resume, finish) the models ``opts.models`` into ``opts.out``; returns ``OUT/finetune.json``.

    Raises:
        ObliviateError: bad options or data, or ``OUT`` holds models already (pass overwrite or resume).
    """
    from obliviate.models import ensure_pad
    from obliviate.utils.io import atomic_write_json

    root = Path(opts.out)
    done = {m: (root / m / "finetune.json").is_file() for m in opts.models}
    if any(done.values()) and not (opts.overwrite or opts.resume):
        raise ObliviateError(f"{root} already holds fine-tuned models; pass --resume to finish it or --overwrite")
    if unknown := set(opts.models) - {"original", "gold"}:
        raise ObliviateError(f"unknown model(s) {sorted(unknown)}; finetune trains 'original' and/or 'gold'")
    if not 0 < opts.target <= 1:
        raise ObliviateError(f"--target must be in (0, 1] (got {opts.target}); e.g. 0.95")
    splits = corpus(opts)
    t0 = time.time()
    base = start_model(opts, splits)
    ensure_pad(*base)
    records = {}
    for which in opts.models:
        if done[which] and opts.resume:
            records[which] = json.loads((root / which / "finetune.json").read_text())
            continue
        records[which] = train_one(opts, which, splits, base)
    summary = {
        "recipe": opts.recipe(),
        "models": records,
        "time_s": round(time.time() - t0, 2),
        "splits": {s: len(r) for s, r in splits.items()},
        "options": {**asdict(opts), "progress": None},
    }
    from accelerate import PartialState  # the processes train_one's accelerator started

    if PartialState().is_main_process:
        atomic_write_json(root / "finetune.json", summary)
    return summary
