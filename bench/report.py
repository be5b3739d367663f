"""The printed table, and the files a run leaves under bench/results/."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.results import Figure, Ratio, Results, clean_json
from bench.targets import Verdict

GROUPS = {
    "burst": "N one-shot triggers due at one instant; recorded = committed and "
    "in the read models",
    "steady": "10k triggers every minute, due times spread evenly; n = windows",
    "start-up": "process start until the scheduler holds every stored trigger",
    "api": "the real server on 127.0.0.1, keep-alive connections, fixed duration",
    "tools": "event-log tools, on the embedded SQLite store",
}
HEADER = ("system", "case", "metric", "median", "min", "max", "n", "target", "")
# Kept in the JSON as checks on the run; the notes report any that fail.
HIDDEN = {
    "firings recorded",
    "triggers in queue",
    "events applied",
    "events archived",
    "events",
    "unexpected statuses",
    "load generator CPU %",
    "firings per window",
}


def number(value: float) -> str:
    if math.isnan(value):
        return "-"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def times(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"


def figure_row(figure: Figure, verdict: Verdict | None) -> list[str]:
    summary = figure.summary
    row = [figure.system, figure.case, figure.metric]
    if summary.count == 0:
        row += ["-", "-", "-", "0"]
    else:
        row += [number(summary.median), number(summary.low), number(summary.high)]
        row.append(str(summary.count))
    return row + _verdict_cells(verdict)


def ratio_row(ratio: Ratio, verdict: Verdict | None) -> list[str]:
    cells = ["ratio", ratio.case, ratio.name, times(ratio.value)]
    cells += [times(ratio.low), times(ratio.high), ""]
    return cells + _verdict_cells(verdict)


def _verdict_cells(verdict: Verdict | None) -> list[str]:
    if verdict is None:
        return ["", ""]
    return [verdict.target.text, verdict.mark + ("*" if verdict.note else "")]


def table(results: Results, verdicts: list[Verdict]) -> str:
    by_key = {v.target.key: v for v in verdicts}
    blocks = []
    for group in GROUPS:
        figures = [
            f
            for f in results.figures.values()
            if f.group == group and f.metric not in HIDDEN
        ]
        rows = [figure_row(f, by_key.get(f.key)) for f in figures]
        rows += [
            ratio_row(r, by_key.get(f"{r.group}|{r.case}|{r.name}"))
            for r in results.ratios.values()
            if r.group == group
        ]
        if rows:
            blocks.append((group, rows, _case_notes(figures)))
    return _render(blocks)


def _case_notes(figures: list[Figure]) -> list[str]:
    notes: dict[str, None] = {}
    for figure in figures:
        if figure.note:
            notes[f"   {figure.system}, {figure.case}: {figure.note}"] = None
    return list(notes)


def _render(blocks: list[tuple[str, list[list[str]], list[str]]]) -> str:
    every = [list(HEADER)] + [row for _, rows, _ in blocks for row in rows]
    widths = [max(len(row[i]) for row in every) for i in range(len(HEADER))]
    numeric = {3, 4, 5, 6}

    def line(row: list[str]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    out = [line(list(HEADER))]
    for group, rows, notes in blocks:
        out.append(f"-- {group}: {GROUPS[group]} --")
        out.extend(line(row) for row in rows)
        out.extend(notes)
    return "\n".join(out)


def write(
    results: Results, verdicts: list[Verdict], rendered: str, folder: Path
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = results.as_json()
    data["targets"] = [
        {
            "key": v.target.key,
            "target": v.target.text,
            "value": v.value,
            "result": v.mark,
            "note": v.note,
        }
        for v in verdicts
    ]
    path = folder / "results.json"
    path.write_text(json.dumps(clean_json(data), indent=2, default=str) + "\n")
    (folder / "table.txt").write_text(rendered + "\n")
    latest = folder.parent / f"latest-{results.mode}.json"
    latest.write_text(path.read_text())
    return path
