"""Eval reports: JSON, Markdown and a PNG chart of one run; comparison of two runs."""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from evals.metrics import RATIO_KEYS, answer_recall_by_tag

REPORT_FILES = {"json": "report.json", "md": "report.md", "png": "report.png"}
WORST_N = 10
_CELL_CHARS = 120

ComparisonRow = tuple[str, float | None, float | None, float | None]


def _decimals(key: str) -> int:
    """Milliseconds, rates and word counts to 1 decimal; ratios to 4."""
    return 1 if key.endswith("_ms") or key in ("tokens_per_s", "answer_words") else 4


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


def _cell(text: object) -> str:
    """One Markdown table cell: single line, pipes escaped, long text cut."""
    flat = " ".join(str(text).split())
    if len(flat) > _CELL_CHARS:
        flat = flat[: _CELL_CHARS - 1] + "…"
    return flat.replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _worst_first(row: dict) -> tuple[int, float, float]:
    """Sort key: answerable questions by (f1, answer recall) ascending, then
    unanswerable ones, those answered anyway before correct abstentions."""
    if row.get("gold_answers"):
        return 0, row.get("f1") or 0.0, row.get("answer_recall") or 0.0
    abstained = float(bool(row.get("abstained")) and row.get("error") is None)
    return 1, abstained, abstained


def _markdown(title: str, created_at: str, metrics: dict, rows: list[dict]) -> str:
    lines = [f"# {title}", "", f"Created {created_at}.", "", "## Metrics", ""]
    lines += _table(("metric", "value"), [(k, _fmt(k, v)) for k, v in metrics.items()])
    by_tag = answer_recall_by_tag(rows)
    if by_tag:
        lines += ["", "## Answer recall by tag", ""]
        lines += _table(
            ("tag", "questions", "answer recall"),
            [(tag, str(n), _fmt("answer_recall", recall)) for tag, (recall, n) in by_tag.items()],
        )
    lines += ["", f"## Worst {WORST_N} questions", ""]
    worst = sorted(rows, key=_worst_first)[:WORST_N]
    lines += _table(
        ("id", "question", "gold", "answer", "f1", "retrieval rank", "error"),
        [
            (
                r.get("id", ""),
                r.get("question", ""),
                " / ".join(r.get("gold_answers") or []) or "(unanswerable)",
                "(abstained)" if r.get("abstained") else r.get("answer") or "",
                _fmt("f1", r.get("f1")),
                _fmt("retrieval_rank", r.get("retrieval_rank")),
                r.get("error") or "",
            )
            for r in worst
        ],
    )
    return "\n".join(lines) + "\n"


def _chart(path: Path, title: str, metrics: dict, by_tag: dict[str, tuple[float, int]]) -> None:
    # Figure + Agg canvas directly, not pyplot: no global backend state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = [k for k in RATIO_KEYS if k in metrics]
    height = max(4.5, 0.35 * max(len(keys), len(by_tag)) + 1.5)
    fig = Figure(figsize=(12, height), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    _bars(left, keys, [metrics[k] for k in keys], "Run metrics")
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
    for y, value in zip(positions, values):
        ax.text((value or 0.0) + 0.01, y, "n/a" if value is None else f"{value:.2f}", va="center", fontsize=8)
    ax.set_title(title)


def write_report(out_dir: str | Path, metrics: dict, rows: list[dict], title: str = "qa-service eval") -> dict[str, Path]:
    """Write report.json, report.md and report.png into out_dir; return their paths by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in REPORT_FILES.items()}
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    payload = {
        "title": title,
        "created_at": created_at,
        "metrics": _rounded(metrics),
        "rows": [_rounded(row) for row in rows],
    }
    paths["json"].write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["md"].write_text(_markdown(title, created_at, metrics, rows), encoding="utf-8")
    _chart(paths["png"], title, metrics, answer_recall_by_tag(rows))
    return paths


def _load_metrics(path: str | Path) -> dict:
    """Metrics of a report, given its report.json or the folder holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / REPORT_FILES["json"]
    return json.loads(path.read_text(encoding="utf-8"))["metrics"]


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compare_reports(a_path: str | Path, b_path: str | Path) -> list[ComparisonRow]:
    """(metric, a, b, b - a) for every metric of either report, a's order first.

    The difference is None when either side is missing or undefined.
    """
    a, b = _load_metrics(a_path), _load_metrics(b_path)
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
        "  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:]))]).rstrip()
        for row in cells
    ]
    return "\n".join(lines) + "\n"
