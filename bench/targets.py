"""The targets of the benchmark task, checked against the figures of one run."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from bench.config import Config
from bench.results import APS_SQL, CEILING, OURS, STARLETTE, Results, figure_key

API_WORKLOADS = ("GET one", "list 100 of 1,000", "create", "fire")


def size_label(count: int) -> str:
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count >= 1000 and count % 1000 == 0:
        return f"{count // 1000}k"
    return str(count)


def burst_case(config: Config) -> str:
    size = 10_000 if 10_000 in config.burst_sizes else max(config.burst_sizes)
    return size_label(size)


def steady_case(config: Config) -> str:
    return f"{size_label(config.steady_triggers)}/min"


def startup_case(config: Config) -> str:
    return f"{size_label(config.startup_triggers)} stored"


def rebuild_case(config: Config) -> str:
    return f"rebuild {size_label(config.rebuild_events)} events"


def compaction_case(config: Config) -> str:
    return f"compaction {size_label(config.compaction_events)} events"


def conn_case(workload: str, connections: int) -> str:
    return f"{workload}, {connections} conn"


def ratio_key(group: str, case: str, name: str) -> str:
    return f"{group}|{case}|{name}"


@dataclass(frozen=True)
class Target:
    key: str
    text: str
    holds: Callable[[float], bool]
    profile: str
    # "median", or "high" where the worst repetition must meet it.
    use: str = "median"
    defined_at: str = ""


@dataclass(frozen=True)
class Verdict:
    target: Target
    value: float
    passed: bool | None
    note: str

    @property
    def mark(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


def targets_for(config: Config) -> list[Target]:
    return [
        *_burst_targets(config),
        *_steady_targets(config),
        *_startup_targets(config),
        *_api_targets(),
        *_tools_targets(config),
    ]


def _burst_targets(config: Config) -> list[Target]:
    case = burst_case(config)
    return [
        Target(
            ratio_key("burst", case, f"{OURS} / {APS_SQL} firings/s"),
            ">= 20x",
            lambda v: v >= 20,
            "burst",
            defined_at="10k",
        ),
        Target(
            ratio_key("burst", case, f"{OURS} / {CEILING} firings/s"),
            ">= 0.5x",
            lambda v: v >= 0.5,
            "burst",
            defined_at="10k",
        ),
    ]


def _steady_targets(config: Config) -> list[Target]:
    case = steady_case(config)
    return [
        Target(
            ratio_key("steady", case, f"{OURS} / {APS_SQL} start p99"),
            "<= 1x",
            lambda v: v <= 1.0,
            "steady",
        ),
        Target(
            figure_key("steady", OURS, case, "to record p99 ms"),
            "<= 5 ms",
            lambda v: v <= 5,
            "steady",
        ),
        Target(
            figure_key("steady", OURS, case, "to record max ms"),
            "<= 50 ms (worst window)",
            lambda v: v <= 50,
            "steady",
            use="high",
        ),
    ]


def _startup_targets(config: Config) -> list[Target]:
    case = startup_case(config)
    return [
        Target(
            figure_key("start-up", OURS, case, "ready s"),
            "<= 3 s",
            lambda v: v <= 3,
            "startup",
            defined_at="100k stored",
        ),
        Target(
            figure_key("start-up", OURS, case, "RSS MiB"),
            "<= 300 MB",
            lambda v: v <= 300e6 / 2**20,
            "startup",
            defined_at="100k stored",
        ),
    ]


def _api_targets() -> list[Target]:
    get_case = conn_case("GET one", 16)
    targets = [
        Target(
            ratio_key("api", get_case, f"{OURS} / {STARLETTE} req/s"),
            ">= 0.3x",
            lambda v: v >= 0.3,
            "api GET one",
        ),
        Target(
            figure_key("api", OURS, conn_case("create", 16), "req/s"),
            ">= 2,000/s",
            lambda v: v >= 2000,
            "api create",
        ),
    ]
    for workload in API_WORKLOADS:
        targets.append(
            Target(
                figure_key("api", OURS, conn_case(workload, 16), "p99 ms"),
                "< 50 ms",
                lambda v: v < 50,
                f"api {workload}",
            )
        )
    return targets


def _tools_targets(config: Config) -> list[Target]:
    return [
        Target(
            figure_key("tools", OURS, rebuild_case(config), "events/s"),
            ">= 100k/s",
            lambda v: v >= 100_000,
            "rebuild",
            defined_at="rebuild 1M events",
        ),
        Target(
            figure_key("tools", OURS, compaction_case(config), "events/s"),
            ">= 50k/s",
            lambda v: v >= 50_000,
            "compaction",
            defined_at="compaction 1M events",
        ),
    ]


def judge(results: Results, targets: list[Target]) -> list[Verdict]:
    return [_judge_one(results, target) for target in targets]


def _judge_one(results: Results, target: Target) -> Verdict:
    value = _value(results, target)
    if value is None or math.isnan(value):
        return Verdict(target, math.nan, None, "")
    note = ""
    case = target.key.split("|")[-2]
    if target.defined_at and target.defined_at not in case:
        note = f"target set for {target.defined_at}; checked at {case}"
    return Verdict(target, value, bool(target.holds(value)), note)


def _value(results: Results, target: Target) -> float | None:
    ratio = results.ratios.get(target.key)
    if ratio is not None:
        return ratio.value
    figure = results.get(target.key)
    if figure is None or not figure.values:
        return None
    summary = figure.summary
    return summary.high if target.use == "high" else summary.median
