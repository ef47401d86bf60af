"""Builds completion-style prompts from the templates in ``prompts/``."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from qa_service.models import Passage

# The default model is a base model: it continues text, so it is stopped at
# the end of the answer line, or at the latest when it starts a new example.
STOP = ["\n", "Question:"]


def load_template(name: str, directory: Path | None = None) -> str:
    """Read a template from ``directory`` or from the installed ``prompts`` package."""
    if directory is not None:
        return (directory / name).read_text(encoding="utf-8")
    return resources.files("prompts").joinpath(name).read_text(encoding="utf-8")


class PromptBuilder:
    """Fills the answer template; the template is read once, at construction."""

    def __init__(self, template: str) -> None:
        if "{passages}" not in template or "{question}" not in template:
            raise ValueError("the answer template needs {passages} and {question} slots")
        # The prompt must end right after "Answer:": with a trailing newline
        # (as editors save files) the model starts a new line, not an answer.
        self.template = template.rstrip()

    @property
    def prefix(self) -> str:
        """The fixed part before the passages: the same for every question, so worth caching."""
        return self.template.split("{passages}", 1)[0]

    def build(self, question: str, passages: list[Passage], shown: list[list[str]] | None = None) -> str:
        """The prompt; ``shown`` holds the sentences of each passage to include (default: all)."""
        # str.replace, not str.format: article text may contain braces.
        return self.template.replace("{passages}", format_passages(passages, shown)).replace(
            "{question}", " ".join(question.split())
        )


def format_passages(passages: list[Passage], shown: list[list[str]] | None = None) -> str:
    """``[n] Title (YYYY-MM-DD)`` then the text on one line: the layout the template's examples use.

    Passages with nothing to show are left out; sentences addressed to the
    model are not news, so it never sees them.
    """
    shown = shown if shown is not None else [[s.text for s in p.sentences if s.readable] for p in passages]
    blocks = []
    for p, sentences in zip(passages, shown, strict=True):
        if sentences:
            date = f" ({p.published_at[:10]})" if p.published_at else ""
            blocks.append(f"[{p.n}] {p.title}{date}\n{' '.join(' '.join(sentences).split())}")
    return "\n".join(blocks)
