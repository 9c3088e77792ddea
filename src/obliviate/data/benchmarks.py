"""TOFU and MUSE loaders from local copies of their published files, returning uniform rows.

TOFU (Maini et al. 2024, arXiv:2401.06121; files of ``locuslab/TOFU``): ``<split>.json`` in JSON-lines form
(``forget10.json``, ``retain90.json``, ``forget10_perturbed.json``, ``retain_perturbed.json``,
``real_authors_perturbed.json``, ``world_facts_perturbed.json``...). Records hold ``question`` and ``answer``;
perturbed splits add ``paraphrased_answer`` (str), ``perturbed_answer`` (list of str) and, for some splits,
``paraphrased_question``. Rows: ``{"prompt", "answer", "question", ...}`` with every extra key kept; perturbed rows
also get ``perturbed_answers`` (the list, under the key the built-in world uses), so the truth-ratio metric reads
one key for every benchmark.

MUSE (Shi et al. 2024, arXiv:2407.06460; layout of ``swj0419/muse_bench`` ``data/<corpus>/``):

- ``raw/<split>.txt`` (``forget``, ``retain1``, ``retain2``, ``holdout``): raw text -> one windowed ``{"text"}`` row;
- ``knowmem/<split>.json`` (``forget_qa``, ``retain_qa``, ``*_icl``): list of ``{"question", "answer"}``;
- ``verbmem/forget.json``: list of ``{"prompt", "gt"}`` -> ``{"prompt", "answer"=gt, "gt"}``;
- ``privleak/<split>.json`` (``forget``, ``retain``, ``holdout``): list of strings (or ``{"text"}``) -> ``{"text"}``.

Specs: ``tofu:DIR/SPLIT`` and ``muse:DIR/KIND/SPLIT``, registered here as :mod:`obliviate.resolvers` prefixes, so
:func:`obliviate.data.sources.load_rows` and the eval suites read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from obliviate.data.sources import load_txt, normalise_record, read_json_records
from obliviate.errors import ObliviateError
from obliviate.resolvers import Resolver, register_resolver

MUSE_KINDS = ("raw", "knowmem", "verbmem", "privleak")
_TOFU_PERTURBED = ("paraphrased_answer", "perturbed_answer")


def _tofu_rows(rest: str) -> list[dict[str, Any]]:
    """``tofu:DIR/SPLIT`` (``rest`` = ``DIR/SPLIT``)."""
    path = Path(rest)
    return load_tofu(path.parent, path.name)


def _muse_rows(rest: str) -> list[dict[str, Any]]:
    """``muse:DIR/KIND/SPLIT`` (``rest`` = ``DIR/KIND/SPLIT``)."""
    path = Path(rest)
    if len(path.parts) < 3:
        raise ObliviateError(
            f"MUSE spec 'muse:{rest}' must look like muse:DIR/KIND/SPLIT (e.g. muse:data/news/raw/forget)"
        )
    return load_muse(path.parent.parent, path.parent.name, path.name)


def _find(root: Path, stem: str, exts: tuple[str, ...], what: str) -> Path:
    for ext in exts:
        if (root / f"{stem}{ext}").is_file():
            return root / f"{stem}{ext}"
    raise ObliviateError(
        f"{what} file {str(root / stem)}{{{','.join(exts)}}} does not exist; check the folder and split name"
    )


def load_tofu(root: str | Path, split: str) -> list[dict[str, Any]]:
    """Rows of TOFU split ``split`` (e.g. ``forget10_perturbed``) from the folder ``root``.

    Args:
        root: folder holding the TOFU ``<split>.json`` files.
        split: file stem.

    Returns:
        ``{"prompt", "answer", "question", ...}`` rows; perturbed splits are checked for their extra answers.
    """
    path = _find(Path(root), split, (".json", ".jsonl"), "TOFU")
    rows = []
    for n, rec in read_json_records(path):
        if not isinstance(rec, dict) or "question" not in rec or "answer" not in rec:
            have = sorted(rec) if isinstance(rec, dict) else type(rec).__name__
            raise ObliviateError(
                f"missing field in TOFU file {str(path)!r} record {n}: need 'question' and 'answer' (has {have})"
            )
        row = normalise_record(rec, path, n)
        if "perturbed" in split:
            _check_perturbed(row, path, n)
        rows.append(row)
    return rows


def _check_perturbed(row: dict[str, Any], path: Path, n: int) -> None:
    missing = [k for k in _TOFU_PERTURBED if k not in row]
    if missing:
        raise ObliviateError(
            f"missing field(s) {missing} in TOFU perturbed file {str(path)!r} record {n}; the truth ratio needs "
            "'paraphrased_answer' (str) and 'perturbed_answer' (list of str)"
        )
    perturbed = row["perturbed_answer"]
    perturbed = [perturbed] if isinstance(perturbed, str) else perturbed  # some copies store a single one
    if not isinstance(perturbed, list) or not perturbed or not all(isinstance(a, str) for a in perturbed):
        raise ObliviateError(
            f"field 'perturbed_answer' in {str(path)!r} record {n} must be a non-empty list of strings; fix the file"
        )
    row["perturbed_answers"] = perturbed


def load_muse(root: str | Path, kind: str, split: str) -> list[dict[str, Any]]:
    """Rows of a MUSE file ``root/kind/split.{txt,json}`` (see the module docstring for each kind).

    Args:
        root: the corpus folder (``data/news`` or ``data/books`` in the MUSE layout).
        kind: one of ``raw``, ``knowmem``, ``verbmem``, ``privleak``.
        split: file stem (``forget``, ``retain1``, ``forget_qa``...).
    """
    if kind not in MUSE_KINDS:
        raise ObliviateError(f"unknown MUSE kind {kind!r}; use one of {', '.join(MUSE_KINDS)}")
    folder = Path(root) / kind
    if kind == "raw":
        path = _find(folder, split, (".txt", ".json"), "MUSE")
        if path.suffix == ".txt":
            return load_txt(path)
        # a JSON list of documents: each one windowed like a .txt file
        return [{**normalise_record(r, path, n), "_chunk": True} for n, r in read_json_records(path)]
    path = _find(folder, split, (".json", ".jsonl"), "MUSE")
    need = {"knowmem": ("question", "answer"), "verbmem": ("prompt", "gt"), "privleak": ()}[kind]
    rows = []
    for n, rec in read_json_records(path):
        if need and (not isinstance(rec, dict) or any(k not in rec for k in need)):
            have = sorted(rec) if isinstance(rec, dict) else type(rec).__name__
            raise ObliviateError(
                f"missing field in MUSE {kind} file {str(path)!r} record {n}: need {list(need)} (has {have})"
            )
        rows.append(normalise_record(rec, path, n))
    return rows


register_resolver("tofu", Resolver("TOFU's published files: tofu:DIR/SPLIT", rows=_tofu_rows))
register_resolver("muse", Resolver("MUSE's published files: muse:DIR/KIND/SPLIT", rows=_muse_rows))
