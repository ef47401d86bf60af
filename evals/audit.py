"""The hand audit of the RealTimeQA development questions (``evals/audits``): does any
sentence of a question's week state its answer? See ``evals/audits/README.md``."""
from __future__ import annotations

import json
from pathlib import Path

AUDIT = Path(__file__).parent / "audits" / "realtimeqa-2025-stated.jsonl"
VERDICTS = ("stated", "earlier_event", "not_stated")


def load_audit(path: Path = AUDIT) -> dict[str, str]:
    """Question id -> verdict (one of ``VERDICTS``); empty when there is no audit file."""
    if not path.exists():
        return {}
    return {r["question_id"]: r["verdict"] for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def audit_tag(verdict: str) -> str:
    """The report tag of a verdict: ``audit-stated``, ``audit-earlier-event``, ``audit-not-stated``."""
    return "audit-" + verdict.replace("_", "-")
