"""Spotting text in articles that addresses the model instead of the reader.

News text never tells "the assistant" to ignore its instructions, so such
sentences are left out of the prompt and can never count as support: an
article cannot make an answer assert something just by asking for it.
"""
from __future__ import annotations

import re

_PATTERNS = [
    r"\bignore\b.{0,40}\b(instructions?|prompts?|rules|guidelines|context|passages?)\b",
    r"\bdisregard\b.{0,40}\b(instructions?|prompts?|rules|above|previous)\b",
    r"\bforget\b.{0,30}\b(instructions?|everything|previous)\b",
    r"\b(system|developer)\s+(prompt|message|instructions?)\b",
    r"\byou are (now )?(an?|the) (ai|assistant|language model|chatbot)\b",
    r"\b(ai|assistant|language model|chatbot|llm)s?\b.{0,40}\b(must|should|shall)\s+(answer|say|reply|respond|state)\b",
    r"\b(always|only)\s+(answer|reply|respond|say)\b.{0,30}\b(with|that)\b",
    r"\bnew instructions?\b",
]
_INSTRUCTION = re.compile("|".join(_PATTERNS), re.IGNORECASE | re.DOTALL)


def is_instruction_like(sentence: str) -> bool:
    """True when a sentence reads as an instruction to an AI model."""
    return bool(_INSTRUCTION.search(sentence))
