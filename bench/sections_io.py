"""The API and event-log tool benchmarks."""

from __future__ import annotations

from bench import api_bench, tools_bench
from bench.context import Context
from bench.results import OURS, STARLETTE
from bench.targets import compaction_case, conn_case, rebuild_case, size_label

API_METRICS = (
    ("rps", "req/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("unexpected", "unexpected statuses"),
    ("loadgen_cpu_percent", "load generator CPU %"),
)
CONNECTIONS = (1, 16)
HASH_CASE = "scrypt n=2^14 r=8 p=1 (16 MiB)"


# API ---------------------------------------------------------------------------


def api(ctx: Context) -> None:
    fixture = api_bench.prepare(ctx.folder("api"), ctx.config.api_triggers)
    ctx.state["api_fixture"] = fixture
    with api_bench.ours(fixture, ctx.out / "server.log") as server:
        tokens = {
            name: api_bench.login(server.port, name)
            for name in (api_bench.READER, api_bench.WRITER, api_bench.FIRER)
        }
        ctx.state["api_tokens"] = tokens
        for workload in api_bench.workloads(server.port, fixture, tokens):
            api_workload(ctx, server.port, OURS, workload, ctx.config.api_duration)
        login = api_bench.login_workload(server.port)
        api_workload(ctx, server.port, OURS, login, ctx.config.login_duration)
    costs = api_bench.hash_cost_ms()
    ctx.results.add("api", OURS, HASH_CASE, "ms per hash (in-process)", costs)
    with api_bench.empty_starlette(ctx.out / "empty-starlette.log") as server:
        workload = api_bench.empty_workload(server.port)
        api_workload(ctx, server.port, STARLETTE, workload, ctx.config.api_duration)
    api_ratios(ctx)


def api_workload(
    ctx: Context, port: int, system: str, workload: api_bench.Workload, seconds: float
) -> None:
    config = ctx.config
    for connections in CONNECTIONS:
        ctx.run_reps(
            ("api", system, conn_case(workload.name, connections)),
            lambda i, c=connections: api_bench.load(port, workload, c, seconds),
            API_METRICS,
            config.api_reps,
            config.api_reps * (seconds + 2),
        )


def api_ratios(ctx: Context) -> None:
    for connections in CONNECTIONS:
        case = conn_case("GET one", connections)
        ctx.results.ratio(
            "api",
            case,
            f"{OURS} / {STARLETTE} req/s",
            f"api|{OURS}|{case}|req/s",
            f"api|{STARLETTE}|{conn_case('empty JSON', connections)}|req/s",
        )


# Event-log tools ---------------------------------------------------------------


def tools(ctx: Context) -> None:
    rebuild(ctx)
    replay(ctx)
    compaction(ctx)


def rebuild(ctx: Context) -> None:
    config = ctx.config
    folder = ctx.folder("rebuild")
    ctx.state["rebuild_folder"] = folder
    ctx.say(f"tools: storing {config.rebuild_events} events")
    stored = ctx.guard(
        "rebuild setup",
        lambda: tools_bench.prepare_events(config.rebuild_events, folder),
    )
    if stored is None:
        return
    ctx.run_reps(
        ("tools", OURS, rebuild_case(config)),
        lambda i: tools_bench.rebuild_once(folder, i),
        (("events_per_s", "events/s"), ("events", "events applied")),
        config.rebuild_reps,
        config.rebuild_slice,
        "fresh runner, renamed tables",
    )


def replay(ctx: Context) -> None:
    config = ctx.config
    folder = ctx.folder("replay")
    trigger_id = ctx.guard(
        "replay setup",
        lambda: tools_bench.prepare_replay(config.replay_firings, folder),
    )
    if trigger_id is None:
        return
    ctx.run_reps(
        (
            "tools",
            OURS,
            f"replay 1 trigger, {size_label(config.replay_firings)} firings",
        ),
        lambda i: tools_bench.replay_once(folder, trigger_id),
        (
            ("full_events_per_s", "events/s from events alone"),
            ("full_ms", "load from events alone ms"),
            ("snapshot_ms", "load with snapshot ms"),
            ("events", "events"),
        ),
        config.replay_reps,
        20,
    )


def compaction(ctx: Context) -> None:
    config = ctx.config
    count = config.compaction_events
    template = ctx.folder("compaction")
    ctx.state["compaction_template"] = template
    # The rebuild's store, when it is the size wanted, spares writing as many
    # events again: only its live read models are still to build.
    source = ctx.state.get("rebuild_folder")
    if source is not None and config.rebuild_events == count:
        ctx.say(f"tools: the rebuild's {count} events, read models built, to compact")
        stored = ctx.guard(
            "compaction setup",
            lambda: tools_bench.prepare_compaction_from(source, template, count),
        )
    else:
        ctx.say(f"tools: storing {count} old events for compaction")
        stored = ctx.guard(
            "compaction setup",
            lambda: tools_bench.prepare_compaction(count, template),
        )
    if stored is None:
        return
    ctx.run_reps(
        ("tools", OURS, compaction_case(config)),
        lambda i: tools_bench.compaction_once(template, ctx.folder("compacted")),
        (("events_per_s", "events/s"), ("events", "events archived")),
        config.compaction_reps,
        config.compaction_slice,
        "a copy of the store each run; every firing past the horizon",
    )
