"""Eval reports: JSON, Markdown and a PNG chart of one run; comparison of two runs.

report.json holds the run record (``run``: what produced the report), the
metrics, any extra metric blocks (e.g. ``metrics_answerable``), the
gold-judged measures per tag (``by_tag``, with the median words per answer)
and every scored row.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from evals.metrics import OUTCOMES, RATIO_KEYS, answer_recall_by_tag, by_tag

# Shares that only some runs have (the gold set has list questions); charted when present.
OPTIONAL_RATIO_KEYS = ("lists_complete",)

REPORT_FILES = {"json": "report.json", "md": "report.md", "png": "report.png"}
WORST_N = 10
EXAMPLES_PER_OUTCOME = 3
_CELL_CHARS = 120
_QUOTE_CHARS = 400

ComparisonRow = tuple[str, float | None, float | None, float | None]
Blocks = dict[str, tuple[dict, str]]
RunDifference = tuple[str, object, object]

# Judged by the service's own support checker, the one that filtered the
# answer: a wrong answer quoted verbatim scores 1.0. Labelled wherever shown.
SELF_CONSISTENCY = ("citation_recall", "citation_precision")

METRIC_NOTES = {
    "n_questions": "questions in the run",
    "n_failed": "questions that raised an error (scored as wrong)",
    "em": "answerable questions: answer equals a gold alias (SQuAD normalisation)",
    "f1": "answerable questions: token F1 with the best gold alias",
    "answer_recall": "answerable questions whose answer holds a gold alias (ALCE STR-EM); "
                     "a list question's must name every all_of item",
    "n_lists": "list questions (gold all_of)",
    "lists_complete": "list questions whose answer names every all_of item",
    "answer_precision": "answered questions with gold answers whose answer holds a gold alias",
    "cited_evidence_correctness": "right answers whose cited quotes hold a gold alias or half a gold evidence quote",
    "n_answered_with_gold": "answerable questions answered (not abstained, not failed)",
    "n_wrong_but_cited": "answered with citations, but no gold alias in the answer",
    "n_not_retrieved": "answerable, not right: no gold alias in the top-k passages",
    "n_retrieved_abstained": "answerable: a gold alias in the passages, yet abstained",
    "n_retrieved_wrong": "answerable: a gold alias in the passages, yet the answer lacks it",
    "n_right": "answerable: the answer holds a gold alias",
    "abstain_precision": "abstentions that were on unanswerable questions",
    "abstain_recall": "unanswerable questions abstained on",
    "mrr": "answerable: mean reciprocal rank of the first passage with evidence or alias",
    "citation_recall": "statements their citations support, judged by the service's own checker: not truth",
    "citation_precision": "citations that help support their statement, same checker: not truth",
    "latency_p50_ms": "median time per question, end to end",
    "latency_p95_ms": "95th percentile time per question",
    "tokens_per_s": "generation tokens/s after the first token",
    "answer_words": "mean words per answer (answered questions)",
}

# Meanings of the figures of extra metric blocks whose keys are their own (by block key).
BLOCK_NOTES = {
    "squad": {
        "n_questions": "questions in the run",
        "n_failed": "questions that raised an error (scored as wrong)",
        "exact": "official SQuAD 2.0 exact match over all questions (abstaining is the empty prediction)",
        "f1": "official SQuAD 2.0 token F1 over all questions",
        "n_has_ans": "answerable questions",
        "has_ans_exact": "answerable questions: exact match, best gold answer",
        "has_ans_f1": "answerable questions: token F1, best gold answer",
        "n_no_ans": "unanswerable questions",
        "no_ans_accuracy": "unanswerable questions abstained on (the empty prediction)",
        "n_answered": "questions answered (not abstained, not failed)",
        "n_answered_has_ans": "answerable questions answered",
        "gold_in_answer": "answered answerable questions whose answer holds a gold answer (official normalisation)",
        "has_ans_gold_in_answer": "answerable questions whose answer holds a gold answer (abstaining counts 0)",
        "answer_words": "mean words per answer (answered questions)",
    },
}

OUTCOME_NOTES = {
    "not_retrieved": "no gold alias in the top-k passages",
    "retrieved_abstained": "a passage held a gold alias, the service abstained",
    "retrieved_wrong": "a passage held a gold alias, the answer does not",
    "right": "the answer holds a gold alias",
    "failed": "the question raised an error",
}


def _decimals(key: str) -> int:
    """Milliseconds, rates and word counts to 1 decimal; ratios to 4."""
    return 1 if key.endswith("_ms") or key == "tokens_per_s" or key.startswith("answer_words") else 4


def _rounded(record: dict) -> dict:
    return {
        key: round(value, _decimals(key)) if isinstance(value, float) else value
        for key, value in record.items()
    }


def _fmt(key: str, value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    sign = "+" if signed else ""
    if isinstance(value, int):
        return f"{value:{sign}d}"
    return f"{value:{sign}.{_decimals(key)}f}"


def _cell(text: object, limit: int = _CELL_CHARS) -> str:
    """One Markdown table cell: single line, pipes escaped, long text cut."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat.replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], limit: int = _CELL_CHARS) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c, limit) for c in row) + " |" for row in rows]
    return lines


def metric_label(key: str) -> str:
    """The metric's name as shown to readers: checker-judged figures say so."""
    return f"{key} (self-consistency)" if key in SELF_CONSISTENCY else key


def _metric_rows(metrics: dict) -> list[tuple[str, str, str]]:
    return [(metric_label(k), _fmt(k, v), _note(k)) for k, v in metrics.items()]


def _note(key: str) -> str:
    if key.startswith("recall_at_"):
        return f"answerable: an evidence quote or alias in the top {key.removeprefix('recall_at_')} passages"
    return METRIC_NOTES.get(key, "")


def _worst_first(row: dict) -> tuple[int, float, float]:
    """Sort key: answerable questions by (f1, answer recall) ascending, then
    unanswerable ones, those answered anyway before correct abstentions."""
    if row.get("gold_answers"):
        return 0, row.get("f1") or 0.0, row.get("answer_recall") or 0.0
    abstained = float(bool(row.get("abstained")) and row.get("error") is None)
    return 1, abstained, abstained


def _gold_text(row: dict) -> str:
    return " / ".join(row.get("gold_answers") or []) or "(unanswerable)"


def _answer_text(row: dict) -> str:
    if row.get("not_asked"):
        return f"(not asked: {row['not_asked']})"
    return "(abstained)" if row.get("abstained") else row.get("answer") or ""


def _quotes_text(row: dict) -> str:
    quotes = dict.fromkeys(q for s in row.get("statements") or [] for q in s.get("quotes") or [])
    return " / ".join(f"“{q}”" for q in quotes)


def _convincing_first(row: dict) -> tuple[float, float]:
    """Sort key of wrong-but-cited answers: the checker's most confident first (those a
    reader would trust most), then the lowest F1."""
    support = max((float(c.get("score") or 0.0) for c in row.get("citations") or []), default=0.0)
    return -support, row.get("f1") or 0.0


def _run_lines(run: dict) -> list[str]:
    data = run.get("data") or {}
    git = run.get("git")
    code = "not a git checkout"
    if git:
        code = f"commit `{git['commit']}`" + (" with uncommitted changes" if git["dirty"] else "")
    settings = ", ".join(f"`{k}={v}`" for k, v in (run.get("settings") or {}).items())
    versions = ", ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items() if v)
    prompts = ", ".join(f"{name} `{digest[:12]}`" for name, digest in (run.get("prompt_sha256") or {}).items())
    models = run.get("models") or {}
    return [
        "## Run", "",
        f"- Data: {data.get('description', json.dumps(data))}",
        f"- Models: embedding {models.get('embedding', '?')}, generation {models.get('generation', '?')}",
        f"- Prompt templates (sha256): {prompts or 'none found'}",
        f"- Code: {code}",
        f"- Command: `{run.get('command', '')}`",
        f"- Settings: {settings}",
        f"- Versions: {versions}",
    ]


def _markdown(title: str, created_at: str, metrics: dict, rows: list[dict], run: dict | None,
              blocks: Blocks) -> str:
    lines = [f"# {title}", "", f"Created {created_at}."]
    if run is not None:
        lines += ["", *_run_lines(run)]
    lines += ["", "## Metrics", "",
              "Citation recall and precision are self-consistency: judged by the service's own support "
              "checker, the one that filtered the answer, so a wrong answer quoted verbatim scores 1. "
              "Answer precision, cited-evidence correctness and wrong-but-cited are judged against "
              "the gold answers and evidence only.", ""]
    lines += _table(("metric", "value", "meaning"), _metric_rows(metrics))
    for key, (block, label) in blocks.items():
        lines += ["", f"## Metrics, {label} ({block['n_questions']} questions)", ""]
        notes = BLOCK_NOTES.get(key)
        if notes:
            lines += _table(("metric", "value", "meaning"),
                            [(k, _fmt(k, v), notes.get(k, "")) for k, v in block.items()])
        else:
            lines += _table(("metric", "value"), [(metric_label(k), _fmt(k, v)) for k, v in block.items()])
    tags = by_tag(rows)
    if tags:
        lines += ["", "## Answers by tag", ""]
        lines += _table(
            ("tag", "with gold", "answer recall", "answered", "answer precision", "cited-evidence correctness",
             "wrong but cited", "median answer words"),
            [(tag, str(m["n_with_gold"]), _fmt("answer_recall", m["answer_recall"]),
              str(m["n_answered_with_gold"]), _fmt("answer_precision", m["answer_precision"]),
              _fmt("cited_evidence_correctness", m["cited_evidence_correctness"]), str(m["n_wrong_but_cited"]),
              _fmt("answer_words_median", m["answer_words_median"]))
             for tag, m in tags.items()],
        )
    lines += _outcome_lines(rows)
    lines += _wrong_but_cited_lines(rows)
    lines += ["", f"## Worst {WORST_N} questions", ""]
    worst = sorted(rows, key=_worst_first)[:WORST_N]
    lines += _table(
        ("id", "question", "gold", "answer", "f1", "retrieval rank", "error"),
        [
            (r.get("id", ""), r.get("question", ""), _gold_text(r), _answer_text(r), _fmt("f1", r.get("f1")),
             _fmt("retrieval_rank", r.get("retrieval_rank")), r.get("error") or "")
            for r in worst
        ],
    )
    return "\n".join(lines) + "\n"


def _outcome_lines(rows: list[dict]) -> list[str]:
    """Counts of the outcomes of questions with gold answers, then a few examples of each failure."""
    answerable = [r for r in rows if r.get("gold_answers")]
    if not answerable:
        return []
    grouped = {outcome: [r for r in answerable if r.get("outcome") == outcome] for outcome in OUTCOMES}
    lines = ["", f"## Outcomes of the {len(answerable)} questions with gold answers", ""]
    lines += _table(
        ("outcome", "questions", "share", "meaning"),
        [(o, str(len(g)), f"{len(g) / len(answerable):.4f}", OUTCOME_NOTES[o]) for o, g in grouped.items()],
    )
    for outcome, group in grouped.items():
        if outcome == "right" or not group:
            continue
        lines += ["", f"### {outcome}: first {min(len(group), EXAMPLES_PER_OUTCOME)} of {len(group)}", ""]
        lines += _table(
            ("id", "question", "gold", "answer", "error"),
            [(r.get("id", ""), r.get("question", ""), _gold_text(r), _answer_text(r), r.get("error") or "")
             for r in group[:EXAMPLES_PER_OUTCOME]],
        )
    return lines


def _wrong_but_cited_lines(rows: list[dict]) -> list[str]:
    wrong = sorted((r for r in rows if r.get("wrong_but_cited")), key=_convincing_first)
    if not wrong:
        return []
    lines = ["", f"## Wrong but cited: {len(wrong)} answers, the {min(len(wrong), WORST_N)} most convincing", "",
             "Answered with verbatim citations, yet no gold alias in the answer; ordered by the "
             "checker's support score, highest first.", ""]
    lines += _table(("id", "question", "gold", "answer", "cited quotes"),
                    [(r.get("id", ""), r.get("question", ""), _gold_text(r), r.get("answer") or "", _quotes_text(r))
                     for r in wrong[:WORST_N]], limit=_QUOTE_CHARS)
    return lines


def _chart(path: Path, title: str, metrics: dict, by_tag: dict[str, tuple[float, int]]) -> None:
    # Figure + Agg canvas directly, not pyplot: no global backend state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = [k for k in (*RATIO_KEYS, *OPTIONAL_RATIO_KEYS) if k in metrics]
    height = max(4.5, 0.35 * max(len(keys), len(by_tag)) + 1.5)
    fig = Figure(figsize=(12, height), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    _bars(left, [metric_label(k) for k in keys], [metrics[k] for k in keys], "Run metrics")
    if by_tag:
        labels = [f"{tag} ({n})" for tag, (_, n) in by_tag.items()]
        _bars(right, labels, [recall for recall, _ in by_tag.values()], "Answer recall by tag")
    else:
        right.text(0.5, 0.5, "no tagged answerable questions", ha="center", va="center")
        right.set_axis_off()
    fig.suptitle(title)
    fig.savefig(path, dpi=100)


def _bars(ax, labels: list[str], values: list[float | None], title: str) -> None:
    """Horizontal 0..1 bars, top to bottom in the given order; None drawn as "n/a"."""
    positions = range(len(labels))
    ax.barh(positions, [v or 0.0 for v in values], color="tab:blue")
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15)
    for y, value in zip(positions, values, strict=True):
        ax.text((value or 0.0) + 0.01, y, "n/a" if value is None else f"{value:.2f}", va="center", fontsize=8)
    ax.set_title(title)


def write_report(out_dir: str | Path, metrics: dict, rows: list[dict], title: str = "qa-service eval",
                 run: dict | None = None, blocks: Blocks | None = None) -> dict[str, Path]:
    """Write report.json, report.md and report.png into out_dir; return their paths by kind.
    The chart needs matplotlib (the ``eval`` extra): without it there is no "png".

    ``run`` is the run record (evals.runner.run_record); ``blocks`` are extra
    metric blocks, key -> (metrics, label), e.g. the answerable questions only.
    """
    blocks = blocks or {}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in REPORT_FILES.items()}
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    payload = {
        "title": title,
        "created_at": created_at,
        **({"run": run} if run is not None else {}),
        "metrics": _rounded(metrics),
        **{key: _rounded(block) for key, (block, _) in blocks.items()},
        "by_tag": {tag: _rounded(m) for tag, m in by_tag(rows).items()},
        "rows": [_rounded(row) for row in rows],
    }
    paths["json"].write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["md"].write_text(_markdown(title, created_at, metrics, rows, run, blocks), encoding="utf-8")
    try:
        _chart(paths["png"], title, metrics, answer_recall_by_tag(rows))
    except ModuleNotFoundError as missing:
        if (missing.name or "").partition(".")[0] != "matplotlib":
            raise
        del paths["png"]
    return paths


def _load(path: str | Path) -> dict:
    """A report, given its report.json or the folder holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / REPORT_FILES["json"]
    return json.loads(path.read_text(encoding="utf-8"))


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compare_reports(a_path: str | Path, b_path: str | Path) -> list[ComparisonRow]:
    """(metric, a, b, b - a) for every metric of either report, a's order first.

    The difference is None when either side is missing or undefined.
    """
    a, b = _load(a_path)["metrics"], _load(b_path)["metrics"]
    rows = []
    for key in [*a, *(k for k in b if k not in a)]:
        va, vb = a.get(key), b.get(key)
        delta = vb - va if _number(va) and _number(vb) else None
        rows.append((key, va, vb, round(delta, _decimals(key)) if isinstance(delta, float) else delta))
    return rows


def format_comparison(rows: Sequence[ComparisonRow]) -> str:
    """Plain-text table of compare_reports rows, numbers right-aligned."""
    cells = [("metric", "a", "b", "b - a")]
    cells += [(k, _fmt(k, a), _fmt(k, b), _fmt(k, d, signed=True)) for k, a, b, d in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    lines = [
        "  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]).rstrip()
        for row in cells
    ]
    return "\n".join(lines) + "\n"


def _flat(record: dict, prefix: str = "") -> dict[str, object]:
    """Nested dicts as dotted keys ("settings.top_k"); other values kept whole."""
    flat: dict[str, object] = {}
    for key, value in record.items():
        if isinstance(value, dict) and value:
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def compare_runs(a_path: str | Path, b_path: str | Path) -> list[RunDifference] | None:
    """(key, a, b) for every run-record entry that differs, a's order first; a key one side
    lacks has None there. None when either report predates run records."""
    a, b = _load(a_path).get("run"), _load(b_path).get("run")
    if a is None or b is None:
        return None
    fa, fb = _flat(a), _flat(b)
    return [(key, fa.get(key), fb.get(key)) for key in [*fa, *(k for k in fb if k not in fa)]
            if fa.get(key) != fb.get(key)]


def _shown(value: object) -> str:
    return "-" if value is None else value if isinstance(value, str) else json.dumps(value)


def format_run_differences(differences: Sequence[RunDifference] | None) -> str:
    """What differs in configuration between two runs, one line per setting."""
    if differences is None:
        return "Configuration: not recorded in both reports (one predates run records).\n"
    if not differences:
        return "Configuration: the same.\n"
    lines = ["Configuration differences (a -> b):"]
    lines += [f"  {key}: {_shown(a)} -> {_shown(b)}" for key, a, b in differences]
    return "\n".join(lines) + "\n"
