"""Spotting the page's own furniture among an article's sentences.

Text taken from news pages keeps the links and calls to action laid out
between paragraphs: "More:Israel and Hamas reach deal on Gaza ceasefire",
"Watch Biden deliver former President Jimmy Carter's eulogy", "Sign up for
our newsletter". A link's text is another story's headline and a call to
action states nothing, so neither is evidence: like text addressed to the
model, such sentences are never shown to it and never count as support.
In the 2025 RealTimeQA pool they are about 1,070 of 137,000 sentences. A
name and a colon alone are not furniture: a news roundup writes "Toms
River:Councilman Daniel Rodrick said...".
"""
from __future__ import annotations

import re

_FURNITURE = re.compile(
    r"""^\W*(?:
        (?i:more|read\ more|read\ this|related|opinion|watch|listen|video|photos|gallery|see\ also|also\ read|
            live\ updates)\s*:                                                                # a link
      | (?i:more)(?:\s+[\w'’]+){1,3}:(?=\S)                  # a link under a topic: "More severe weather:One week..."
      | (?i:read\ more|sign\ up|subscribe|click\ here)\b                                   # a call to action
      | (?i:watch)\s+(?:[A-Z]|(?i:the|live|our|full)\b)                                     # a video's caption
    )""",
    re.VERBOSE,
)


def is_page_furniture(sentence: str) -> bool:
    """True for a link to another story or a call to action, not a sentence of the story."""
    return bool(_FURNITURE.match(sentence))
