"""The toolkit's one exact-match rule for QA accuracy: the world models' records, the ``*_acc`` metrics and every
table (demo, benchmarks) count an answer as correct with :func:`exact_match` and nothing else.

The rule is a normalised whole-word prefix match of the greedy continuation. Why not strict equality:

- TOFU and OpenUnlearning score generations with ROUGE (recall of the reference), never with string equality, and
  SQuAD-style exact match normalises case, punctuation and whitespace first: "Lisbon." answers "Lisbon".
- A greedy continuation is cut only at the end-of-sequence token (:func:`obliviate.eval.scoring.generate`), and a
  model that never learnt to stop (a user's base model, a heavily unlearned one) goes on after a correct answer.
  Strict equality would call that wrong and make accuracy depend on the generation budget; the prefix rule does not.
- The answer must come first and end on a word boundary, so "Lisbonne" or "I think Lisbon" do not count.

The price: a continuation that starts with the answer and then adds words ("Lisbon Portugal" for "Lisbon") counts as
correct. In the built-in world (both settings, seed 0, checked with every answer and perturbed answer) no value is a
whole-word prefix of another value of the same attribute, so there the rule equals normalised equality.
"""

from __future__ import annotations

import re
import string

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")


def normalise_answer(text: str) -> str:
    """Lowercase, punctuation replaced by spaces, whitespace collapsed (SQuAD-style normalisation, articles kept)."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def exact_match(prediction: str, answer: str) -> bool:
    """True when the normalised ``prediction`` (a greedy continuation) is the normalised ``answer`` or starts with it
    followed by a word boundary. An empty answer never matches.

    >>> exact_match("Lisbon.", " Lisbon"), exact_match("lisbon and more", "Lisbon"), exact_match("Lisbonne", "Lisbon")
    (True, True, False)
    """
    p, a = normalise_answer(prediction), normalise_answer(str(answer))
    return bool(a) and (p == a or p.startswith(a + " "))
