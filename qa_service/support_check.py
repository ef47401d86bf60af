"""Does a set of quotes state a statement? The self-consistency judge of the eval's
citation recall and precision (ALCE's definitions): what the service's own answers
are checked against, never the measure of whether they are right (gold data is).

A statement is supported when every name and number it gives is in the quotes
(by word or lemma, from the one analysis), and most of its other content words
are, or its meaning is close to theirs (MiniLM cosine at least ``threshold``):
paraphrase is accepted by meaning, invented names and figures are not.
"""
from __future__ import annotations

from collections.abc import Sequence

from index.analysis import analyse
from index.embeddings import Embedder
from qa_service.asked import content_lemma
from qa_service.settings import CheckingSettings

# Share of the statement's content words the quotes must state when the meaning is not close enough.
_WORD_SHARE = 0.8


class SupportChecker:
    def __init__(self, embedder: Embedder, settings: CheckingSettings = CheckingSettings()) -> None:
        self.embedder = embedder
        self.threshold = settings.support_threshold

    def supports(self, statement: str, quotes: Sequence[str]) -> bool:
        """Do these quotes, together, state the statement?"""
        if not quotes or not statement.strip():
            return False
        claim, *sources = analyse([statement, *quotes])
        said = {w for doc in sources for t in doc for w in (t.lower_, t.lemma_.lower())}
        names = {t.lower_ for t in claim if (t.ent_type_ or t.pos_ in ("PROPN", "NUM")) and not t.is_punct}
        if not names <= said:
            return False
        words = [lemma for t in claim if (lemma := content_lemma(t)) is not None]
        if words and sum(w in said for w in words) / len(words) >= _WORD_SHARE:
            return True
        vectors = self.embedder.embed([statement, " ".join(quotes)])
        return float(vectors[0] @ vectors[1]) >= self.threshold
