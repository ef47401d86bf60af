"""Pure text matching for verification: which words of a claim or a question a
source sentence states.

Embedding similarity rewards topical sentences that do not state the claim,
and word overlap alone lets a name borrow support from a sentence about
something else. So support here is a gate on words: every name, number and
content word of a claim must be in its cited sentences (allowing inflection,
a few news synonyms and acronyms), and the question's predicate ("signed",
"attended", "invest") must be stated by those sentences, not only by the
question. The score that comes with it only orders sentences that pass.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

_STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during before
    after above below to from up down in out on off over under again further then once here there
    when where why how all any both each few more most other some such no nor not only own same so
    than too very can will just should now is are was were be been being have has had having do does
    did doing would could might must shall may i me my we our you your he him his she her it its
    they them their what which who whom whose this that these those am also as said says say according
    while yes much many""".split()
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-.]*[A-Za-z0-9]|[A-Za-z0-9]")
_CITATION_MARK = re.compile(r"\s*\[(\d+)\]")
_DOTTED_ACRONYM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")

# Words that mean the same thing in news copy about the same event. A small
# hand-made table: WordNet would need a data download (no network at run
# time), and embeddings of single words put "signed" next to "rejected".
# Each group is matched on stems.
_SYNONYM_GROUPS = (
    "attend join participate present accompany",
    "meet meeting talk summit sit",
    "sign signature ink conclude",
    "invest investment fund funding capital spend",
    "announce unveil reveal declare",
    "buy acquire purchase acquisition pay",
    "die death dead kill killed",
    "win won victory",
    "elect election vote",
    "resign quit step",
    "arrest detain",
    "cost price worth value",
    "ceo chief executive",
    "president presidential",
    "build construct construction",
    "ban prohibit bar",
    "launch open start",
    "agreement deal pact memorandum accord",
)


# Irregular past forms the Porter stemmer leaves alone ("met" is not "meet").
_IRREGULAR = dict(pair.split(":") for pair in """met:meet bought:buy paid:pay led:lead held:hold sold:sell
    told:tell won:win took:take taken:take made:make gave:give given:give came:come went:go gone:go
    began:begin begun:begin ran:run left:leave found:find spent:spend built:build sent:send struck:strike
    fell:fall fallen:fall rose:rise risen:rise chose:choose chosen:choose wrote:write written:write
    spoke:speak spoken:speak stole:steal stolen:steal drove:drive driven:drive flew:fly flown:fly
    grew:grow grown:grow knew:know known:know saw:see seen:see brought:bring caught:catch fought:fight
    taught:teach sought:seek kept:keep lost:lose shot:shoot stood:stand broke:break broken:break
    wore:wear worn:wear sank:sink swore:swear sworn:swear hung:hang sat:sit""".split())


@lru_cache(maxsize=1)
def _stemmer():
    # nltk ships with llama-index-core; the Porter stemmer needs no data files.
    from nltk.stem.porter import PorterStemmer

    return PorterStemmer()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Lower-case Porter stem; acronyms ("MOU") stay upper-case so they can match their expansion."""
    word = word.replace("’", "'").removesuffix("'s").removesuffix("'S").strip(".")
    if _DOTTED_ACRONYM.fullmatch(word):
        # "U.S." is how much news copy writes the "US" of a question.
        word = word.replace(".", "").upper()
    if any(ch.isdigit() for ch in word):
        return word.lower().replace(",", "")
    if word.isupper() and word.isalpha() and 2 <= len(word) <= 6:
        return word
    word = word.lower()
    return _stemmer().stem(_IRREGULAR.get(word, word))


# Words that mark the other one of a pair: a claim that takes "men's" from the
# question while its source says "women's" is about the other race.
_CONTRAST_PAIRS = "men:women man:woman male:female boy:girl home:away north:south east:west upper:lower junior:senior"


@lru_cache(maxsize=1)
def _contrasts() -> dict[str, str]:
    pairs = [tuple(stem(w) for w in pair.split(":")) for pair in _CONTRAST_PAIRS.split()]
    return {a: b for a, b in pairs} | {b: a for a, b in pairs}


def contradicted(word: str, source: "SourceTerms") -> bool:
    """The source states the other one of a contrasting pair (``word`` is a stem)."""
    other = _contrasts().get(word)
    return other is not None and other in source.stems


@lru_cache(maxsize=1)
def _synonyms() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for group in _SYNONYM_GROUPS:
        stems = {stem(w) for w in group.split()}
        for s in stems:
            table.setdefault(s, set()).update(stems)
    return {k: frozenset(v) for k, v in table.items()}


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def content_words(text: str) -> set[str]:
    """Stems of the words that carry meaning."""
    return {stem(w) for w in words(text) if w.lower() not in _STOPWORDS}


def is_name(word: str, position: int) -> bool:
    """A capitalised word that is not the sentence's first (nor a stopword), or an acronym."""
    if word.isupper() and len(word) > 1 and word.isalpha():
        return True
    return position > 0 and word[0].isupper() and word.lower() not in _STOPWORDS


def key_terms(text: str) -> set[str]:
    """Names and numbers: capitalised words after the first word, acronyms, any token with a digit."""
    tokens = words(text)
    return {stem(w) for i, w in enumerate(tokens) if any(c.isdigit() for c in w) or is_name(w, i)}


def numbers(text: str) -> set[str]:
    return {stem(w) for w in words(text) if any(c.isdigit() for c in w)}


class SourceTerms:
    """What a group of source sentences states, for matching words against it."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.text = " ".join(texts)
        tokens = words(self.text)
        self.stems = {stem(w).lower() for w in tokens}
        self.initials = "".join(w[0].lower() for w in tokens)

    def has(self, term: str) -> bool:
        """The stem itself, a synonym, its parts ("Kyung-hoon"), or an acronym's expansion
        ("MOU" in "memorandum of understanding")."""
        low = term.lower()
        if low in self.stems or (_synonyms().get(low, frozenset()) & self.stems):
            return True
        if "-" in low and all(part in self.stems for part in low.split("-") if part):
            return True
        return term.isupper() and len(term) >= 3 and low in self.initials


def missing(terms: Iterable[str], source: SourceTerms) -> set[str]:
    return {t for t in terms if not source.has(t)}


def overlap(claim: set[str], source: SourceTerms) -> float:
    """Share of the claim's terms the source states (1.0 for none)."""
    return 1.0 - len(missing(claim, source)) / len(claim) if claim else 1.0


def support_score(similarity: float, claim_text: str, source_texts: Iterable[str]) -> float:
    """A score in [0, 1] of a claim by one or more source sentences taken together.

    Half embedding similarity, half content-word overlap, times the share of
    the claim's names and numbers the sources state.
    """
    source = SourceTerms(source_texts)
    return round(max(0.0, (0.5 * similarity + 0.5 * overlap(content_words(claim_text), source))
                     * overlap(key_terms(claim_text), source)), 4)


def strip_citation_marks(sentence: str) -> tuple[str, list[int]]:
    """The sentence without ``[n]`` markers, and the numbers it cited."""
    cited = [int(n) for n in _CITATION_MARK.findall(sentence)]
    text = _CITATION_MARK.sub("", sentence).strip()
    return re.sub(r"\s+([.,;:!?])", r"\1", text), cited
