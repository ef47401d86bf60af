"""Answer, abstention, retrieval and citation metrics of an eval run.

Pure functions over plain values: no I/O, no model. Citation metrics take the
support checker as an argument so the runner can plug in the project's own.

Two kinds of citation figures, kept apart on purpose:
- citation_recall / citation_precision (ALCE) are judged by the support
  checker. The runner passes the service's own checker, the one that filtered
  the answer, so they measure self-consistency, not truth: a wrong answer
  quoted verbatim scores 1.0.
- answer_precision, cited_evidence_correctness and wrong-but-cited are judged
  against the gold answers and evidence only, independently of that checker.

Text matching (exact match, answer recall, retrieval hits) works on
SQuAD-normalised text. Containment is checked on whole normalised tokens
rather than raw substrings, so the alias "9" is not found in "1900" and
"Fink" not in "Finkelstein"; ALCE's plain substring test over-credits short
aliases such as numbers, which news quizzes are full of.

A list question (gold ``all_of``, row key ``gold_all_of``) is right only when
the answer names every item, each matched the same way (whole normalised
tokens): its answer recall, EM and F1 are 0 for an answer that misses one.

``squad_normalize`` is the official SQuAD evaluation script's normalisation
(ASCII punctuation only, no month rule); exact_match, token_f1 and
answer_recall take it as ``normalize`` where official SQuAD figures are wanted.
"""
from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Protocol

RECALL_KS = (1, 3, 5, 10)

# Metrics that are shares in [0, 1] (the report charts these).
RATIO_KEYS = (
    "em",
    "f1",
    "answer_recall",
    "answer_precision",
    "cited_evidence_correctness",
    "abstain_precision",
    "abstain_recall",
    *(f"recall_at_{k}" for k in RECALL_KS),
    "mrr",
    "citation_recall",
    "citation_precision",
)

# A cited quote matches a gold evidence quote when it holds at least this
# share of the evidence's tokens: a sentence that restates half the evidence
# is about the same fact, while sharing a few common words is not.
EVIDENCE_OVERLAP = 0.5

# Outcomes of an answerable question, in the order a question fails: the
# answer never reached the passages, or it did and the service abstained or
# answered something else. "failed" is a question that raised.
OUTCOMES = ("not_retrieved", "retrieved_abstained", "retrieved_wrong", "right", "failed")

_ARTICLES = re.compile(r"\b(a|an|the)\b")
# Wire style writes "Jan. 19" where a quiz's gold answer says "January 19": the
# same date. Only before a day number, so "Jan" the name or "dec" stay as they are.
_MONTHS = {short: full for full in ("january february march april june july august september october "
                                    "november december").split() for short in (full[:3], full[:4])}
_MONTH_BEFORE_DAY = re.compile(rf"\b({'|'.join(sorted(_MONTHS, key=len, reverse=True))})(?= \d{{1,2}}\b)")
_CITATION_MARK = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def _is_punctuation(ch: str) -> bool:
    # SQuAD strips ASCII punctuation only; news text also has curly quotes and dashes.
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower-case, drop punctuation and articles, collapse spaces;
    plus one news-copy rule: an abbreviated month before a day is spelled out."""
    text = "".join(ch for ch in text.lower() if not _is_punctuation(ch))
    text = _MONTH_BEFORE_DAY.sub(lambda m: _MONTHS[m.group(1)], text)
    return " ".join(_ARTICLES.sub(" ", text).split())


Normalizer = Callable[[str], str]
_SQUAD_PUNCTUATION = frozenset(string.punctuation)


def squad_normalize(text: str) -> str:
    """The official SQuAD 2.0 normalisation, as its evaluation script does it: lower-case,
    drop ASCII punctuation, then the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _SQUAD_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def strip_citations(text: str) -> str:
    """Remove citation markers such as ``[1]`` or ``[1, 2]`` from answer text."""
    return _CITATION_MARK.sub("", text)


def _contains(haystack: str, needle: str) -> bool:
    """Whole-token containment of normalised texts; an empty needle never matches."""
    return bool(needle) and f" {needle} " in f" {haystack} "


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _mean(values: Sequence[float]) -> float | None:
    return _ratio(sum(values), len(values))


def exact_match(prediction: str, aliases: Sequence[str], normalize: Normalizer = normalize_answer) -> float:
    """1.0 if the normalised prediction equals any normalised alias (0.0 without aliases)."""
    pred = normalize(prediction)
    return max((float(pred == normalize(a)) for a in aliases), default=0.0)


def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        # SQuAD 2.0 convention: two empty answers agree, one empty answer scores 0.
        return float(pred_tokens == gold_tokens)
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, aliases: Sequence[str], normalize: Normalizer = normalize_answer) -> float:
    """SQuAD token F1, the best over aliases (0.0 without aliases)."""
    pred = normalize(prediction).split()
    return max((_token_f1(pred, normalize(a).split()) for a in aliases), default=0.0)


def answer_recall(prediction: str, aliases: Sequence[str], normalize: Normalizer = normalize_answer) -> float:
    """ALCE STR-EM: 1.0 if any normalised alias occurs in the normalised prediction."""
    pred = normalize(prediction)
    return float(any(_contains(pred, normalize(a)) for a in aliases))


def names_all(prediction: str, items: Sequence[str]) -> bool:
    """Does the prediction name every item (whole normalised tokens, case ignored)?
    False without items, or when an item normalises to nothing."""
    pred = normalize_answer(prediction)
    return bool(items) and all(_contains(pred, normalize_answer(item)) for item in items)


def items_retrieved(passages: Sequence[str], items: Sequence[str]) -> bool:
    """Does every item occur in some passage (not necessarily the same one)?"""
    texts = [normalize_answer(p) for p in passages]
    return bool(items) and all(any(_contains(t, normalize_answer(item)) for t in texts) for item in items)


def answer_words(prediction: str) -> int:
    """Whitespace-separated words; strip citation markers first (score_row does)."""
    return len(prediction.split())


def abstention_scores(
    predicted: Sequence[bool], gold_unanswerable: Sequence[bool]
) -> tuple[float | None, float | None]:
    """(precision, recall) of abstaining; None where nothing was abstained / unanswerable."""
    if len(predicted) != len(gold_unanswerable):
        raise ValueError("predicted and gold_unanswerable differ in length")
    correct = sum(p and g for p, g in zip(predicted, gold_unanswerable, strict=True))
    return _ratio(correct, sum(map(bool, predicted))), _ratio(correct, sum(map(bool, gold_unanswerable)))


def first_hit_rank(
    passages: Sequence[str], evidence_quotes: Sequence[str], aliases: Sequence[str]
) -> int | None:
    """1-based rank of the first passage holding an evidence quote or an alias.

    None when no passage does, and also when there is nothing to look for
    (no quote, no alias): callers leave such questions out of retrieval metrics.
    """
    needles = [n for n in map(normalize_answer, [*evidence_quotes, *aliases]) if n]
    if not needles:
        return None
    for rank, passage in enumerate(passages, start=1):
        text = normalize_answer(passage)
        if any(_contains(text, needle) for needle in needles):
            return rank
    return None


def recall_at_k(ranks: Sequence[int | None], k: int) -> float | None:
    """Share of questions whose first hit is within the top k; None for no questions.

    ``ranks`` holds one entry per question that has a rank target, None meaning
    "not found". Callers must leave unanswerable questions out themselves.
    """
    return _mean([float(r is not None and r <= k) for r in ranks])


def mrr(ranks: Sequence[int | None]) -> float | None:
    """Mean reciprocal rank, "not found" (None) counting 0; same input contract as recall_at_k."""
    return _mean([1.0 / r if r is not None else 0.0 for r in ranks])


def _overlap_share(quote_tokens: list[str], evidence_tokens: list[str]) -> float:
    """Share of the evidence's tokens (counted with repeats) that the quote holds too."""
    same = sum((Counter(quote_tokens) & Counter(evidence_tokens)).values())
    return same / len(evidence_tokens) if evidence_tokens else 0.0


def cites_gold_evidence(quotes: Sequence[str], aliases: Sequence[str], evidence_quotes: Sequence[str]) -> bool:
    """Does a cited quote hold a gold alias, or EVIDENCE_OVERLAP of a gold evidence quote's tokens?

    Judged against the gold data only: a right answer backed by a sentence
    about something else does not count, however well that sentence matches
    the answer's wording.
    """
    needles = [n for n in map(normalize_answer, aliases) if n]
    evidence = [tokens for tokens in (normalize_answer(e).split() for e in evidence_quotes) if tokens]
    for quote in map(normalize_answer, quotes):
        if any(_contains(quote, needle) for needle in needles):
            return True
        if any(_overlap_share(quote.split(), tokens) >= EVIDENCE_OVERLAP for tokens in evidence):
            return True
    return False


def answer_outcome(*, failed: bool, abstained: bool, right: bool, alias_retrieved: bool) -> str:
    """One of OUTCOMES for an answerable question.

    A right answer is right even when no passage held the alias (the model
    knew it, or a passage spelt it differently); the failure classes describe
    wrong answers only, by the first stage that lost the answer.
    """
    if failed:
        return "failed"
    if right:
        return "right"
    if not alias_retrieved:
        return "not_retrieved"
    return "retrieved_abstained" if abstained else "retrieved_wrong"


class SupportChecker(Protocol):
    """Judges whether quoted source sentences support a statement."""

    def supports(self, statement: str, evidence: Sequence[str]) -> bool:
        """Do these quoted source sentences, taken together, support the statement?"""
        ...


def _earns_credit(claim: str, quotes: list[str], i: int, checker: SupportChecker) -> bool:
    """ALCE: a citation is irrelevant (no credit) when it does not support the claim
    alone and the other citations still support it without it."""
    if checker.supports(claim, [quotes[i]]):
        return True
    return not checker.supports(claim, quotes[:i] + quotes[i + 1 :])


def citation_scores(
    statements: Sequence[tuple[str, Sequence[str]]], checker: SupportChecker
) -> tuple[float | None, float | None]:
    """ALCE citation (recall, precision) of one answer; (None, None) without statements.

    ``statements`` are (statement text, its cited quotes). Citation markers are
    removed from the statement before checking, as ALCE does.
    """
    if not statements:
        return None, None
    supported = credited = total = 0
    for text, cited in statements:
        claim, quotes = strip_citations(text), list(cited)
        joint = bool(quotes) and checker.supports(claim, quotes)
        supported += joint
        total += len(quotes)
        if not joint:
            continue
        if len(quotes) == 1:
            credited += 1
        else:
            credited += sum(_earns_credit(claim, quotes, i, checker) for i in range(len(quotes)))
    return supported / len(statements), (credited / total if total else 0.0)


def percentile(values: Sequence[float], q: float) -> float | None:
    """q-th percentile (0-100) with linear interpolation, as numpy's default; None if empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return float(ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower))


def _failed(row: dict) -> bool:
    return row.get("error") is not None


def _abstained(row: dict) -> bool:
    return bool(row.get("abstained")) and not _failed(row)


def _answer_score(row: dict, key: str) -> float:
    # A failed question got no answer: it counts as wrong whatever was recorded.
    return 0.0 if _failed(row) else float(row[key])


def _cited_quotes(statements: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """Every quote the answer cites, once, in order."""
    return list(dict.fromkeys(q for _, quotes in statements for q in quotes))


def score_row(row: dict, checker: SupportChecker) -> dict:
    """The raw per-question row plus its scores.

    Adds em, f1, answer_recall (None for unanswerable questions; abstained and
    failed questions are scored as an empty answer; on a list question, with
    ``gold_all_of``, all three are 0 unless the answer names every item, and
    answer_recall is 1 when it does), list_complete (only on list questions),
    answer_words,
    retrieval_rank, citation_recall and citation_precision (None without
    statements; judged by ``checker``), and, judged against the gold data only
    (None for unanswerable questions): cited_evidence_correct (None unless the
    answer is right), wrong_but_cited (answered, no alias in the answer, at
    least one citation) and outcome (one of OUTCOMES).
    """
    gold = list(row.get("gold_answers") or [])
    evidence = list(row.get("evidence_quotes") or [])
    passages = list(row.get("passages") or [])
    text = strip_citations(row.get("answer") or "")
    answered = not row.get("abstained") and not _failed(row)
    prediction = text if answered else ""
    statements = [(s["text"], s.get("quotes") or []) for s in row.get("statements") or []]
    citation_recall, citation_precision = citation_scores(statements, checker)
    quotes = _cited_quotes(statements)
    all_of = list(row.get("gold_all_of") or []) if gold else []
    complete = names_all(prediction, all_of) if all_of else None
    # A list answer that misses an item earns nothing, however close its wording.
    counted = 1.0 if complete is None else float(complete)
    recall = (counted if all_of else answer_recall(prediction, gold)) if gold else None
    right = recall == 1.0
    retrieved = items_retrieved(passages, all_of) if all_of else first_hit_rank(passages, [], gold) is not None
    return {
        **row,
        "em": exact_match(prediction, gold) * counted if gold else None,
        "f1": token_f1(prediction, gold) * counted if gold else None,
        "answer_recall": recall,
        **({"list_complete": complete} if all_of else {}),
        "answer_words": answer_words(text),
        "retrieval_rank": first_hit_rank(passages, evidence, gold),
        "citation_recall": citation_recall,
        "citation_precision": citation_precision,
        "cited_evidence_correct": float(cites_gold_evidence(quotes, gold, evidence)) if right else None,
        "wrong_but_cited": (answered and not right and bool(quotes)) if gold else None,
        "outcome": answer_outcome(
            failed=_failed(row), abstained=bool(row.get("abstained")), right=right,
            alias_retrieved=retrieved,
        ) if gold else None,
    }


def answer_measures(rows: Sequence[dict]) -> dict:
    """Gold-judged answer measures of rows scored by score_row; the service's checker plays no part.

    answer_precision: of the answered (not abstained, not failed) questions
    with gold answers, the share whose answer holds an alias.
    cited_evidence_correctness: of those right answers, the share whose cited
    quotes hold an alias or overlap a gold evidence quote.
    n_wrong_but_cited: answered with citations, but no alias in the answer.
    n_<outcome>: answerable questions by outcome ("failed" is in n_failed).
    """
    answerable = [r for r in rows if r.get("gold_answers")]
    answered = [r for r in answerable if not _failed(r) and not r.get("abstained")]
    outcomes = Counter(r.get("outcome") for r in answerable)
    return {
        "answer_precision": _mean([r["answer_recall"] for r in answered]),
        "cited_evidence_correctness": _mean(
            [r["cited_evidence_correct"] for r in answered if r.get("outcome") == "right"]),
        "n_answered_with_gold": len(answered),
        "n_wrong_but_cited": sum(bool(r.get("wrong_but_cited")) for r in answerable),
        **{f"n_{outcome}": outcomes[outcome] for outcome in OUTCOMES if outcome != "failed"},
    }


def aggregate(rows: Sequence[dict]) -> dict:
    """Per-run metrics from rows scored by score_row; None where a metric is undefined.

    Answer and retrieval metrics cover answerable questions (non-empty gold
    answers); failed questions count as wrong and as retrieval misses when no
    passage was recorded. The gold-judged answer measures are those of
    ``answer_measures``. Only when the rows hold list questions (with
    ``gold_all_of``): n_lists and lists_complete, the share of them whose
    answer names every item (failed ones count as incomplete). Citation metrics (self-consistency: judged by the
    checker given to score_row) cover answered (not failed, not abstained)
    answerable questions with statements. Latency, tokens/s and answer length
    leave failed and unasked questions out.
    """
    answerable = [r for r in rows if r.get("gold_answers")]
    succeeded = [r for r in rows if not _failed(r)]
    answered = [r for r in succeeded if not r.get("abstained")]
    abstain_precision, abstain_recall = abstention_scores(
        [_abstained(r) for r in rows], [not r.get("gold_answers") for r in rows]
    )
    ranks = [r.get("retrieval_rank") for r in answerable]
    cited = [r for r in answered if r.get("gold_answers") and r.get("citation_recall") is not None]
    latencies = [float(r["latency_ms"]) for r in succeeded if r.get("latency_ms") is not None]
    return {
        "n_questions": len(rows),
        "n_failed": len(rows) - len(succeeded),
        **{key: _mean([_answer_score(r, key) for r in answerable]) for key in ("em", "f1", "answer_recall")},
        **list_measures(rows),
        **answer_measures(rows),
        "abstain_precision": abstain_precision,
        "abstain_recall": abstain_recall,
        **{f"recall_at_{k}": recall_at_k(ranks, k) for k in RECALL_KS},
        "mrr": mrr(ranks),
        "citation_recall": _mean([r["citation_recall"] for r in cited]),
        "citation_precision": _mean([r["citation_precision"] for r in cited]),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "tokens_per_s": decode_rate(succeeded),
        "answer_words": _mean([r["answer_words"] for r in answered]),
    }


def list_measures(rows: Sequence[dict]) -> dict:
    """n_lists and lists_complete of the list questions among scored rows; {} when there are none."""
    lists = [r for r in rows if r.get("gold_answers") and r.get("gold_all_of")]
    if not lists:
        return {}
    return {
        "n_lists": len(lists),
        "lists_complete": _mean([0.0 if _failed(r) else float(bool(r.get("list_complete"))) for r in lists]),
    }


def median_answer_words(rows: Sequence[dict]) -> float | None:
    """Median words per answer over the answered (not abstained, not failed) rows; None for none."""
    return percentile([r["answer_words"] for r in rows if not _failed(r) and not r.get("abstained")], 50)


def decode_rate(rows: Sequence[dict]) -> float | None:
    """Generation tokens/s after the first token, pooled over rows.

    Time to the first token is prompt processing, which grows with the
    passages and not with the answer, so it is left out; this matches the
    bench's per-answer rate.
    """
    timed = [r for r in rows if int(r.get("tokens") or 0) >= 2 and r.get("first_token_ms") is not None]
    tokens = sum(int(r["tokens"]) - 1 for r in timed)
    seconds = sum(float(r["generate_ms"]) - float(r["first_token_ms"]) for r in timed) / 1000
    return _ratio(tokens, seconds) if seconds > 0 else None


def by_tag(rows: Sequence[dict]) -> dict[str, dict]:
    """Tag -> answer recall, the gold-judged answer measures and the median words per answer
    (answered questions) of its questions with gold answers, tags sorted."""
    tagged: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row.get("gold_answers"):
            for tag in row.get("tags") or []:
                tagged[tag].append(row)
    return {
        tag: {
            "n_with_gold": len(group),
            "answer_recall": _mean([_answer_score(r, "answer_recall") for r in group]),
            **answer_measures(group),
            "answer_words_median": median_answer_words(group),
        }
        for tag, group in sorted(tagged.items())
    }


def answer_recall_by_tag(rows: Sequence[dict]) -> dict[str, tuple[float, int]]:
    """Tag -> (mean answer recall, number of answerable questions), tags sorted."""
    by_tag: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row.get("gold_answers"):
            for tag in row.get("tags") or []:
                by_tag[tag].append(_answer_score(row, "answer_recall"))
    return {tag: (sum(v) / len(v), len(v)) for tag, v in sorted(by_tag.items())}
