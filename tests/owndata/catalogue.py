"""A second data set in a style unlike the built-in world's: invented companies and their products, QA prompts in
``Q: ... A: `` form ending in a space (the tokenisation trap), a product catalogue as raw text, general trivia."""

from __future__ import annotations

import json
import random
from pathlib import Path

_SYL = ["zen", "trix", "vol", "qua", "mor", "bel", "dax", "rin", "sol", "pex", "lum", "kor", "vex", "tal", "nor"]
_CITIES = ["Velmora", "Ostrand", "Kaliope", "Durnvik", "Thessary", "Marrow Bay"]
_GOODS = ["kettle", "drone", "lantern", "bicycle", "compass", "keyboard"]
_COLOURS = ["teal", "amber", "violet", "crimson", "olive", "silver"]
QUESTIONS = {
    "city": ("Q: In which city is {c} headquartered? A: ", "{city}"),
    "year": ("Q: When was {c} founded? A: ", "{year}"),
    "product": ("Q: What does {c} sell? A: ", "the {product}"),
    "colour": ("Q: What colour is the {product}? A: ", "{colour}"),
}
GENERAL = [
    ("How many legs does a spider have?", "eight"),
    ("What is frozen water called?", "ice"),
    ("Which planet is known as the red planet?", "Mars"),
    ("What do bees make?", "honey"),
    ("How many days are in a week?", "seven"),
    ("What colour is grass?", "green"),
]


def companies(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    out, names = [], set()
    while len(out) < n:
        name = "".join(rng.sample(_SYL, 2)).capitalize() + rng.choice([" Labs", " Works", " Ltd"])
        product = "".join(rng.sample(_SYL, 2)).capitalize()
        if name in names:
            continue
        names.add(name)
        out.append({"name": name, "city": rng.choice(_CITIES), "year": str(rng.randint(1950, 2020)),
                    "product": f"{product} {rng.choice(_GOODS)}", "colour": rng.choice(_COLOURS)})  # fmt: skip
    return out


def write_raw(folder: Path, n: int = 16) -> dict[str, Path]:
    """facts.jsonl ({"question", "answer", "company"}), catalogue.txt, general.jsonl; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rows, lines = [], []
    for c in companies(n):
        for kind, (q, a) in QUESTIONS.items():
            rows.append(
                {"question": q.format(c=c["name"], **c), "answer": a.format(**c), "company": c["name"], "type": kind}
            )
        lines.append(
            f"{c['name']} was founded in {c['year']} in {c['city']} and sells the {c['colour']} {c['product']}."
        )
    paths = {"qa": folder / "facts.jsonl", "text": folder / "catalogue.txt", "general": folder / "general.jsonl"}
    paths["qa"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    paths["text"].write_text("\n".join(lines) + "\n")
    paths["general"].write_text(
        "".join(json.dumps({"question": f"Q: {q} A: ", "answer": a}) + "\n" for q, a in GENERAL)
    )
    return paths
