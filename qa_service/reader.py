"""The reader: a short answer of the type asked, picked out of the evidence sentences.

For each readable sentence of the retrieved passages (analysed by spaCy, see
``index.analysis``) the reader
1. scores the sentence: closeness in meaning to the question (MiniLM cosine
   of the stored sentence vectors) plus the share of the question's content
   lemmas it states; a story that never names what the question names does
   not answer it;
2. lists candidate spans: entities of the expected type (who: PERSON/ORG...,
   how much: MONEY/QUANTITY...), or noun phrases (headed by the type noun of
   "which company" when the pipeline has no entity type for it);
3. verifies each by structure: a span that repeats the question is no
   answer; for a typed question, when the sentence states the question's
   focus ("cost", "start"), the span must attach to it in the dependency
   tree ("240 million euros" is the object of "cost"; "14 stops" is not), and
   fill the role the wh-word holds (the subject of "signed" for "who signed");
4. scores the survivors and picks the best; items coordinated with it, and a
   same-type item in the same role of the next sentence of the story, join a
   list answer ("Bae Kyung-hoon and Larry Fink").

A sentence that says the thing is not known ("did not disclose the value of
the deal") answers with itself. Nothing passing: abstain.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from index.analysis import analyse
from qa_service.asked import AskedQuestion, content_lemma
from qa_service.models import Passage, PassageSentence

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span, Token

# Sentence ranking: closeness in meaning plus this weight times the share of the question's words.
LEXICAL_WEIGHT = 0.6
# Roles of a span that names the doer (for "who <verb>") or the thing done (for "what did X <verb>").
SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass", "appos", "compound", "conj"})
OBJECT_DEPS = frozenset({"dobj", "pobj", "attr", "dative", "oprd", "appos", "conj", "npadvmod", "acomp"})
# How far (dependency edges) a span may stand from the focus it answers for.
MAX_ATTACH = 4
LIST_ITEMS = 5
# A neighbouring sentence's item joins a list only when the scorer gives it at least this
# probability: a name in a sentence about something else scores far below.
MIN_LIST_ITEM = 0.05


@lru_cache(maxsize=1)
def _open_words() -> tuple[frozenset[str], frozenset[str]]:
    """(verbs that, negated, say a fact is not known; adjectives that say so), from rules/open_statements.txt."""
    groups: dict[str, frozenset[str]] = {}
    text = resources.files("qa_service").joinpath("rules/open_statements.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            name, words = line.split(":", 1)
            groups[name.strip()] = frozenset(words.split())
    return groups["NEGATED"], groups["STATE"]


@dataclass(frozen=True)
class ReadSentence:
    """One readable sentence of a passage with its analysis and its closeness to the question."""

    passage: Passage
    sentence: PassageSentence
    doc: Doc
    similarity: float
    lexical: float  # share of the question's content lemmas the sentence states
    rare: float  # the same share, each word weighted by its rarity among the sentences read
    story_names: float  # share of the question's names its story states
    story_rare: float  # share of the question's words its story's sentences state, weighted by rarity
    score: float
    rarity: dict[str, float] = field(default_factory=dict, compare=False, hash=False)
    lead: float = 0.0  # score minus the best sentence's: how far behind the best it stands

    @property
    def key(self) -> tuple[str, int]:
        return self.passage.article_id, self.sentence.start


@dataclass(frozen=True)
class Candidate:
    text: str
    label: str
    source: ReadSentence
    root: int  # index of the span's root token in the sentence's doc
    start: int  # token offsets in the doc
    end: int
    score: float  # probability of being the answer, by the fitted scorer
    parts: tuple[Candidate, ...] = field(default=())  # the items of a list answer, this one first
    features: tuple[float, ...] = field(default=(), compare=False)

    @property
    def items(self) -> tuple[Candidate, ...]:
        return self.parts or (self,)


@dataclass(frozen=True)
class Reading:
    """What the reader found: a short answer (with its items' sentences), an open
    statement (the story says it is not known), or nothing."""

    answer: Candidate | None
    open_statement: ReadSentence | None
    sentences: list[ReadSentence]
    confidence: float = 0.0  # probability that ``answer`` is right, by the fitted decision

    @property
    def found(self) -> bool:
        return self.answer is not None or self.open_statement is not None


def read_sentences(q: AskedQuestion, passages: Sequence[Passage], vectors: Sequence[np.ndarray],
                   query_vector: np.ndarray) -> list[ReadSentence]:
    """Every readable sentence of the passages (once, though chunks overlap), best first."""
    seen: dict[tuple[str, int], tuple[Passage, PassageSentence, float]] = {}
    for passage, block in zip(passages, vectors, strict=True):
        for sentence, vector in zip(passage.sentences, block, strict=True):
            key = (passage.article_id, sentence.start)
            if sentence.readable and key not in seen:
                seen[key] = (passage, sentence, float(vector @ query_vector))
    docs = analyse([s.text for _, s, _ in seen.values()])
    story_words = _story_words(passages)
    words = [_words(doc) for doc in docs]
    weights = _rarity(q, words)
    told: dict[str, set[str]] = {}
    for (passage, _, _), said in zip(seen.values(), words, strict=True):
        told.setdefault(passage.article_id, set()).update(said)
    total = sum(weights.values())
    read = []
    for (passage, sentence, similarity), doc, said in zip(seen.values(), docs, words, strict=True):
        lexical = sum(w in said for w in q.content) / len(q.content) if q.content else 0.0
        rare = sum(weights[w] for w in q.content if w in said) / total if total else 0.0
        names = _share(q.names, story_words[passage.article_id]) if q.names else 1.0
        score = similarity + LEXICAL_WEIGHT * rare
        story = sum(weights[w] for w in q.content if w in told[passage.article_id]) / total if total else 0.0
        read.append(ReadSentence(passage, sentence, doc, similarity, lexical, rare, names, story, round(score, 4),
                                 weights))
    read.sort(key=lambda r: -r.score)
    return [replace(r, lead=round(r.score - read[0].score, 4)) for r in read]


def _words(doc: Doc) -> set[str]:
    """Lemmas and lower-case forms of a sentence's words."""
    return {t.lemma_.lower() for t in doc} | {t.lower_ for t in doc}


def _rarity(q: AskedQuestion, said: list[set[str]]) -> dict[str, float]:
    """Inverse document frequency of each of the question's words among the sentences read:
    "runoff" tells sentences apart, "city" does not."""
    n = len(said)
    return {w: float(np.log((n + 1) / (0.5 + sum(w in s for s in said)))) for w in q.content}


def same_word(a: str, b: str) -> bool:
    """The same lemma, or one derived from the other ("sign" / "signature", "invest" /
    "investment", "fail" / "failure"): spaCy's lemmas undo inflection, not derivation, so a
    shared beginning of at least four letters stands in for it."""
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 4 and long_.startswith(short)


def stated(words: frozenset[str] | set[str], said: set[str]) -> set[str]:
    """The ``words`` that ``said`` (a text's words and lemmas) states."""
    return {w for w in words if w in said or any(same_word(w, x) for x in said)}


def _story_words(passages: Sequence[Passage]) -> dict[str, set[str]]:
    """Lower-case words each story's retrieved passages and title state."""
    words: dict[str, set[str]] = {}
    for p in passages:
        words.setdefault(p.article_id, set()).update(w.strip(".,;:!?\"'()“”‘’").lower()
                                                      for w in f"{p.title} {p.text}".split())
    return words


def _share(wanted: frozenset[str], have: set[str]) -> float:
    return sum(w in have for w in wanted) / len(wanted) if wanted else 1.0


# Sentences read per question, and the share of the question's names a story must state.
DEPTH = 8
MIN_NAMES = 0.5


def pool_of(sentences: list[ReadSentence], min_sentence: float = 0.0) -> list[ReadSentence]:
    """The ``DEPTH`` best sentences that may answer: their story names most of what the question
    names ("the meeting between Lee and Fink" is not Lee's other meeting), and they are no question."""
    return [s for s in sentences if s.story_names >= MIN_NAMES and s.score >= min_sentence
            and not _is_question(s)][:DEPTH]


# How much the model's judgement moves a candidate's log-odds: its mean log-probability as the
# answer, relative to the best judged one (chosen on half of the development data, see
# docs/evaluation-history.md "The question's lift in the judge").
JUDGE_WEIGHT = 1.0
Judge = Callable[[list["Candidate"]], "list[float] | None"]


def read(q: AskedQuestion, sentences: list[ReadSentence], min_sentence: float, min_answer: float,
         judge: Judge | None = None, judged: int = 0) -> Reading:
    """The best short answer among the sentences of ``pool_of``, or an open statement, or nothing.

    With a ``judge`` (the model's likelihood of a candidate as the answer), the ``judged``
    best candidates are reordered by their score plus the judge's; whether to answer at
    all is decided before, on the reader's own scores."""
    pool = pool_of(sentences, min_sentence)
    candidates = [c for rank, s in enumerate(pool) for c in candidates_in(q, s, rank)]
    sure = confidence(q, candidates)
    best = judged_best(candidates, judge, judged) if sure >= min_answer else None
    opened = next((s for s in pool if states_unknown(q, s)), None)
    if best is not None and opened is not None and _outweighs(q, opened, best):
        best = None
    if best is not None:
        best = _with_list(q, best, candidates, sentences)
        opened = opened if opened is not None and _qualifies(q, opened, best) else None
    return Reading(best, opened, pool, round(sure, 4))


def _outweighs(q: AskedQuestion, opened: ReadSentence, best: Candidate) -> bool:
    """The story says the thing is not known, and says so closer to the question than the answer's
    sentence ("Police have not released the suspects' names" holds no answer, "Police" least of all),
    or it states what is asked where the answer's sentence does not ("the MOU didn't specify
    BlackRock's investment amount" against "BlackRock ... surpass $12.5 trillion", a figure of
    something else). A later story that gives the figure is news, not a contradiction."""
    if _older(opened.passage, best.source.passage):
        return False
    lemmas = {t.lemma_.lower() for t in best.source.doc}
    off_focus = bool(q.focus) and not stated(q.focus, lemmas) \
        and bool(stated(q.focus, {t.lemma_.lower() for t in opened.doc}))
    return opened.score >= best.source.score or off_focus


def _qualifies(q: AskedQuestion, opened: ReadSentence, best: Candidate) -> bool:
    """An open statement goes beside an answer when it is about the same predicate in the same story
    ("The buyer paid 40 million; the rest of the price was not disclosed"); one about another of the
    story's facts ("did not put a figure on the investment" beside who signed) is no caveat."""
    return opened.key not in {c.source.key for c in best.items} \
        and opened.passage.article_id == best.source.passage.article_id \
        and bool(stated(q.focus, {t.lemma_.lower() for t in opened.doc}))


def _older(a: Passage, b: Passage) -> bool:
    """``a``'s story was published before ``b``'s (both dated)."""
    return bool(a.published_at and b.published_at and a.published_at[:10] < b.published_at[:10])


def judged_best(candidates: list[Candidate], judge: Judge | None, judged: int) -> Candidate | None:
    """The best candidate by score, or among the ``judged`` best, by score plus the judge's say."""
    ranked = sorted(candidates, key=lambda c: -c.score)
    if judge is None or len(ranked) < 2 or judged < 2:
        return ranked[0] if ranked else None
    head = ranked[:judged]
    likelihoods = judge(head)
    if likelihoods is None:
        return ranked[0]
    top = max(likelihoods)
    return max(zip(head, likelihoods, strict=True),
               key=lambda pair: _logit(pair[0].score) + JUDGE_WEIGHT * (pair[1] - top))[0]


def _is_question(s: ReadSentence) -> bool:
    """A question in the text ("How many jobs will be cut?") never answers one."""
    return s.sentence.text.rstrip(" \"'”’)").endswith("?")


# The features of a candidate answer, in the order of the weights in rules/reader_weights.json.
FEATURES = (
    "bias", "similarity", "lexical", "rare", "sentence_rank", "story_names", "story_rare", "passage_rank",
    "type_fit", "type_first", "entity",
    "phrase_for_typed", "head_is_type", "attach_focus", "attach_any", "focus_in_sentence", "focus_unattached",
    "role", "subject", "object", "possessive", "near_anchor", "window", "head_in_question", "span_length",
    "long_span", "question_overlap", "competitors", "clause", "sentence_lead",
)
# Words either side of a span whose match with the question's words counts (the "window" feature).
WINDOW = 6


# The features of the decision to answer at all, from the question's candidates.
CONFIDENCE_FEATURES = ("bias", "best", "margin", "similarity", "rare", "lexical", "focus_in_sentence", "typed",
                       "candidates")


@lru_cache(maxsize=1)
def _fitted() -> dict:
    data = json.loads(resources.files("qa_service").joinpath("rules/reader_weights.json").read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES or tuple(data.get("confidence_features", ())) != CONFIDENCE_FEATURES:
        raise ValueError("rules/reader_weights.json was fitted on other features; re-run evals/train_reader.py")
    return data


@lru_cache(maxsize=1)
def reader_weights() -> np.ndarray:
    """Weights of the candidate scorer (fitted by ``evals/train_reader.py``)."""
    return np.array(_fitted()["weights"], dtype=float)


@lru_cache(maxsize=1)
def confidence_weights() -> np.ndarray:
    """Weights of the answer-or-abstain decision (fitted by ``evals/train_reader.py``)."""
    return np.array(_fitted()["confidence_weights"], dtype=float)


def confidence_features(q: AskedQuestion, candidates: Sequence[Candidate]) -> np.ndarray:
    """How sure the best candidate is: its score, its lead over the next different answer,
    how close its sentence is to the question, how many candidates competed."""
    ranked = sorted(candidates, key=lambda c: -c.score)
    best = ranked[0]
    second = next((c for c in ranked[1:] if c.text.lower() != best.text.lower()), None)
    logit = _logit(best.score)
    features = dict(zip(FEATURES, best.features, strict=True))
    values = {"bias": 1.0, "best": logit, "margin": min(5.0, logit - _logit(second.score)) if second else 5.0,
              "similarity": best.source.similarity, "rare": best.source.rare, "lexical": best.source.lexical,
              "focus_in_sentence": features["focus_in_sentence"], "typed": float(q.typed),
              "candidates": 1.0 / (1 + len(candidates))}
    return np.array([values[name] for name in CONFIDENCE_FEATURES], dtype=float)


def confidence(q: AskedQuestion, candidates: Sequence[Candidate]) -> float:
    """Probability that the best candidate is a right answer (0 without candidates)."""
    if not candidates:
        return 0.0
    return float(1.0 / (1.0 + np.exp(-float(confidence_features(q, candidates) @ confidence_weights()))))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def candidates_in(q: AskedQuestion, s: ReadSentence, rank: int = 0,
                  structure: bool = True) -> list[Candidate]:
    """Spans of the sentence that may answer, each scored (probability of being the answer).

    With ``structure``, a typed answer (a date, a figure, a name) must attach in the
    dependency tree to the question's focus when the sentence states it: a figure the
    sentence gives another noun does not answer."""
    doc = s.doc
    anchors = [t for t in doc if content_lemma(t) and t.lemma_.lower() in q.content and t.lower_ not in q.names]
    focus = [t for t in anchors if t.lemma_.lower() in q.focus]
    spans = [(_with_unit(span, label), label) for span, label in _spans(q, doc)]
    spans = [(span, label) for span, label in spans if not _repeats_question(q, span) and not _in_dateline(s, span)]
    fits = [_type_fit(q, span, label) for span, label in spans]
    competitors = sum(f >= 0.9 for f in fits)
    found = []
    for (span, label), fit in zip(spans, fits, strict=True):
        if fit <= 0:
            continue
        to_focus = _attachment(span.root, focus)
        if structure and q.typed and focus and to_focus is None:
            continue
        f = _features(q, s, rank, span, label, fit, anchors, focus, to_focus, competitors)
        found.append(Candidate(_clean(span), label, s, span.root.i, span.start, span.end,
                               round(_probability(f), 4), features=tuple(f)))
    return found


def _probability(features: np.ndarray) -> float:
    return float(1.0 / (1.0 + np.exp(-float(features @ reader_weights()))))


def _features(q: AskedQuestion, s: ReadSentence, rank: int, span: Span, label: str, fit: float,
              anchors: list[Token], focus: list[Token], to_focus: int | None, competitors: int) -> np.ndarray:
    root = span.root
    to_any = _attachment(root, anchors)
    near = min((min(abs(a.i - span.start), abs(a.i - (span.end - 1))) for a in anchors), default=None)
    words = [t for t in span if content_lemma(t)]
    repeated = sum(t.lemma_.lower() in q.content for t in words) / len(words) if words else 0.0
    agent = root.dep_ == "pobj" and root.head.dep_ == "agent"
    doc = span.doc
    around = {t.lemma_.lower()
              for t in [*doc[max(0, span.start - WINDOW):span.start], *doc[span.end:span.end + WINDOW]]}
    typed_entity = bool(q.labels) and label in q.labels
    values = {
        "bias": 1.0, "similarity": s.similarity, "lexical": s.lexical, "rare": s.rare,
        "sentence_rank": 1.0 / (1 + rank),
        "story_names": s.story_names, "story_rare": s.story_rare, "passage_rank": 1.0 / s.passage.n,
        "type_fit": fit, "entity": float(label not in ("", "CLAUSE", "NAME")),
        "type_first": float(bool(q.labels) and label == q.labels[0]),
        "phrase_for_typed": float(bool(q.labels) and not typed_entity),
        "head_is_type": float(q.type_lemma is not None and root.lemma_.lower() == q.type_lemma),
        "window": (sum(s.rarity[w] for w in q.content if w in around) / sum(s.rarity.values())
                   if s.rarity and sum(s.rarity.values()) else 0.0),
        "head_in_question": float(root.head.lemma_.lower() in q.content and root.head is not root),
        "clause": float(label == "CLAUSE"),
        "attach_focus": 0.0 if to_focus is None else 1.0 / (1 + to_focus),
        "attach_any": 0.0 if to_any is None else 1.0 / (1 + to_any),
        "focus_in_sentence": float(bool(focus)), "focus_unattached": float(bool(focus) and to_focus is None),
        "role": _role_fit(q, span, focus), "subject": float(root.dep_ in ("nsubj", "nsubjpass") or agent),
        "object": float(root.dep_ in ("dobj", "pobj", "attr") and not agent), "possessive": float(root.dep_ == "poss"),
        "near_anchor": 0.0 if near is None else 1.0 / (1 + near), "span_length": min(len(span), 20) / 20,
        "long_span": float(len(span) > 8), "question_overlap": repeated, "competitors": 1.0 / max(1, competitors),
        "sentence_lead": s.lead,
    }
    return np.array([values[name] for name in FEATURES], dtype=float)


def _spans(q: AskedQuestion, doc: Doc) -> list[tuple[Span, str]]:
    """Entities, then noun phrases not already an entity, with their labels ("" for a plain phrase)."""
    spans: list[tuple[Span, str]] = [(e, e.label_) for e in doc.ents]
    covered = {t.i for e in doc.ents for t in e}
    if not q.typed or q.kind in ("who", "which", "where"):
        for chunk in doc.noun_chunks:
            if chunk.root.pos_ != "PRON" and chunk.root.i not in covered:
                # A name the entity recogniser missed (invented and rare names often are).
                named = all(t.pos_ == "PROPN" for t in chunk if t.dep_ not in ("det", "poss", "case"))
                spans.append((chunk, "NAME" if named else ""))
    if q.kind in ("why", "how", "what") and not q.labels:
        spans += [(c, "CLAUSE") for c in _clauses(q, doc)]
    return spans


def _clauses(q: AskedQuestion, doc: Doc) -> list[Span]:
    """Reasons and purposes ("because ...", "to ...") for why; the focus verb's complements for what/how."""
    found = []
    for t in doc:
        if q.kind == "why" and t.dep_ in ("advcl", "xcomp", "ccomp", "pcomp", "acl"):
            found.append(doc[t.left_edge.i : t.right_edge.i + 1])
        elif q.kind in ("what", "how") and t.lemma_.lower() in q.focus and t.pos_ == "VERB":
            for child in t.children:
                if child.dep_ in ("dobj", "ccomp", "xcomp", "prep", "advcl", "attr", "oprd"):
                    found.append(doc[child.left_edge.i : child.right_edge.i + 1])
    return [span for span in found if 0 < len(span) < len(doc)]


_NUMERIC = frozenset({"MONEY", "QUANTITY", "PERCENT", "CARDINAL"})


def _with_unit(span: Span, label: str) -> Span:
    """A number with the noun it counts, when the noun follows it ("310 million" -> "310
    million crowns", "41" -> "41 vessels"): the unit is part of the answer."""
    head = span.root.head
    if label in _NUMERIC and span.root.dep_ in ("nummod", "quantmod", "compound", "amod") \
            and head.i == span.end and head.pos_ == "NOUN":
        return span.doc[span.start : head.i + 1]
    return span


def _in_dateline(s: ReadSentence, span: Span) -> bool:
    """The place and date a story was filed from ("GENVALE, March 3 (Example Wire) -"): where
    the reporter was, not what the story says. Read as what comes before the first dash
    of the body's first sentence."""
    if s.sentence.start != 0:
        return False
    dash = next((t.i for t in span.doc if t.text in ("-", "—", "–", "--")), None)
    return dash is not None and span.end <= dash


def _repeats_question(q: AskedQuestion, span: Span) -> bool:
    """Every content word of the span is the question's own, its type noun included ("its
    interim dividend" for "What interim dividend will it pay?"): no new information."""
    words = [t for t in span if content_lemma(t)]
    own = q.content | {q.type_lemma} if q.type_lemma else q.content
    return not words or all(t.lemma_.lower() in own or t.lower_ in q.names for t in words)


def _type_fit(q: AskedQuestion, span: Span, label: str) -> float:
    """How well the span is of the type asked: 1 for an expected entity type, less for a
    phrase that could be one, 0 when it cannot answer a typed question."""
    if label == "CLAUSE":
        return 0.5
    if q.kind == "why":
        return 0.0  # a reason is a clause, not a name or a figure
    if q.labels:
        if label in q.labels:
            return 1.0 - 0.1 * q.labels.index(label)
        if label == "NAME" and set(q.labels) & {"PERSON", "ORG", "GPE", "LOC", "FAC"}:
            return 0.7
        if q.kind in ("who", "which") and not label and span.root.pos_ in ("NOUN", "PROPN"):
            return 0.3  # "the government and private donors": a body named by a common noun
        return 0.0
    if q.type_lemma:
        return 1.0 if span.root.lemma_.lower() == q.type_lemma else 0.5 if span.root.pos_ in ("NOUN", "PROPN") else 0.0
    return 0.6 if label else 0.5


def _attachment(root: Token, anchors: list[Token]) -> int | None:
    """Dependency edges between the span's root and the nearest anchor, if within ``MAX_ATTACH``."""
    best = None
    for a in anchors:
        d = _distance(root, a)
        if d is not None and d <= MAX_ATTACH and (best is None or d < best):
            best = d
    return best


def _distance(a: Token, b: Token) -> int | None:
    if a.sent != b.sent:
        return None
    up_a = [a, *a.ancestors]
    up_b = [b, *b.ancestors]
    index_b = {t.i: n for n, t in enumerate(up_b)}
    for n, t in enumerate(up_a):
        if t.i in index_b:
            return n + index_b[t.i]
    return None


def _role_fit(q: AskedQuestion, span: Span, focus: list[Token]) -> float:
    """1 when the span fills the wh-word's slot of the focus verb: its subject (or the
    agent of a passive, "signed by X") for "who signed", its object for "who did X meet"."""
    verbs = [t for t in focus if t.pos_ in ("VERB", "AUX")]
    if not verbs:
        return 0.0
    # The second name of "attended by Ogunlesi and Kim" fills the slot its first fills.
    root = list_head(span.root)
    for v in verbs:
        head = root.head
        if q.wh_role == "subject":
            if head == v and root.dep_ in SUBJECT_DEPS:
                return 1.0
            if root.dep_ == "pobj" and head.dep_ == "agent" and head.head == v:
                return 1.0
        elif q.wh_role == "object" and head == v and root.dep_ in OBJECT_DEPS:
            return 1.0
        elif root.dep_ == "pobj" and head.head == v:
            return 0.7
    return 0.0


def states_unknown(q: AskedQuestion, s: ReadSentence) -> bool:
    """The sentence says the fact is not known ("did not disclose the value of the deal",
    "No date has been set") and is about what the question asks."""
    negated, state = _open_words()
    says = False
    for t in s.doc:
        if t.lemma_.lower() in state:
            says = True
        elif t.lemma_.lower() in negated and any(c.dep_ == "neg" or (c.lower_ == "no" and c.dep_ == "det")
                                                 for c in [*t.children, *(x for c in t.children for x in c.children)]):
            says = True
    if not says:
        return False
    # About what is asked: it states the question's focus, or two of its words (all, if it has one).
    lemmas = {t.lemma_.lower() for t in s.doc}
    return bool(stated(q.focus, lemmas)) or len(stated(q.content, lemmas)) >= min(2, len(q.content))


def _with_list(q: AskedQuestion, best: Candidate, candidates: list[Candidate],
               sentences: list[ReadSentence]) -> Candidate:
    """Items coordinated with the answer ("Mikael Tamm and Jonah Reiss"), and a same-kind
    item in the same role of the sentence just before or after it in the story (news
    splits a list: "Her counterpart, Viktor Anselm, added his signature minutes later")."""
    if q.kind not in ("who", "which", "what") or best.label == "CLAUSE":
        return best
    items = [best, *_conjuncts(best, candidates)]
    role = role_of(best.source.doc[best.root])
    # A plural question ("which companies") may walk on while each next sentence adds an item;
    # any other takes at most the sentence on either side.
    steps = LIST_ITEMS if q.plural else 1
    for step in (-1, 1):
        at = best.source
        for _ in range(steps):
            neighbour = _neighbour(at, sentences, step)
            added = _list_item(q, neighbour, best.label, role, items) if neighbour is not None else []
            if neighbour is None or not added:
                break
            items += added
            at = neighbour
    if len(items) == 1:
        return best
    items.sort(key=lambda c: (c.source.sentence.start, c.start))
    return replace(best, parts=tuple(items[:LIST_ITEMS]))


def _list_item(q: AskedQuestion, s: ReadSentence, label: str, role: str, items: list[Candidate]) -> list[Candidate]:
    """The best candidate of ``s`` of the same kind and role as the list's first item
    (with the items coordinated with it), or nothing."""
    found = candidates_in(q, s, DEPTH, structure=False)
    for c in sorted(found, key=lambda c: -c.score):
        if (q.plural or stated(q.focus, {t.lemma_.lower() for t in s.doc})) and c.score >= MIN_LIST_ITEM \
                and _same_kind(c.label, label) and role_of(s.doc[c.root]) == role and _fits_with(c, items):
            return [c, *(x for x in _conjuncts(c, found) if _fits_with(x, [*items, c]))]
    return []


def _conjuncts(c: Candidate, candidates: list[Candidate]) -> list[Candidate]:
    """Candidates of c's sentence coordinated with it ("X and Y")."""
    roots = {t.i for t in c.source.doc[c.root].conjuncts}
    found: list[Candidate] = []
    for x in candidates:
        if x.source is c.source and x.root in roots and _fits_with(x, [c, *found]):
            found.append(x)
    return found


def _same_kind(a: str, b: str) -> bool:
    """Both names of people or bodies (the recogniser mixes those up on rare names), or the same type."""
    names = {"PERSON", "ORG", "NAME"}
    return a == b or (a in names and b in names)


def _fits_with(c: Candidate, items: list[Candidate]) -> bool:
    """Not one already named (nor a part of one)."""
    low = c.text.lower()
    return all(low not in i.text.lower() and i.text.lower() not in low for i in items)


def list_head(token: Token, deps: tuple[str, ...] = ("appos", "conj")) -> Token:
    """The first item of the coordination or apposition ``token`` belongs to (at most four steps up)."""
    for _ in range(4):
        if token.dep_ not in deps or token.head is token:
            break
        token = token.head
    return token


def role_of(token: Token) -> str:
    """The slot a phrase fills: "subject" (also the agent of a passive, "signed by X"),
    "object", or its dependency label; a name in apposition or coordination fills its head's."""
    token = list_head(token, ("appos", "conj", "compound"))
    if token.dep_ in ("nsubj", "nsubjpass") or (token.dep_ == "pobj" and token.head.dep_ == "agent"):
        return "subject"
    if token.dep_ in ("dobj", "attr", "oprd", "dative", "pobj"):
        return "object"
    return token.dep_


def _neighbour(s: ReadSentence, sentences: list[ReadSentence], step: int) -> ReadSentence | None:
    """The sentence just before (step -1) or after (step 1) ``s`` in its story, among those read."""
    same = [x for x in sentences if x.passage.article_id == s.passage.article_id]
    if step < 0:
        return next((x for x in same if x.sentence.end <= s.sentence.start <= x.sentence.end + 3), None)
    return next((x for x in same if s.sentence.end <= x.sentence.start <= s.sentence.end + 3), None)


def _clean(span: Span) -> str:
    """The span without a leading determiner or possessive and trailing punctuation."""
    tokens = list(span)
    while tokens and (tokens[0].dep_ in ("det", "poss", "case", "punct") and tokens[0].lower_ in
                      ("the", "a", "an", "'s", "’s", ",", "“", "\"")):
        tokens = tokens[1:]
    while tokens and tokens[-1].is_punct:
        tokens = tokens[:-1]
    if not tokens:
        return span.text
    return span.doc[tokens[0].i : tokens[-1].i + 1].text

