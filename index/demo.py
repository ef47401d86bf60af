"""The demo corpus shipped inside this package (described in demo_corpus.md)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path


def demo_corpus_path() -> Path:
    """The folder of demo articles, inside the installed ``index`` package."""
    return Path(str(resources.files("index").joinpath("demo_corpus")))
