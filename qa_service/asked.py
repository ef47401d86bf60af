"""What a question asks, read from spaCy's analysis of it (``index.analysis``).

The wh-word and its head give the expected answer type (who: a person or an
organisation; how much: an amount; which company: an organisation); the
question's main verb or noun is the focus an answer must attach to ("the date
attached to *start*"); the rest of its content words and its names say what
the answering sentence, or its story, must be about.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from index.analysis import analyse

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span, Token

WH_TAGS = frozenset({"WDT", "WP", "WP$", "WRB"})
# Verbs that carry little meaning of their own: the focus is their complement ("is in charge of").
LIGHT_VERBS = frozenset({"be", "have", "do", "get", "make", "take", "become", "go", "happen"})
# Entity types by what the question asks. ORG and NORP answer "who" too: news says
# "the ministry signed" as often as a minister's name.
WHO = ("PERSON", "ORG", "NORP", "GPE")
WHEN = ("DATE", "TIME")
WHERE = ("GPE", "LOC", "FAC", "ORG")
AMOUNT = ("MONEY", "QUANTITY", "PERCENT", "CARDINAL")
COUNT = ("CARDINAL", "QUANTITY", "MONEY", "PERCENT")
# "how long", "how old", "how far": the adverb after "how" says which measure.
_HOW = {"many": ("count", COUNT), "much": ("amount", AMOUNT), "long": ("duration", ("DATE", "TIME", "QUANTITY")),
        "old": ("age", ("DATE", "CARDINAL")), "far": ("measure", ("QUANTITY", "CARDINAL")),
        "big": ("measure", ("QUANTITY", "CARDINAL")), "large": ("measure", ("QUANTITY", "CARDINAL")),
        "high": ("measure", ("QUANTITY", "CARDINAL", "MONEY", "PERCENT")),
        "tall": ("measure", ("QUANTITY", "CARDINAL")), "often": ("frequency", ("DATE", "TIME", "CARDINAL"))}
TYPED_KINDS = frozenset({"who", "when", "where", "count", "amount", "duration", "age", "measure", "frequency"})


@lru_cache(maxsize=1)
def type_nouns() -> dict[str, str]:
    """Type noun lemma -> entity label, from ``rules/answer_types.txt``."""
    table: dict[str, str] = {}
    text = resources.files("qa_service").joinpath("rules/answer_types.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            label, nouns = line.split(":", 1)
            table.update({noun: label.strip() for noun in nouns.split()})
    return table


@dataclass(frozen=True)
class AskedQuestion:
    text: str
    kind: str  # who, when, where, count, amount, ..., which (typed by a noun), what, why, how
    labels: tuple[str, ...]  # entity labels of the expected answer, best first; () = any noun phrase
    type_lemma: str | None  # "which company" -> "company"
    focus: frozenset[str]  # lemmas the answer must attach to: the main verb, or its complement
    content: frozenset[str]  # lemmas of the question's content words (names included)
    names: frozenset[str]  # lower-case words of the question's names and numbers
    wh_role: str  # subject | object | adjunct
    plural: bool  # the type noun is plural ("which companies"), or the focus coordinates

    @property
    def typed(self) -> bool:
        return self.kind in TYPED_KINDS or bool(self.labels)


def content_lemma(token: Token) -> str | None:
    """The token's lemma when it carries meaning (one rule for questions, sentences and
    answers: not a stop word, punctuation, auxiliary or wh-word)."""
    if (token.is_stop or token.is_punct or token.is_space or token.tag_ in WH_TAGS
            or token.pos_ in ("AUX", "DET", "PART", "CCONJ", "ADP", "PRON", "SYM")):
        return None
    return token.lemma_.lower()


# Entities whose words a story need not repeat: "in September 2025" is "Sept. 22" in the story.
_UNNAMED = frozenset({"DATE", "TIME", "CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY"})


def content_lemmas(texts: Sequence[str]) -> list[set[str]]:
    """The content lemmas of each text (one analysis, cached)."""
    return [{lemma for t in doc if (lemma := content_lemma(t)) is not None} for doc in analyse(texts)]


def name_words(doc: Doc | Span) -> set[str]:
    """Lower-case words of the names of a text: its entities (but dates and figures) and proper nouns."""
    words = {t for ent in doc.ents if ent.label_ not in _UNNAMED for t in ent}
    words |= {t for t in doc if t.pos_ == "PROPN" and t.ent_type_ not in _UNNAMED}
    return {t.lower_.strip(".") for t in words if not t.is_punct and not t.is_stop and t.lower_.strip(".")}


def analyse_question(text: str) -> AskedQuestion:
    doc = analyse([text])[0]
    sentences = list(doc.sents)
    # A quiz may set the scene first and ask in its last sentence.
    asking = next((s for s in reversed(sentences) if any(t.tag_ in WH_TAGS for t in s)), sentences[-1])
    wh = next((t for t in asking if t.tag_ in WH_TAGS), None)
    kind, labels, type_token = _kind(wh)
    root = asking.root
    focus = _focus(root, wh, type_token)
    content = {lemma for t in doc if (lemma := content_lemma(t)) is not None}
    if type_token is not None and wh is not None and wh.lower_ != "how":
        # The type noun names the answer, which the answering sentence rarely repeats.
        content.discard(type_token.lemma_.lower())
    amounts = {w for w in content | focus if type_nouns().get(w) in ("MONEY", "PERCENT")}
    if kind in ("what", "which") and not labels and amounts:
        # "What is the deal worth?", "What will the tram cost?": an amount.
        kind, labels = "amount", AMOUNT
    plural = bool(type_token is not None and type_token.tag_ in ("NNS", "NNPS"))
    return AskedQuestion(
        text=text, kind=kind, labels=labels,
        type_lemma=type_token.lemma_.lower() if type_token is not None else None,
        focus=frozenset(focus), content=frozenset(content), names=frozenset(name_words(doc)),
        wh_role=_role(wh, type_token), plural=plural)


def _kind(wh: Token | None) -> tuple[str, tuple[str, ...], Token | None]:
    if wh is None:
        return "what", (), None
    word = wh.lower_
    if word in ("who", "whom", "whose"):
        return "who", WHO, None
    if word == "when":
        return "when", WHEN, None
    if word == "where":
        return "where", WHERE, None
    if word == "why":
        return "why", (), None
    if word == "how":
        after = wh.nbor(1) if wh.i + 1 < len(wh.doc) else None
        if after is not None and after.lower_ in _HOW:
            kind, labels = _HOW[after.lower_]
            # "How many stops": the counted noun is the type noun.
            return kind, labels, _noun_after(after)
        return "how", (), None
    # "which company", "what year": the noun right after the wh-word.
    noun = _noun_after(wh)
    if noun is None:
        # "What is the name of the company", "Which of the groups": the noun of "of".
        noun = _of_noun(wh)
    if noun is None:
        return "what", (), None
    label = type_nouns().get(noun.lemma_.lower())
    if noun.lemma_.lower() in ("year", "date", "day", "month", "time"):
        return "when", WHEN, noun
    return "which", ((label,) if label else ()), noun


def _noun_after(word: Token) -> Token | None:
    """The noun of the phrase that starts right after ``word`` ("which former rivals" -> rivals).
    Read by position and part of speech, not by the parse: the small parser often
    misattaches a question's wh-word."""
    run = []
    for t in word.doc[word.i + 1:]:
        if t.pos_ not in ("ADJ", "NOUN", "PROPN") and t.dep_ not in ("amod", "compound"):
            break
        run.append(t)
    nouns = [t for t in run if t.pos_ == "NOUN"]
    return nouns[-1] if nouns else None


def _of_noun(wh: Token) -> Token | None:
    """"what is the name of the company" -> company; "which of the firms" -> firm."""
    for t in wh.sent:
        if t.lemma_.lower() in ("name", "one") and t.i > wh.i:
            for child in t.children:
                if child.dep_ == "prep" and child.lower_ == "of":
                    objects = [c for c in child.children if c.dep_ == "pobj"]
                    if objects:
                        return objects[0]
    return None


def _focus(root: Token, wh: Token | None, type_token: Token | None) -> set[str]:
    """The main verb's lemma, or for a light verb ("is", "has") its complement's content words."""
    focus: set[str] = set()
    if type_token is not None and wh is not None and wh.lower_ == "how":
        return {type_token.lemma_.lower()}  # "how many stops": the counted noun
    if root.lemma_.lower() not in LIGHT_VERBS and content_lemma(root):
        return {root.lemma_.lower()}
    complements = [c for c in root.children if c.dep_ in ("attr", "acomp", "dobj", "oprd", "xcomp", "ccomp")]
    complements += [g for c in root.children if c.dep_ == "prep" for g in c.children if g.dep_ == "pobj"]
    subjects = [c for c in root.children if c.dep_ in ("nsubj", "nsubjpass")]
    for group in (complements, subjects):  # the subject only when no complement is a content word
        focus |= {c.lemma_.lower() for c in group if c is not wh and c is not type_token and content_lemma(c)}
        if focus:
            break
    return focus


def _role(wh: Token | None, type_token: Token | None) -> str:
    """Which slot of the main verb the answer fills."""
    if wh is None:
        return "adjunct"
    slot = type_token if type_token is not None and wh.lower_ in ("what", "which") else wh
    if slot.dep_ in ("nsubj", "nsubjpass"):
        return "subject"
    if slot.dep_ in ("dobj", "pobj", "attr", "dative"):
        return "object"
    return "adjunct"
