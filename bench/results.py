"""What a run measured: figures (one value per repetition), ratios, notes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.stats import Summary, summarize

OURS = "eventtrigger"
APS_SQL = "APScheduler+SQLAlchemy"
APS_MEM = "APScheduler memory"
CEILING = "event store batches"
STARLETTE = "empty Starlette"


@dataclass
class Figure:
    """One measured quantity, with one value per repetition."""

    group: str
    system: str
    case: str
    metric: str
    values: list[float]
    note: str = ""

    @property
    def key(self) -> str:
        return figure_key(self.group, self.system, self.case, self.metric)

    @property
    def summary(self) -> Summary:
        return summarize(self.values)


@dataclass
class Ratio:
    """A comparison of two figures from the same run: their medians divided.

    low and high divide the extremes the other way round, so they bound the
    ratio of any pair of repetitions.
    """

    group: str
    case: str
    name: str
    numerator: str
    denominator: str
    value: float
    low: float
    high: float


@dataclass
class Results:
    mode: str
    figures: dict[str, Figure] = field(default_factory=dict)
    ratios: dict[str, Ratio] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        group: str,
        system: str,
        case: str,
        metric: str,
        values: list[float],
        note: str = "",
    ) -> Figure:
        figure = Figure(group, system, case, metric, list(values), note)
        self.figures[figure.key] = figure
        return figure

    def get(self, key: str) -> Figure | None:
        return self.figures.get(key)

    def ratio(
        self, group: str, case: str, name: str, numerator: str, denominator: str
    ) -> Ratio | None:
        top, bottom = self.get(numerator), self.get(denominator)
        if top is None or bottom is None:
            return None
        a, b = top.summary, bottom.summary
        if a.count == 0 or b.count == 0 or b.median == 0:
            return None
        ratio = Ratio(
            group,
            case,
            name,
            numerator,
            denominator,
            a.median / b.median,
            _divide(a.low, b.high),
            _divide(a.high, b.low),
        )
        self.ratios[f"{group}|{case}|{name}"] = ratio
        return ratio

    def as_json(self) -> dict[str, Any]:
        figures = []
        for figure in self.figures.values():
            entry = asdict(figure)
            entry["key"] = figure.key
            entry["summary"] = asdict(figure.summary)
            figures.append(entry)
        return clean_json(
            {
                "mode": self.mode,
                "environment": self.environment,
                "figures": figures,
                "ratios": [asdict(r) for r in self.ratios.values()],
                "notes": self.notes,
                "profiles": self.profiles,
            }
        )


def figure_key(group: str, system: str, case: str, metric: str) -> str:
    return f"{group}|{system}|{case}|{metric}"


def _divide(a: float, b: float) -> float:
    if b == 0 or math.isnan(a) or math.isnan(b):
        return math.nan
    return a / b


def clean_json(value: Any) -> Any:
    """NaN (a figure not measured) becomes null, which JSON can hold."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value
