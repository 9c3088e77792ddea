"""Load forget / retain / holdout rows from local files, Hugging Face datasets, benchmarks or the built-in world.

Every loader returns a list of uniform rows:

- ``{"text": str}`` raw text (loss on every token);
- ``{"prompt": str, "answer": str, ...}`` a question-answer pair (loss on the answer only); extra keys of the
  source record (``paraphrased_answer``, ``perturbed_answer``, ...) are kept for the evaluation metrics.

Rows from plain ``.txt`` files carry ``"_chunk": True``: :func:`obliviate.data.collate.tokenize_rows` cuts them into
fixed windows of ``txt_window`` tokens (the window size needs the tokenizer, so it cannot happen here).

Spec grammar accepted by :func:`load_rows`:

=============================  =====================================================================================
``path.jsonl``                 one JSON object per line
``path.json``                  a JSON list of objects (or of strings = raw text), or JSON lines (TOFU's ``.json``)
``path.txt``                   one raw-text row for the whole file, chunked into token windows
``DIR`` / ``DIR@SPLIT``        a ``datasets`` dataset saved with ``save_to_disk``; a ``DatasetDict`` needs ``@SPLIT``
                               unless it holds a single split
``NAME`` / ``NAME:CONFIG@SPLIT``  a Hugging Face hub dataset (``owner/name``), only when the hub is reachable
``world:<split>``              the built-in fictitious world (:func:`obliviate.world.load_split_rows`)
``tofu:DIR/SPLIT``             a TOFU split file in ``DIR`` (see :mod:`obliviate.data.benchmarks`)
``muse:DIR/KIND/SPLIT``        a MUSE file in ``DIR`` (``raw/forget``, ``knowmem/forget_qa``, ``verbmem/forget``...)
``<prefix>:...``               any other prefix registered in :mod:`obliviate.resolvers` that provides rows
=============================  =====================================================================================

Accepted record layouts (checked in this order): ``column`` when it is not ``text`` and the record has it (raw
text); ``prompt`` + ``answer``; ``question`` + ``answer`` (renamed to prompt/answer, ``question`` kept); ``prompt`` +
``gt`` (MUSE verbmem, ``gt`` becomes the answer); ``text`` (raw text). ``column="q_col,a_col"`` names a
prompt/answer column pair instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from obliviate import resolvers
from obliviate.errors import ObliviateError

LAYOUTS = "'text', 'prompt'+'answer', 'question'+'answer' or 'prompt'+'gt'"
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(:[\w.-]+)?(@[\w.\-\[\]:%]+)?$")


def load_rows(spec: str, *, column: str = "text") -> list[dict[str, Any]]:
    """Load rows from ``spec`` (see the module docstring for the grammar and the accepted layouts).

    Args:
        spec: a file path, dataset dir, hub name or a prefixed spec (``world:`` / ``tofu:`` / ``muse:``...).
        column: the raw-text column of HF datasets and JSON records, or ``"prompt_col,answer_col"``.

    Returns:
        Uniform rows (``{"text"}`` or ``{"prompt", "answer", ...}``), never empty.

    Raises:
        ObliviateError: missing file, malformed JSON(L), missing or unknown fields, empty source.
    """
    spec = str(spec).strip()
    if not spec:
        raise ObliviateError("empty data spec; give a .jsonl/.json/.txt file, a dataset dir or world:<split>")
    load = resolvers.lookup(spec, "rows")  # world:, tofu:, muse: ... (obliviate.resolvers)
    try:
        if load is not None:
            rows = [normalise_record(r, spec, i + 1, column) for i, r in enumerate(load())]
        else:
            rows = _load_local_or_hub(spec, column)
    except UnicodeDecodeError as e:  # every reader decodes UTF-8: one message for all of them
        bad = e.object[e.start : e.start + 1].hex()
        raise ObliviateError(
            f"data source {spec!r} is not UTF-8 text (byte 0x{bad} cannot be decoded); re-save it as UTF-8"
        ) from None
    except RecursionError:  # json recurses once per nesting level: "[[[[..." thousands deep
        raise ObliviateError(f"data source {spec!r} nests JSON too deeply to read; give flat records") from None
    if not rows:
        raise ObliviateError(f"data source {spec!r} holds no rows; give a non-empty file or split")
    return rows


def _load_local_or_hub(spec: str, column: str) -> list[dict[str, Any]]:
    base, split = _split_suffix(spec)
    path = Path(base).expanduser()
    if path.is_dir():
        return _load_dataset_dir(path, split, column, spec)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".txt":
            return load_txt(path)
        if suffix == ".jsonl":
            return [normalise_record(r, path, n, column) for n, r in _read_jsonl(path)]
        if suffix == ".json":
            return [normalise_record(r, path, n, column) for n, r in read_json_records(path)]
        raise ObliviateError(
            f"data file {str(path)!r} has an unsupported extension {suffix!r}; use .jsonl, .json or .txt"
        )
    looks_local = (
        path.suffix.lower() in (".jsonl", ".json", ".txt") or path.parent.is_dir() and str(path.parent) != "."
    )
    if _HUB_NAME.match(spec) and not looks_local:
        return _load_hub(base, split, column, spec)
    raise ObliviateError(
        f"data file {spec!r} does not exist; check the path (or give a dataset dir, hub name or world:<split>)"
    )


def _split_suffix(spec: str) -> tuple[str, str | None]:
    """``"dir@train"`` -> ("dir", "train"); a literal ``@`` in an existing path is kept."""
    if "@" in spec and not Path(spec).exists():
        base, split = spec.rsplit("@", 1)
        return base, split or None
    return spec, None


def load_txt(path: Path) -> list[dict[str, Any]]:
    """A plain text file -> one ``{"text", "_chunk": True}`` row (windowed at tokenisation)."""
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise ObliviateError(f"data file {str(path)!r} is empty; give a file with text in it")
    return [{"text": text, "_chunk": True}]


def _read_jsonl(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed object) for every non-blank line; one error naming the first bad line."""
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                out.append((n, json.loads(line)))
            except json.JSONDecodeError as e:
                raise ObliviateError(
                    f"malformed JSONL in {str(path)!r} at line {n}: {e.msg}; fix that line (one JSON object per line)"
                ) from None
    if not out:
        raise ObliviateError(f"data file {str(path)!r} is empty; give at least one JSON object per line")
    return out


def read_json_records(path: Path) -> list[tuple[int, Any]]:
    """A ``.json`` file holding a list (or JSON lines, as TOFU ships them) -> (record number, object) pairs."""
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise ObliviateError(f"data file {str(path)!r} is empty; give a JSON list of records")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # several top-level values: the file is really JSON lines
            return _read_jsonl(path)
        raise ObliviateError(
            f"malformed JSON in {str(path)!r} at line {e.lineno}: {e.msg}; fix the file (a JSON list of records)"
        ) from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ObliviateError(f"data file {str(path)!r} must hold a JSON list of records, got {type(data).__name__}")
    if not data:
        raise ObliviateError(f"data file {str(path)!r} is empty (an empty JSON list); give at least one record")
    return list(enumerate(data, start=1))


def normalise_record(rec: Any, source: Any, n: int, column: str = "text") -> dict[str, Any]:
    """Map one source record onto a uniform row, or raise naming the record and the accepted layouts.

    Args:
        rec: a dict (or a bare string, taken as raw text).
        source: where it came from (for the message).
        n: line / record number (1-based, for the message).
        column: the raw-text column, or ``"prompt_col,answer_col"``.
    """
    where = f"{str(source)!r} record {n}"
    if isinstance(rec, str):
        return {"text": rec}
    if not isinstance(rec, dict):
        raise ObliviateError(
            f"unknown field layout in {where}: expected a JSON object with {LAYOUTS}, got {type(rec).__name__}"
        )
    if "," in column:
        p_col, a_col = (c.strip() for c in column.split(",", 1))
        missing = [c for c in (p_col, a_col) if c not in rec]
        if missing:
            raise ObliviateError(
                f"missing field(s) {missing} in {where} (column={column!r}); fields present: {sorted(rec)}"
            )
        row = {k: v for k, v in rec.items() if k not in (p_col, a_col)}
        row.update(prompt=rec[p_col], answer=rec[a_col])
        return _check_strings(row, ("prompt", "answer"), where)
    if column != "text" and column in rec:
        rest = {k: v for k, v in rec.items() if k not in ("prompt", "answer")}  # an explicit column means raw text
        return _check_strings({**rest, "text": rec[column]}, ("text",), where)
    for p_key, a_key in (("prompt", "answer"), ("question", "answer"), ("prompt", "gt")):
        if p_key in rec and a_key in rec:
            row = dict(rec)
            row.update(prompt=rec[p_key], answer=rec[a_key])
            return _check_strings(row, ("prompt", "answer"), where)
    if "text" in rec:
        return _check_strings(dict(rec), ("text",), where)
    half = [k for k in ("prompt", "question", "answer", "gt") if k in rec]
    if half:
        need = "'answer'" if "answer" not in rec and "gt" not in rec else "'prompt' or 'question'"
        raise ObliviateError(
            f"missing field {need} in {where} (it has {half}); accepted layouts: {LAYOUTS}"
            + (f" or column {column!r}" if column != "text" else "")
        )
    raise ObliviateError(
        f"unknown field layout in {where}: fields {sorted(rec)}; use {LAYOUTS}, or set data.column to the text field"
    )


def _check_strings(row: dict[str, Any], keys: tuple[str, ...], where: str) -> dict[str, Any]:
    for k in keys:
        if not isinstance(row[k], str):
            raise ObliviateError(f"field {k!r} in {where} must be a string, got {type(row[k]).__name__}; fix the data")
        if k != "prompt" and not row[k].strip():
            raise ObliviateError(f"field {k!r} in {where} is empty; remove the record or fill it in")
    return row


def _load_dataset_dir(path: Path, split: str | None, column: str, spec: str) -> list[dict[str, Any]]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise ObliviateError(
            f"{str(path)!r} is a folder but not a saved datasets dataset; save it with Dataset.save_to_disk or give "
            "a .jsonl/.json/.txt file"
        ) from None
    return _dataset_rows(ds, split, column, spec)


def _load_hub(name: str, split: str | None, column: str, spec: str) -> list[dict[str, Any]]:
    import datasets

    repo, _, config = name.partition(":")
    try:
        ds = datasets.load_dataset(repo, config or None, split=split)
    except Exception as e:  # offline / missing repo / bad config all surface as different library errors
        raise ObliviateError(
            f"could not load hub dataset {spec!r} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
            "check the name and network access, or save the dataset locally and pass its folder"
        ) from None
    return _dataset_rows(ds, None, column, spec)


def _dataset_rows(ds: Any, split: str | None, column: str, spec: str) -> list[dict[str, Any]]:
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        names = list(ds)
        if split is None and len(names) == 1:
            split = names[0]
        if split is None or split not in ds:
            what = "holds several splits" if split is None else f"has no split {split!r}"
            raise ObliviateError(
                f"dataset {spec!r} {what} ({', '.join(names)}); pick one as {spec.split('@')[0]}@SPLIT"
            )
        ds = ds[split]
    elif split is not None:
        raise ObliviateError(f"dataset {spec!r} is a single split; drop the '@{split}' suffix")
    return [normalise_record(r, spec, i + 1, column) for i, r in enumerate(ds.to_list())]


def is_qa(row: dict[str, Any]) -> bool:
    """A prompt/answer row (loss on the answer); otherwise raw text. QA wins when a record has both."""
    return "prompt" in row and "answer" in row


def row_key(row: dict[str, Any]) -> tuple[str, ...]:
    """What makes two rows the same sample (used by the forget/retain overlap check)."""
    return ("qa", row["prompt"], row["answer"]) if is_qa(row) else ("text", row["text"])
