"""Profiles taken where a target was missed, kept beside the figures."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bench import api_bench, sched_ours, tools_bench
from bench.context import Context
from bench.profiling import Spy, cprofile
from bench.results import OURS
from bench.store import settings_for
from bench.targets import Verdict, size_label
from eventtrigger.service import TriggerService
from scheduler_loop import SchedulerLoop

PROFILE_REBUILD_EVENTS = 100_000

Profiler = Callable[[Context, dict[str, Path]], None]


def profile_misses(ctx: Context, verdicts: list[Verdict]) -> None:
    names: list[str] = []
    for verdict in verdicts:
        name = verdict.target.profile
        if verdict.passed is False and name and name not in names:
            names.append(name)
    folder = ctx.out / "profiles"
    folder.mkdir(exist_ok=True)
    # The API's profiles share one server and go first (most targets hang on
    # them); the others run one by one, in the order of PROFILERS.
    api_names = [name for name in names if name.startswith("api ")]
    if api_names:
        profile_one(ctx, api_names, folder)
    others = [n for n in names if n not in api_names]
    for name in sorted(others, key=lambda n: list(PROFILERS).index(n.split()[0])):
        profile_one(ctx, [name], folder)


def profile_one(ctx: Context, names: list[str], folder: Path) -> None:
    kind = names[0].split()[0]
    estimate = ESTIMATES[kind](ctx) * len(names)
    title = ", ".join(names)
    if not ctx.budget.allows(estimate):
        ctx.results.notes.append(
            f"profile {title} skipped: needs about {estimate:.0f}s, "
            f"{ctx.budget.remaining():.0f}s of the budget left"
        )
        return
    ctx.say(f"profiling {title}")
    outs = {name: folder / _file_name(name) for name in names}

    def take() -> bool:
        PROFILERS[kind](ctx, outs)
        return True

    if ctx.guard(f"profile {title}", take):
        for name, out in outs.items():
            ctx.results.profiles[name] = str(out.with_suffix(".txt"))


def _file_name(name: str) -> str:
    return name.replace(" ", "-").replace(",", "")


def burst(ctx: Context, outs: dict[str, Path]) -> None:
    (out,) = outs.values()
    count = max(ctx.config.burst_sizes)
    fire, service = sched_ours.prepare_burst_profile(count, ctx.folder("profile"))
    try:
        cprofile(fire, out)
    finally:
        service.close()


def steady(ctx: Context, outs: dict[str, Path]) -> None:
    (out,) = outs.values()
    seconds = ctx.config.profile_seconds
    spies: list[Spy] = []
    sched_ours.steady_once(
        ctx.config.steady_triggers,
        seconds + 1,
        seconds + 1,
        ctx.folder("profile"),
        on_measure=lambda: spies.append(Spy(os.getpid(), seconds, out)),
    )
    spies[0].finish()


def startup(ctx: Context, outs: dict[str, Path]) -> None:
    (out,) = outs.values()
    folder = ctx.state["startup_folder"]

    def start() -> None:
        service = TriggerService(settings_for(folder))
        try:
            SchedulerLoop(service).load()
        finally:
            service.close()

    cprofile(start, out)


def api(ctx: Context, outs: dict[str, Path]) -> None:
    """py-spy on the server while each missed workload runs on 16 connections."""
    fixture = ctx.state["api_fixture"]
    seconds = ctx.config.profile_seconds
    with api_bench.ours(fixture, ctx.out / "server-profiled.log") as server:
        tokens = {
            user: api_bench.login(server.port, user)
            for user in (api_bench.READER, api_bench.WRITER, api_bench.FIRER)
        }
        workloads = api_bench.workloads(server.port, fixture, tokens)
        for name, out in outs.items():
            wanted = name.removeprefix("api ")
            workload = next(w for w in workloads if w.name == wanted)
            spy = Spy(server.pid, seconds, out)
            api_bench.load(server.port, workload, api_bench.MAX_CONNECTIONS, seconds)
            spy.finish()


def rebuild(ctx: Context, outs: dict[str, Path]) -> None:
    (out,) = outs.values()
    folder = ctx.state["rebuild_folder"]
    if ctx.config.rebuild_events > PROFILE_REBUILD_EVENTS:
        folder = ctx.folder("profile-rebuild")
        tools_bench.prepare_events(PROFILE_REBUILD_EVENTS, folder)
    cprofile(lambda: tools_bench.rebuild_once(folder, 900), out)


def _burst_estimate(ctx: Context) -> float:
    count = max(ctx.config.burst_sizes)
    figure = ctx.results.get(f"burst|{OURS}|{size_label(count)}|firings/s")
    rate = figure.summary.median if figure and figure.values else 1000.0
    return 2.5 * count / rate + sched_ours.RATE.setup_seconds(count) + 5


def compaction(ctx: Context, outs: dict[str, Path]) -> None:
    (out,) = outs.values()
    template = ctx.state["compaction_template"]
    folder = ctx.folder("profile-compaction")
    cprofile(lambda: tools_bench.compaction_once(template, folder), out)


PROFILERS: dict[str, Profiler] = {
    "api": api,
    "burst": burst,
    "rebuild": rebuild,
    "steady": steady,
    "compaction": compaction,
    "startup": startup,
}
ESTIMATES: dict[str, Callable[[Context], float]] = {
    "burst": _burst_estimate,
    "steady": lambda ctx: ctx.config.profile_seconds + 8,
    "startup": lambda ctx: 15,
    "api": lambda ctx: ctx.config.profile_seconds + 2.5,
    "rebuild": lambda ctx: 18,
    "compaction": lambda ctx: 15,
}
