"""The tofu and muse suites read tiny files in the benchmarks' published formats through the data loaders."""

from __future__ import annotations

import json

from obliviate.eval import EvalOptions, evaluate


def _jsonl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))  # TOFU ships its .json files as JSON lines


def _tofu_record(i: int, perturbed: bool) -> dict:
    rec = {"question": f"Where was author {i} born?", "answer": f"Author {i} was born in Lisbon."}
    if perturbed:
        rec["paraphrased_answer"] = f"The birthplace of author {i} is Lisbon."
        rec["perturbed_answer"] = [f"Author {i} was born in Oslo.", f"Author {i} was born in Quito."]
    return rec


def test_tofu_suite_from_published_files(tmp_path, tiny_gpt2_dir):
    root = tmp_path / "tofu"
    for split in ("forget10_perturbed", "retain_perturbed", "real_authors_perturbed", "world_facts_perturbed"):
        _jsonl(root / f"{split}.json", [_tofu_record(i, True) for i in range(3)])
    _jsonl(root / "holdout10.json", [_tofu_record(i, False) for i in range(10, 13)])
    metrics = ["model_utility_tofu", "forget_truth_ratio", "mia_loss"]
    opts = EvalOptions(progress=False, max_new_tokens=4)
    res = evaluate(
        str(tiny_gpt2_dir), suite="tofu", data=str(root), run_dir=tmp_path / "run", metrics=metrics, options=opts
    )
    assert all(r.status == "ok" for r in res.values()), {k: r.note for k, r in res.items()}
    assert set(res["model_utility_tofu"].extra["components"]) == {
        f"{s}_{m}" for s in ("real_authors", "world_facts") for m in ("prob_norm", "rouge", "truth_ratio")
    } | {"retain_prob", "retain_rouge", "retain_truth_ratio"}
    assert len(res["forget_truth_ratio"].per_sample) == 3


def test_muse_suite_from_published_files(tmp_path, tiny_gpt2_dir):
    root = tmp_path / "news"
    (root / "privleak").mkdir(parents=True)
    for split in ("forget", "retain", "holdout"):
        docs = [f"{split} document number {i} tells a short story." for i in range(3)]
        (root / "privleak" / f"{split}.json").write_text(json.dumps(docs))
    (root / "verbmem").mkdir()
    (root / "verbmem" / "forget.json").write_text(json.dumps([{"prompt": "Once upon", "gt": "a time there was"}]))
    (root / "knowmem").mkdir()
    for split in ("forget_qa", "retain_qa"):
        (root / "knowmem" / f"{split}.json").write_text(json.dumps([{"question": "Who?", "answer": "Aria Venn"}]))
    opts = EvalOptions(progress=False, max_new_tokens=4)
    res = evaluate(str(tiny_gpt2_dir), suite="muse", data=str(root), run_dir=tmp_path / "run", options=opts)
    assert res["privleak"].status == "skipped" and "--gold" in res["privleak"].note
    ok = {k for k, r in res.items() if r.status == "ok"}
    assert ok == set(res) - {"privleak"}
    assert "rougeL_f1" in res["verbmem_rouge"].extra
