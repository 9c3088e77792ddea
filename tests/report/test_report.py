"""write_report / `obliviate report` on fake run folders: content, formatting, self-containment, missing data."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
import report_fakes

from obliviate.cli import main
from obliviate.errors import ObliviateError
from obliviate.report import write_report
from obliviate.report.certificate import certificate_section
from obliviate.report.render import to_markdown
from obliviate.report.runs import collect
from obliviate.report.sections import _log_series, leaderboard


def _row(md: str, label: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| {label} |"))


def test_leaderboard_rows_and_formatting(bench_report) -> None:
    _, html_path = bench_report
    md = html_path.with_name("report.md").read_text()
    board = md.split("## Leaderboard")[1].split("## ")[0]
    header = board.splitlines()[2]
    assert "forget_quality ↑" in header and "forget_acc ↓" in header and "privleak →0" in header
    ga, mari = _row(board, "ga"), _row(board, "mari")
    assert "2.3 × 10⁻⁷" in ga and "**4.1 × 10⁻¹**" in mari  # p-values in scientific notation; best one bold
    assert "**2.0 %**" in ga and "**90.0 %**" in mari  # accuracies in %; best per column (↓ / ↑) bold
    assert "**18.4**" in mari  # privleak: closest to 0 wins
    assert "1.0 × 10⁻¹²" in _row(board, "✕ original (original_eval)")
    assert "97.0 %" in _row(board, "✕ original (original_eval)")
    assert "**" not in _row(board, "★ gold (gold_eval)")  # reference rows never take the bold
    assert "not available:** npo: no eval.json" in board


def test_sections_and_missing_pieces_are_visible(bench_report) -> None:
    _, html_path = bench_report
    md = html_path.with_name("report.md").read_text()
    for figure in ("tradeoff", "training_curves", "mia_roc"):
        assert f"(figures/{figure}.png)" in md
        assert (html_path.parent / "figures" / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "not available:** ga: no certificate.json" in md
    assert "token-level (word-level) detectors only" in md
    cert = md.split("## Certificate")[1].split("## All metrics")[0]
    # one renderer (obliviate.eval.certificate.document): the verdict first, then the original's rows first
    assert cert.index("Informative: the original model's pooled MI is 0.153") < cert.index("| mari · original |")
    assert cert.index("| mari · original |") < cert.index("| mari · unlearned |")
    assert (
        "| mari · unlearned | full_vs_retain | 0.011 | – | – | [0.009, 0.014] | 0.004 | 2.0 × 10⁻³ | no | 0.571 "
        "| 1,200 | 400 |" in cert
    )
    assert "| mari · gold (world:tiny/gold) | 2.10 | 1.90 | 2.30 | 0.550 | 0.520 |" in cert  # sequence-level AUCs
    assert "| mari · original | unlearn_vs_retain | 0.553 | 0.777 | 1.00 |" in cert  # bounds table
    assert "`lmeval_arc_easy` (ga, mari, gold (gold_eval), original (original_eval)): lm-eval is not installed" in md
    assert "| mia_loss →0.5 | forget+holdout | **0.412** | 0.616 |" in md  # target 0.5: closest wins
    assert "| forget_nll · perplexity | forget | 8.17 | 9.03 |" in md  # a scalar extra without direction
    assert sorted(p.name for p in html_path.parent.iterdir()) == ["figures", "report.html", "report.md"]


def test_html_is_self_contained(bench_report) -> None:
    html = bench_report[1].read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html.lower() and "@import" not in html and "url(" not in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3
    assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert html.count("<tr") > 10 and "not available:" in html


def test_run_with_nothing_but_a_folder(make_run, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    html = write_report([bare], tmp_path / "out")
    md = html.with_name("report.md").read_text()
    assert "no eval.json in" in md and "no run has a train_log.jsonl" in md
    assert "no certificate.json" in md and "no membership-inference metric" in md
    assert "no forget metric" in md and "no gold reference row" in md
    assert "data:image/png" not in html.read_text()


def test_unreadable_files_become_notes(make_run) -> None:
    run = make_run("broken", "ga")
    (run / "eval.json").write_text("{not json")
    with open(run / "train_log.jsonl", "a") as f:
        f.write('{"step": 31, "loss": 1.')  # a run killed mid-write
    runs, refs, _ = collect([run])
    assert runs[0].metrics is None and "could not be read" in runs[0].eval_note
    assert "1 unreadable line(s)" in runs[0].log_note and len(runs[0].log) == 30


def test_odd_values_do_not_crash(tmp_path: Path) -> None:
    run = tmp_path / "odd"
    run.mkdir()
    metrics = {
        "forget_quality": 0.3,  # a bare number instead of an entry
        "retain_acc": {"value": "n/a", "extra": [1, 2], "per_sample": "x"},
        "mia_loss": {"value": float("inf"), "per_sample": {"forget/0": "a", "holdout/0": None}},
        "model_utility": {"value": float("nan"), "status": "skipped"},
    }
    (run / "eval.json").write_text(json.dumps({"metrics": metrics}))
    (run / "train_log.jsonl").write_text('{"step": "x", "loss": "nan?"}\n[1, 2]\n')
    md = write_report([run], tmp_path / "out").with_name("report.md").read_text()
    assert "| odd | – | – | – | 3.0 × 10⁻¹ | skipped | – |" in md  # a bare value is kept (and read as a p-value)
    assert "| mia_loss | – | ∞ |" in md
    assert "`mia_loss` has no per-sample forget/holdout scores for: odd" in md


def test_missing_run_dir_raises(tmp_path: Path, capsys) -> None:
    with pytest.raises(ObliviateError, match="does not exist"):
        write_report([tmp_path / "nope"], tmp_path / "out")
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "error: run directory" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_references_from_roles_and_eval_json(make_run, tmp_path: Path) -> None:
    gold = make_run("gold_eval", "retrain", role="gold")
    run = make_run("npo", "npo", seed=3)
    ev = json.loads((run / "eval.json").read_text())
    ev["references"] = {
        "gold": str(tmp_path / "gold_model"),
        "original": {
            "model": "world:tiny",
            "metrics": {"forget_acc": {"value": 0.97, "status": "ok", "higher_is_better": False}},
        },
    }
    (run / "eval.json").write_text(json.dumps(ev))
    runs, refs, _ = collect([run, gold])  # a folder with role gold passed among the runs is a reference row
    assert [r.label for r in runs] == ["npo"] and refs["gold"].path == gold
    assert refs["original"].value("forget_acc") == 0.97
    runs, refs, _ = collect([run])
    assert refs["gold"].metrics is None and "has no eval.json" in refs["gold"].eval_note


def test_reference_metrics_written_by_obliviate_eval(make_run) -> None:
    run = make_run("mari", "mari")
    ev = json.loads((run / "eval.json").read_text())
    ev["references"] = {"gold": "world:tiny/gold", "original": None}
    ev["reference_metrics"] = {"gold": report_fakes.eval_metrics(4, fq=1.0, utility=0.57, forget_acc=0.05, gap=0.0)}
    (run / "eval.json").write_text(json.dumps(ev))
    md = to_markdown(leaderboard(*collect([run])[:2]))
    assert "| ★ gold (world:tiny/gold) | gold | – | – | 1.0 | 0.900 |" in md
    assert "not available:** no original reference row" in md


def test_ties_are_not_a_win(make_run) -> None:
    a, b = make_run("a", "ga"), make_run("b", "npo")  # identical metrics
    metrics = json.loads((b / "eval.json").read_text())
    metrics["metrics"]["retain_acc"]["value"] = 0.9
    (b / "eval.json").write_text(json.dumps(metrics))
    md = to_markdown(leaderboard(*collect([a, b])[:2]))
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert sum(line.count("**") for line in table) == 2  # only b's retain accuracy
    assert "| b | npo | 30 | 12.5 s | 1.0 × 10⁻³ | 0.750 | 0.500 | 20.0 % | **90.0 %** |" in md


def test_cli_writes_default_out_dir(tmp_path: Path, capsys) -> None:
    run = tmp_path / "solo"
    run.mkdir()  # no figures to draw: keeps the test fast
    assert main(["report", str(run)]) == 0
    assert (run / "report" / "report.html").is_file()
    assert str(run / "report" / "report.html") in capsys.readouterr().out


def test_steps_continue_across_requests(make_run) -> None:
    run = make_run("cont", "ga", steps=3)
    rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    rows += [{**r, "request": 1} for r in rows]  # the second request restarts its step counter
    (run / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs, _, _ = collect([run])
    x, _ = _log_series(runs[0])["forget_nll"]
    assert x.tolist() == [1, 2, 3, 4, 5, 6]


def test_unknown_certificate_layout_is_listed(make_run) -> None:
    run = make_run("odd", "mari", cert={"pooled": {"whatever": 0.25}, "note": "v0"})
    md = to_markdown(certificate_section(collect([run])[0]))
    assert "unrecognised layout" in md and "`pooled.whatever`: 0.250" in md and "`note`: v0" in md


def test_continual_section_plots_and_tables_every_request(make_run) -> None:
    from obliviate.report.plots import palette
    from obliviate.report.sections import continual_section

    run = make_run("seq", "mari")
    summary = json.loads((run / "summary.json").read_text())
    orig_f = [1.0, 0.9, 0.8]
    summary["requests"] = [
        {"request": i, "steps": 4 - i, "stopped_early": i == 2, "retain_acc_original": 0.9,
         "retain_acc_end": 0.9 - 0.02 * (i + 1), "retain_drift_total": 1 - (0.9 - 0.02 * (i + 1)) / 0.9,
         "forget_acc": [0.1 if j <= i else orig_f[j] for j in range(3)], "forget_acc_original": orig_f,
         "check": {"mari": {"unlearn_vs_retain": {"value": 0.05 / (i + 1)}},
                   "verdict": {"status": "informative", "text": "..."}}}
        for i in range(3)
    ]  # fmt: skip
    (run / "summary.json").write_text(json.dumps(summary))
    runs = collect([run])[0]
    blocks = continual_section(runs, palette([r.label for r in runs]))
    md = to_markdown(blocks)
    assert "## Continual unlearning" in md and "(figures/continual.png)" in md
    assert "| seq | 2 | 2 | yes | 0.840 | 6.7 % | 0.100 | 0.800 | 0.017 | informative |" in md
    assert continual_section(collect([make_run("one", "ga")])[0], {}) == []  # a single request: no section
