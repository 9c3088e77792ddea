"""The deletion receipt: ``receipt.json`` in every run folder says what the run read and wrote, as SHA-256 hashes.

    write_receipt(work, cfg, resumed=False)        # the unlearn pipeline, just before the run folder is finished
    problems = verify_receipt("runs/npo")          # [] when every hashed file still matches

Recorded: each forget / retain / holdout source (the bytes of a local file or of every file of a dataset folder; the
rows as loaded, canonical JSON, for generated or hub sources such as ``world:forget10``), the base model's weight
files, the output's weight files (paths relative to the run folder), the resolved config, the seed, whether the run
was resumed and from which checkpoint (request, step), library versions with the git SHA, and, when present in the
folder, the evaluation results (``eval.json``) and the certificate's verdict (``certificate.json``) with hashes.
:func:`refresh_results` records those two after ``obliviate eval`` / ``certify`` wrote them into a finished run.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from obliviate.errors import ObliviateError
from obliviate.utils.io import atomic_write_json, provenance

RECEIPT = "receipt.json"
FORMAT = 1
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
LIBRARIES = ("torch", "transformers", "peft", "accelerate", "datasets", "safetensors")
RESULT_FILES = ("eval.json", "certificate.json")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _hash_files(paths: list[Path], root: Path | None = None) -> dict[str, str]:
    return {str(p.relative_to(root) if root else p): sha256_file(p) for p in sorted(paths)}


def _weights(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)]


def _rows_sha256(rows: list[dict[str, Any]]) -> str:
    blob = json.dumps(rows, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def data_entry(spec: str, column: str = "text") -> dict[str, Any]:
    """Hashes of one data source: its file(s) when local, else the rows as loaded."""
    local = Path(spec.rsplit("@", 1)[0]).expanduser()  # a datasets folder may carry "@split"
    if local.is_file():
        return {"spec": spec, "files": _hash_files([local.resolve()])}
    if local.is_dir():
        return {"spec": spec, "files": _hash_files([p.resolve() for p in local.rglob("*") if p.is_file()])}
    from obliviate.data.sources import load_rows

    rows = load_rows(spec, column=column)
    return {"spec": spec, "rows": len(rows), "rows_sha256": _rows_sha256(rows)}


def _generated(run_dir: Path, name: str) -> dict[str, Any]:
    """A forget file the run wrote itself, hashed by its path inside the run folder."""
    return {"spec": name, "generated": True, "files": _hash_files([run_dir / name], root=run_dir)}


def model_entry(spec: str) -> dict[str, Any]:
    """Hashes of the weight files of a model spec: a local folder, ``world:tiny`` ..., or a hub id, whose files are
    read from the local Hugging Face cache the run loaded them from (with the snapshot's commit as ``revision``)."""
    from obliviate.models import resolve_path

    path = Path(resolve_path(spec))
    if path.is_dir():
        return {"spec": spec, "path": str(path.resolve()), "files": _hash_files([p.resolve() for p in _weights(path)])}
    snapshot = _hub_snapshot(str(path))
    if snapshot is None:
        note = "neither a local folder nor in the local Hugging Face cache: weight files not hashed"
        return {"spec": spec, "path": str(path), "files": {}, "note": note}
    # Snapshot files are links into the cache's blobs: named by their snapshot path, hashed by content.
    return {"spec": spec, "path": str(snapshot), "revision": snapshot.name, "files": _hash_files(_weights(snapshot))}


def _hub_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of hub model ``repo_id`` (no download), None when it is not cached."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError):
        return None


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return {**out, "python": sys.version.split()[0], **provenance()}


def _results(run_dir: Path) -> dict[str, Any]:
    """The evaluation and certificate found in the run folder (values, verdict, file hashes)."""
    out: dict[str, Any] = {"evaluation": None, "certificate": None}
    ev, cert = run_dir / "eval.json", run_dir / "certificate.json"
    if ev.is_file():
        doc = json.loads(ev.read_text(encoding="utf-8"))
        values = {k: e.get("value") for k, e in doc.get("metrics", {}).items()}
        out["evaluation"] = {"suite": doc.get("suite"), "metrics": values, "sha256": sha256_file(ev)}
    if cert.is_file():
        doc = json.loads(cert.read_text(encoding="utf-8"))
        verdict = doc.get("verdict") or {}
        status, text = verdict.get("status"), verdict.get("text")
        out["certificate"] = {"verdict": status, "text": text, "sha256": sha256_file(cert)}
    return out


def build_receipt(
    run_dir: str | Path,
    cfg: Any,
    *,
    resumed: bool = False,
    resumed_at: dict[str, Any] | None = None,
    generated_forget: list[str] = (),
) -> dict[str, Any]:
    """The receipt of the run in ``run_dir`` (its work folder before the final rename) for the config ``cfg``.

    ``resumed_at``: the checkpoint meta a resumed run continued from (``request``, ``step``; Reveal-and-Release:
    the first unfinished round's request = round - 1, step 0), None for a fresh run or a resume that found no
    checkpoint. ``generated_forget``: forget files the run made itself
    (Reveal-and-Release), relative to ``run_dir``.
    """
    from obliviate.config import to_dict

    run_dir = Path(run_dir)
    data = cfg.data
    column = getattr(data, "column", "text")
    sources: dict[str, list[dict[str, Any]]] = {
        "forget": [data_entry(s, column) for s in data.forget] + [_generated(run_dir, g) for g in generated_forget],
        "retain": [data_entry(data.retain, column)] if data.retain else [],
        "holdout": [data_entry(data.holdout, column)] if data.holdout else [],
    }
    return {
        "format": FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": sources,
        "base_model": model_entry(cfg.model.path),
        "output": {"files": _hash_files(_weights(run_dir), root=run_dir)},
        "config": to_dict(cfg),
        "seed": cfg.train.seed,
        "resumed": {
            "resumed": resumed,
            "from": {k: resumed_at.get(k) for k in ("request", "step")} if resumed_at else None,
        },
        "versions": versions(),
        **_results(run_dir),
    }


def write_receipt(run_dir: str | Path, cfg: Any, **kw: Any) -> Path:
    """Build the receipt (see :func:`build_receipt`) and write ``run_dir/receipt.json`` atomically."""
    path = Path(run_dir) / RECEIPT
    atomic_write_json(path, build_receipt(run_dir, cfg, **kw))
    return path


def read_receipt(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / RECEIPT
    if not path.is_file():
        raise ObliviateError(f"{path} not found; receipts are written by `obliviate unlearn` into its run folder")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ObliviateError(f"{path} is not valid JSON ({e}); the receipt was damaged") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ObliviateError(f"{path} is not a receipt of format {FORMAT}")
    return doc


def refresh_results(run_dir: str | Path) -> None:
    """Record the run folder's current eval.json / certificate.json in its receipt (no-op without a receipt)."""
    path = Path(run_dir) / RECEIPT
    if path.is_file():
        atomic_write_json(path, {**read_receipt(run_dir), **_results(Path(run_dir))})


def _compare(label: str, recorded: dict[str, str], root: Path | None) -> list[str]:
    problems = []
    for name, digest in recorded.items():
        p = root / name if root else Path(name)
        if not p.is_file():
            problems.append(f"{label}: {p} is missing")
        elif sha256_file(p) != digest:
            problems.append(f"{label}: {p} differs")
    return problems


def verify_receipt(run_dir: str | Path) -> list[str]:
    """Recompute every hash of the receipt in ``run_dir``; returns one line per file that no longer matches."""
    run_dir = Path(run_dir)
    doc = read_receipt(run_dir)
    column = doc.get("config", {}).get("data", {}).get("column", "text")
    problems: list[str] = []
    for split, entries in doc["data"].items():
        for e in entries:
            if "files" in e:
                problems += _compare(f"{split} data {e['spec']}", e["files"], run_dir if e.get("generated") else None)
                continue
            try:
                now = data_entry(e["spec"], column)
            except ObliviateError as err:
                problems.append(f"{split} data {e['spec']}: cannot be loaded any more ({err})")
                continue
            if now.get("rows_sha256") != e["rows_sha256"]:
                problems.append(f"{split} data {e['spec']}: the rows differ")
    problems += _compare("base model", doc["base_model"].get("files", {}), None)
    output = doc["output"]["files"]
    problems += _compare("output", output, run_dir)
    extra = set(_hash_files(_weights(run_dir), root=run_dir)) - set(output)
    problems += [f"output: {run_dir / name} was added after the run" for name in sorted(extra)]
    for key, name in (("evaluation", "eval.json"), ("certificate", "certificate.json")):
        if doc.get(key):
            problems += _compare(key, {name: doc[key]["sha256"]}, run_dir)
    return problems
