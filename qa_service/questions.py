"""What a question asks: its kind (who, when, how much...), the terms that
name its topic and the terms that say what is asked about it.

Verification needs the split: the topic ("the MOU", "BlackRock") may be
stated anywhere in the story, but the predicate ("signed", "attended",
"invest") must be stated by the sentence that answers, or a name list from
a sentence about something else would pass as an answer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from index.sentences import split_sentences
from qa_service.support import SourceTerms, content_words, is_name, key_terms, numbers, stem, words

# Words of a question that say what kind of answer it wants, not what it is about.
_QUESTION_WORDS = frozenset(
    """who whom whose what which when where why how much many long old far often name names
    happen happened happens according did do does""".split()
    # Nouns that name the kind of answer, which the answering sentence does not
    # repeat: "the topic of the debate" is answered by "a debate on AI".
    + "topic subject purpose reason focus time".split()
)
# "When did the festival take place?": the phrase says that an event happened, not what happened.
_TAKE_PLACE = re.compile(r"\b(take|takes|took|taken|taking)\s+place\b", re.I)
_KINDS = (
    ("how_much", re.compile(r"\bhow (much|many|large|big|high|long|far|old)\b|\bwhat (amount|number|percentage|share|sum)\b", re.I)),
    ("when", re.compile(r"\bwhen\b|\bwhat (date|day|year|month|time)\b|\bwhich (date|day|year|month)\b", re.I)),
    ("where", re.compile(r"\bwhere\b|\bwhat (city|country|place|state|county|province|site)\b|\bwhich (city|country|place|state|county|province|site)\b", re.I)),
    ("who", re.compile(r"\bwho(m|se)?\b", re.I)),
    ("entity", re.compile(r"\bwhich\b|\bwhat (is|was|were|are) the names?\b|\bname the\b|\bwhat (company|firm|country|"
                          r"city|state|team|organi[sz]ation|group|brand|film|movie|book|show|song|party|agency|app|"
                          r"product|nation|airline|bank|university|school|club|network|award)\b", re.I)),
    ("why", re.compile(r"\bwhy\b", re.I)),
)
# "Who attended / joined / took part / signed": the answer is everyone the story names in that
# role (an agreement has a signer on each side).
_LIST_PREDICATES = frozenset(stem(w) for w in "attend join participate present accompany meet meeting member include sign".split())
_MONTHS = "january february march april may june july august september october november december jan feb mar apr jun jul aug sep sept oct nov dec"
_TIME_WORDS = frozenset(stem(w) for w in (_MONTHS + " monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow week month year morning night").split())
# A story that says the thing asked is not known answers the question with that statement.
_OPEN = re.compile(
    r"\b(did not|didn't|does not|doesn't|has not|hasn't|have not|haven't|had not|would not|wouldn't|"
    r"declined to|refused to|not yet|yet to)\b[^.;]{0,40}?\b(specify|specified|disclose|disclosed|say|said|"
    r"reveal|revealed|give|given|put a (figure|number)|announce|announced|confirm|confirmed|name|named|detail|"
    r"decide|decided|set|comment)\b|\bundisclosed\b|\bunspecified\b|\bnot (been )?(disclosed|specified|announced|decided|known)\b",
    re.I,
)


# A question about the present or the latest events: a time word ("this week", "recently",
# "new"), the present perfect ("has become", "have been transferred") or the present
# progressive ("is facing", "is being sued"). A years-old story reports an earlier state.
_CURRENT = re.compile(
    r"\b(?:this|last|past)\s+(?:week|weekend|month)\b|\brecent(?:ly)?\b|\blatest\b|\bcurrent(?:ly)?\b|\bnow\b"
    r"|\btoday\b|\btonight\b|(?-i:\bnew\b)"  # "new", not "New York"
    r"|\b(?:has|have)\s+(?:\w+ly\s+|not\s+|never\s+|just\s+)?(?:been|become|begun|broken|won|made|taken|given|gone"
    r"|seen|grown|fallen|risen|left|[a-z]{2,}ed)\b"
    r"|\b(?:is|are)\s+(?:\w+ly\s+|not\s+|now\s+)?(?:being\s+)?[a-z]{2,}ing\b",
    re.I,
)

# A place in news copy: a capitalised name after "in", "at", "near"... ("in New York").
_PLACE = re.compile(r"\b(in|at|near|outside|inside|from|to)\s+(the\s+)?[A-Z][a-z]", re.M)


@dataclass(frozen=True)
class QuestionProfile:
    text: str
    kind: str  # how_much | when | where | who | entity (which X) | why | what
    topic: frozenset[str]  # names, numbers and acronyms of the question
    entities: tuple[tuple[str, ...], ...]  # the topic grouped by name ("Lee Jae Myung")
    predicate: frozenset[str]  # the other content words: what is asked about the topic
    wants_list: bool
    required: frozenset[str] = frozenset()  # predicate terms the answering sentence must state
    verb_hinge: bool = False  # one of them is the verb the question hinges on
    current: bool = False  # asks about the present or the latest events ("this week", "has become")


    @property
    def terms(self) -> frozenset[str]:
        return self.topic | self.predicate


# "Which company", "what country": the noun names the answer's type, which
# the answering sentence rarely repeats ("Nvidia said..."), so it is not a predicate term.
_TYPE_NOUN = re.compile(r"\b(?:which|what)\s+([A-Za-z]+)", re.I)


def profile(question: str) -> QuestionProfile:
    """What the question asks. A quiz may set the scene first ("The IRS began accepting
    returns this week. What is the official deadline...?"): the kind and the predicate
    come from the sentence that asks, the names from all of it."""
    sentences = split_sentences(question)
    asking = sentences[-1] if len(sentences) > 1 else question
    kind = next((name for name, pattern in _KINDS if pattern.search(asking)), "what")
    topic = frozenset(key_terms(question))
    types = {stem(m) for m in _TYPE_NOUN.findall(asking)}
    # "this week" in a news quiz dates the question; it is not what is asked.
    asked = {w for w in content_words(_TAKE_PLACE.sub(" ", asking))
             if w not in _QUESTION_WORDS | _TIME_WORDS and w not in types}
    predicate = frozenset(w for w in asked if w not in {t.lower() for t in topic} and w not in topic)
    wants_list = kind == "who" and bool(predicate & _LIST_PREDICATES)
    verbs, nouns = _hinges(asking, _VERB_HINGES) & predicate, _hinges(asking, _NOUN_HINGES) & predicate
    return QuestionProfile(question, kind, topic, _entities(question), predicate, wants_list,
                           frozenset(verbs | nouns), bool(verbs), bool(_CURRENT.search(question)))


# The word a question hinges on: a sentence that states the rest of the question
# but not this word answers another question. A closing word is the verb only when
# no prepositional phrase comes before it ("What did the bank decide at its rate
# meeting?" closes on a noun).
_NO_PREPOSITION = r"(?:(?!\b(?:at|in|on|for|with|to|from|by|about|during|after|before|between|over|under|into|since)\b)[^?])*?"
# It is the verb ("who chairs", "what did the MOU cover", "when did Lee take office")...
_VERB_HINGES = (
    re.compile(r"^\s*who\s+(?:(?:will|would|did|does|do|has|have|had|is|are|was|were|can|could)\s+)?(?:be\s+)?([a-z]+)", re.I),
    # "Where was the minister born?", "When was the MOU signed?": the closing participle
    # of a passive ("When is the next meeting?" closes on a noun and has no hinge).
    re.compile(rf"^\s*(?:where|when|why|how)\s+(?:was|were)\s+{_NO_PREPOSITION}\s([a-z]+)\s*\?\s*$", re.I),
    # "What did the MOU cover?", "What post did Kim hold?": the closing verb.
    re.compile(rf"^\s*(?i:what)(?:\s+[a-z]+)?\s+(?:did|does|do|will|would|could|can|has|have|had)\s+{_NO_PREPOSITION}\s([a-z]+)\s*\?\s*$"),
    # "When did Lee Jae Myung take office?", "Why was Haenam chosen for...?", "What role
    # will Kim play on the task force?": the verb after a named subject (and an adverb).
    re.compile(r"^\s*(?i:when|where|why|how|what(?:\s+[a-z]+)?|which\s+[a-z]+)\s+"
               r"(?:did|does|do|will|would|could|can|was|were)\s+(?:[A-Z][\w'’.-]*\s+)+(?:[a-z]+ly\s+)?([a-z]+)\b"),
)
# ...or the noun of the quantity or attribute asked ("how many jobs", "what is the capacity of").
_NOUN_HINGES = (
    re.compile(r"\bhow (?:many|much)\s+([a-z]+)\s+(?:will|would|did|does|do|has|have|had|is|are|was|were|can|could)\b", re.I),
    re.compile(r"\bwhat (?:is|was|will be|are|were)\s+(?:the|its|their|his|her)\s+(?:[a-z]+\s+)?([a-z]+)\s+(?:of|for|in|at|on)\b", re.I),
)


def _hinges(question: str, patterns: tuple[re.Pattern[str], ...]) -> set[str]:
    return {stem(m.group(1)) for pattern in patterns if (m := pattern.search(question))}


def _entities(question: str) -> tuple[tuple[str, ...], ...]:
    """Runs of consecutive names and numbers: "Lee Jae Myung", "Larry Fink", "2025"."""
    groups: list[list[str]] = []
    previous = -2
    tokens = words(question)
    for i, w in enumerate(tokens):
        if is_name(w, i) or any(c.isdigit() for c in w):
            # "Bank of Korea" is one name, not a bank and a country.
            joined = i == previous + 2 and tokens[i - 1] == "of"
            if (i == previous + 1 or joined) and groups:
                groups[-1] += ["of", stem(w)] if joined else [stem(w)]
            else:
                groups.append([stem(w)])
            previous = i
    # A year or a weekday alone rarely recurs in the story that answers
    # ("in September 2025", "on Jan. 15"): it dates the question, it is not its topic.
    return tuple(tuple(g) for g in groups
                 if not (len(g) == 1 and (_YEAR.fullmatch(g[0]) or g[0].lower() in _TIME_WORDS)))


def is_open_statement(sentence: str) -> bool:
    """The sentence says something is not (yet) known: "did not put a figure on how much"."""
    return bool(_OPEN.search(sentence))


def adds_answer(q: QuestionProfile, sentence: str) -> bool:
    """Does the sentence say something of the kind asked that the question did not already say?

    A "who" answer names someone the question does not; "how much" gives a
    number; "when" a date or day; any kind may be answered by a statement
    that the thing is not known. Guards against tautologies ("X and Y
    attended the meeting between X and Y").
    """
    if is_open_statement(sentence):
        return True
    asked = {t.lower() for t in q.topic}
    tokens = words(sentence)
    new_names = names_in(sentence) - asked
    new_numbers = {n for n in numbers(sentence) if n not in asked}
    if q.kind == "how_much":
        return _has_quantity(sentence, asked, amount=bool(_AMOUNT_ASKED.search(q.text)))
    if q.kind == "when":
        return bool(new_numbers or ({stem(w) for w in tokens} & _TIME_WORDS))
    if q.kind == "where":
        return bool(_PLACE.search(sentence))
    if q.kind in ("who", "entity"):
        return bool(new_names)
    # All of the question's words, the scene a quiz sets included: repeating it adds nothing.
    new_words = content_words(sentence) - {t.lower() for t in q.terms} - content_words(q.text)
    return len(new_words) >= 3


_COUNT_WORDS = frozenset("one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty".split())
_AMOUNT_WORDS = frozenset("""hundred hundreds thousand thousands million millions billion billions trillion trillions
    several dozen dozens half once twice""".split())
_DATE_NUMBER = re.compile(rf"\b(?:{'|'.join(_MONTHS.split())})\.?\s+\d{{1,2}}\b|\b(?:19|20)\d\d\b", re.I)
# "How much will BlackRock invest?" asks an amount; "the two sides" or "over five years" is not one.
_AMOUNT_ASKED = re.compile(r"\bhow much\b|\bwhat (?:amount|sum)\b", re.I)


def _has_quantity(sentence: str, asked: set[str], amount: bool = False) -> bool:
    """A number that is not a date or a year, or a number word ("six times", "several trillion won").
    For an amount, a small count in words does not do."""
    undated = _DATE_NUMBER.sub(" ", sentence)
    figures = {n for n in numbers(undated) if n not in asked}
    counted = _AMOUNT_WORDS if amount else _AMOUNT_WORDS | _COUNT_WORDS
    return bool(figures) or any(w.lower() in counted for w in words(undated))


# "SEOUL — ", "OROVILLE, Calif. – ": where the story was filed, not what it says.
_DATELINE = re.compile(r"^\s*[A-Z][A-Z.'’ -]*[A-Z.](?:,\s*[A-Z][A-Za-z.]*)?\s*[—–―-]{1,2}\s+")


# Words between a doer and its verb: "Bae Kyung-hoon also announced", "Fink has signed".
_BETWEEN = frozenset("also has have had was were is are will would jointly formally later then".split())


def names_the_doer(q: QuestionProfile, sentence: str) -> bool:
    """For "who <verb>": does a name the question does not give stand right beside the
    verb ("signed by Bae Kyung-hoon", "Bae Kyung-hoon announced")? Then the sentence
    says who did it, not only that it was done."""
    if q.kind != "who" or not q.required:
        return False
    asked = {t.lower() for t in q.topic}
    tokens = words(_DATELINE.sub("x ", sentence, count=1))

    def new_name(j: int) -> bool:
        return 0 <= j < len(tokens) and is_name(tokens[j], j) and stem(tokens[j]).lower() not in asked | _TIME_WORDS

    for i, token in enumerate(tokens):
        if not any(SourceTerms([token]).has(h) for h in q.required):
            continue
        after = i + 2 if i + 1 < len(tokens) and tokens[i + 1].lower() == "by" else i + 1
        before = i - 1
        while before >= 0 and tokens[before].lower() in _BETWEEN:
            before -= 1
        if new_name(after) or new_name(before):
            return True
    return False


def names_in(text: str) -> set[str]:
    """Stems of the names a text mentions (capitalised words; a leading dateline, days
    and months left out: a lede's "SEOUL —" is not someone the story names)."""
    # The placeholder keeps the word after the dateline where it was: not sentence-initial.
    text = _DATELINE.sub("x ", text, count=1)
    return {stem(w).lower() for i, w in enumerate(words(text)) if is_name(w, i)} - _TIME_WORDS


_NAME_RUN = r"[A-Z][\w'’\-.]*(?:\s+[A-Z][\w'’\-.]*)*"
_COORDINATED = re.compile(rf"(?=({_NAME_RUN})\s*,?\s+and\s+(?:by\s+)?({_NAME_RUN}))")


def drops_partner(claim: str, source: str) -> bool:
    """The claim names someone the source joins to another with "and" but not the other
    ("signed by Bae Kyung-hoon and Fink" -> "Bae Kyung-hoon"): an incomplete answer.

    Only the name after "and" is required: the one before may be part of a
    longer name ("Science and ICT Minister Bae").
    """
    said = names_in(claim)
    for match in _COORDINATED.finditer(source):
        left, right = (names_in("x " + match.group(i)) for i in (1, 2))
        if left & said and right and not right & said:
            return True
    return False


# "Larry Fink, CEO of BlackRock": a name, then its role as "X of Y".
_APPOSITION = re.compile(rf"({_NAME_RUN}),\s+(?:the\s+|a\s+)?((?:[A-Za-z][\w-]*\s+){{1,3}}of\s+(?:the\s+)?[A-Z][\w'’-]*)")


def garbles_apposition(claim: str, source: str) -> bool:
    """The claim separates a person from the role the source gives them, or gives that
    role to someone else. Every word of the claim is in the source either way:
    - "Lee and Fink met with the CEO of BlackRock" from "Larry Fink, CEO of BlackRock"
      (one person made into two);
    - "Lee Jae Myung, head of the AI Innovation Center" from "Lee appointed Ha Jung-woo,
      head of the AI Innovation Center" (the role moved to the wrong person).
    """
    claim_roles = [m.group(2) for m in _APPOSITION.finditer(claim)]  # the roles the claim gives someone
    for match in _APPOSITION.finditer(source):
        name = match.group(1).split()[-1]
        role = r"\s+".join(map(re.escape, match.group(2).split()))
        if not re.search(rf"\b{role}", claim, re.I):
            continue
        beside = rf"\b{re.escape(name)}\b,?\s+(?:who\s+(?:is|was)\s+)?(?:the\s+|a\s+)?{role}"
        if re.search(rf"\b{re.escape(name)}\b", claim):
            if not re.search(beside, claim, re.I):
                return True
        elif any(re.search(role, given, re.I) for given in claim_roles):
            return True
    return False


# Light verbs lean on their noun: stated ("took office"), they count; unstated, the
# noun carries the meaning ("take effect" is stated by "go into effect").
_LIGHT_VERBS = frozenset(stem(w) for w in "take make get give go".split())


def predicate_coverage(q: QuestionProfile, source: SourceTerms) -> float:
    """Share of the question's predicate terms the source states (1.0 without any)."""
    counted = [t for t in q.predicate if t not in _LIGHT_VERBS or source.has(t)]
    if not counted:
        return 1.0
    return sum(source.has(t) for t in counted) / len(counted)


def dates_stated(q: QuestionProfile, source: SourceTerms) -> bool:
    """Every month and day of the question is stated by the source ("its Nov. 27 meeting"
    is not answered by a story's Oct. 23 lede that names Nov. 27 as the next meeting)."""
    asked = _dates(q.text)
    return not asked or asked <= _dates(source.text)


def topic_coverage(q: QuestionProfile, source: SourceTerms) -> float:
    """Share of the question's names the source states.

    A name counts when any of its words is stated ("Lee" for "President Lee
    Jae Myung"), but a date or figure only with its numbers: "Sept. 24" is
    not "Sept. 22". A year alone is left out (stories rarely repeat it).
    """
    if not q.entities:
        return 1.0
    return sum(_stated(entity, source) for entity in q.entities) / len(q.entities)


def _stated(entity: tuple[str, ...], source: SourceTerms) -> bool:
    figures = [t for t in entity if any(c.isdigit() for c in t) and not _YEAR.fullmatch(t)]
    month = next((_MONTH_OF_STEM[t.lower()] for t in entity if t.lower() in _MONTH_OF_STEM), None)
    if month is not None and len(figures) == 1 and figures[0].isdigit():
        # "Nov. 27" is stated by a story that says that day, not by one that has a 27 somewhere.
        return (month, int(figures[0])) in _dates(source.text)
    if month is not None and not figures:
        # "in October 2025" is stated by "Oct. 23".
        return any(_MONTH_OF_STEM.get(stem(w).lower()) == month for w in words(source.text))
    if figures:
        return all(source.has(t) for t in figures)
    if "of" in entity:
        # "Bank of Korea", "Medal of Freedom": both sides must be stated.
        cut = entity.index("of")
        return _stated(entity[:cut], source) and _stated(entity[cut + 1:], source)
    # An acronym beside a name is a common qualifier ("Haenam AI"): the name decides.
    words_ = [t for t in entity if not t.isupper()] or list(entity)
    return any(source.has(t) for t in words_)


_YEAR = re.compile(r"(19|20)\d\d")
_MONTH_NAMES = _MONTHS.split()[:12]
_MONTH_FORMS = {n: {full, full[:3]} | ({"sept"} if n == 9 else set()) for n, full in enumerate(_MONTH_NAMES, 1)}
# Stems of month names and their news abbreviations ("Sept.", "Nov."), by month number.
_MONTH_OF_STEM = {stem(form): n for n, forms in _MONTH_FORMS.items() for form in forms}
_MONTH_DAY = re.compile(rf"\b({'|'.join(sorted(set().union(*_MONTH_FORMS.values()), key=len, reverse=True))})"
                        r"\.?\s+(\d{1,2})\b", re.I)


def _dates(text: str) -> set[tuple[int, int]]:
    """The (month, day) pairs a text states: "Nov. 27", "November 27"."""
    return {(_MONTH_OF_STEM[stem(m.group(1))], int(m.group(2))) for m in _MONTH_DAY.finditer(text)}
