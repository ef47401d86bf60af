"""Choose which sentences of the retrieved passages the model reads.

Prompt processing is most of an answer's time on a CPU (about 220 prompt
tokens/s for the default model on two cores), and a small model is easily
led astray by sentences that do not bear on the question. Each passage keeps
the sentence closest to the question; more sentences are added, best first,
while a word budget lasts. Verification still reads the full passages, so a
citation can point at any sentence of them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def focus(sentences: Sequence[Sequence[str]], scores: Sequence[np.ndarray], budget_words: int) -> list[list[str]]:
    """The sentences to show of each passage, in text order.

    ``scores[i][j]`` is how close sentence ``j`` of passage ``i`` is to the
    question. Every passage keeps its best sentence even past the budget (it
    was retrieved for a reason); ties go to the earlier sentence.
    """
    kept = [{int(np.argmax(s))} if len(s) else set() for s in scores]
    used = sum(_words(sentences[i][j]) for i, js in enumerate(kept) for j in js)
    ranked = sorted(
        ((float(s[j]), i, j) for i, s in enumerate(scores) for j in range(len(s)) if j not in kept[i]),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    for _, i, j in ranked:
        cost = _words(sentences[i][j])
        if used + cost <= budget_words:
            kept[i].add(j)
            used += cost
    return [[sentences[i][j] for j in sorted(js)] for i, js in enumerate(kept)]


def _words(sentence: str) -> int:
    return len(sentence.split())
