"""Re-score an existing report's rows with today's metrics, e.g. a run made
before the gold-judged measures existed:

    .venv/bin/python -m evals.rescore reports/old --out reports/old-rescored

Only the scoring changes: the answers, citations and passages are the ones
the old run recorded. The self-consistency citation metrics are re-judged by
today's checker; the old report keeps the old checker's verdicts.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from evals.metrics import aggregate, score_row
from evals.realtimeqa import ANSWERABLE
from evals.report import REPORT_FILES, write_report
from qa_service.services import embedder_for
from qa_service.settings import Settings
from qa_service.support_check import SupportChecker

# Keys score_row computes: dropped so that nothing of the old scoring survives.
_SCORED = {"em", "f1", "answer_recall", "answer_words", "retrieval_rank", "citation_recall",
           "citation_precision", "cited_evidence_correct", "wrong_but_cited", "outcome"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a report folder (or its report.json)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    path = args.report / REPORT_FILES["json"] if args.report.is_dir() else args.report
    old = json.loads(path.read_text(encoding="utf-8"))
    settings = Settings()
    checker = SupportChecker(embedder_for(settings), settings.checking)
    rows = [score_row({k: v for k, v in row.items() if k not in _SCORED}, checker) for row in old["rows"]]
    answerable = [r for r in rows if ANSWERABLE in (r.get("tags") or [])]
    blocks = {"metrics_answerable": (aggregate(answerable), "answerable questions only")} if answerable else {}
    run = {**(old.get("run") or {}), "rescored_from": str(path)}
    write_report(args.out, aggregate(rows), rows, title=f"{old.get('title', 'report')} (re-scored)", run=run,
                 blocks=blocks)
    print(json.dumps(aggregate(rows), indent=2))


if __name__ == "__main__":
    main()
