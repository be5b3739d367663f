"""The scheduling benchmarks: burst, steady and start-up, ours and APScheduler."""

from __future__ import annotations

import math

from bench import sched_aps, sched_ours, startup
from bench.context import Context
from bench.results import APS_MEM, APS_SQL, CEILING, OURS
from bench.targets import size_label, startup_case, steady_case

BURST_METRICS = (
    ("firings_per_s", "firings/s"),
    ("last_recorded_s", "last recorded s"),
    ("late_p50_ms", "lateness p50 ms"),
    ("late_p99_ms", "lateness p99 ms"),
    ("late_max_ms", "lateness max ms"),
    ("recorded", "firings recorded"),
)
CEILING_METRICS = (("firings_per_s", "firings/s"), ("events_per_s", "events/s"))
STEADY_METRICS = (
    ("start_p50_ms", "to start p50 ms"),
    ("start_p99_ms", "to start p99 ms"),
    ("start_max_ms", "to start max ms"),
    ("durable_p50_ms", "to record p50 ms"),
    ("durable_p99_ms", "to record p99 ms"),
    ("durable_max_ms", "to record max ms"),
    ("cpu_percent", "CPU % of one core"),
    ("firings", "firings per window"),
)
STARTUP_METRICS = (
    ("ready_s", "ready s"),
    ("rss_mb", "RSS MiB"),
    ("peak_rss_mb", "peak RSS MiB"),
    ("loaded", "triggers in queue"),
)


# Burst -------------------------------------------------------------------------


def burst(ctx: Context) -> None:
    sched_ours.RATE.calibrate(ctx.folder("calibrate"))
    for size in ctx.config.burst_sizes:
        burst_size(ctx, size, with_aps=True)


def burst_size(ctx: Context, size: int, with_aps: bool) -> None:
    config, case = ctx.config, size_label(size)
    ctx.run_reps(
        ("burst", OURS, case),
        lambda i: sched_ours.burst_once(size, ctx.folder(f"burst-{case}")),
        BURST_METRICS,
        config.burst_reps,
        config.burst_slice,
    )
    batch = ctx.state["batch_size"]
    ctx.run_reps(
        ("burst", CEILING, case),
        lambda i: sched_ours.ceiling_once(size, ctx.folder("ceiling"), batch),
        CEILING_METRICS,
        config.burst_reps,
        config.burst_slice,
        f"{batch} firings per commit",
    )
    if with_aps:
        burst_aps(ctx, size, case)
    burst_ratios(ctx, case)


def burst_aps(ctx: Context, size: int, case: str) -> None:
    config = ctx.config
    for system, kind, sizes in (
        (APS_SQL, sched_aps.SQL, config.aps_sql_burst_sizes),
        (APS_MEM, sched_aps.MEMORY, config.aps_mem_burst_sizes),
    ):
        if size not in sizes:
            ctx.results.notes.append(f"burst {case}: {system} not run at this size")
            continue
        ctx.run_reps(
            ("burst", system, case),
            lambda i, k=kind: sched_aps.burst_once(size, k, ctx.folder("aps-burst")),
            BURST_METRICS,
            config.burst_reps,
            config.burst_slice,
        )


def burst_ratios(ctx: Context, case: str) -> None:
    mine = f"burst|{OURS}|{case}|firings/s"
    for other in (APS_SQL, APS_MEM, CEILING):
        ctx.results.ratio(
            "burst",
            case,
            f"{OURS} / {other} firings/s",
            mine,
            f"burst|{other}|{case}|firings/s",
        )


def optional_bursts(ctx: Context) -> None:
    """The sizes that run only while the budget allows (ours and the ceiling)."""
    for size in ctx.config.optional_burst_sizes:
        estimate = _burst_estimate(ctx, size)
        if not ctx.budget.allows(estimate):
            ctx.results.notes.append(
                f"burst {size_label(size)} skipped: needs about {estimate:.0f}s, "
                f"{ctx.budget.remaining():.0f}s of the budget left"
            )
            continue
        burst_size(ctx, size, with_aps=False)
        ctx.results.notes.append(
            f"burst {size_label(size)}: ours and the ceiling only "
            "(APScheduler would take minutes at this size)"
        )


def _burst_estimate(ctx: Context, size: int) -> float:
    largest = max(ctx.config.burst_sizes)
    figure = ctx.results.get(f"burst|{OURS}|{size_label(largest)}|firings/s")
    rate = figure.summary.median if figure and figure.values else math.nan
    if math.isnan(rate) or rate <= 0:
        return math.inf
    return size / rate + sched_ours.RATE.setup_seconds(size) + 10


# Steady ------------------------------------------------------------------------


def steady(ctx: Context) -> None:
    config = ctx.config
    case, count, window = (
        steady_case(config),
        config.steady_triggers,
        config.steady_window,
    )
    note = f"{window:g}s windows"
    runs = ctx.guard(
        "steady ours",
        lambda: sched_ours.steady_once(
            count, config.steady_seconds, window, ctx.folder("steady")
        ),
    )
    _steady_add(ctx, OURS, case, runs, note)
    for system, kind, seconds in (
        (APS_SQL, sched_aps.SQL, config.aps_steady_seconds),
        (APS_MEM, sched_aps.MEMORY, config.floor_seconds),
    ):
        runs = ctx.guard(
            f"steady {system}",
            lambda k=kind, s=seconds: sched_aps.steady_once(
                count, s, window, k, ctx.folder("aps-steady")
            ),
        )
        _steady_add(ctx, system, case, runs, note)
    steady_ratios(ctx, case)


def _steady_add(
    ctx: Context,
    system: str,
    case: str,
    runs: list[dict[str, float]] | None,
    note: str,
) -> None:
    if runs:
        ctx.add_runs(("steady", system, case), runs, STEADY_METRICS, note)
        ctx.say(f"steady: {system} {len(runs)} windows measured")


def steady_ratios(ctx: Context, case: str) -> None:
    for metric in ("to start p99 ms", "to start max ms"):
        for other in (APS_SQL, APS_MEM):
            ctx.results.ratio(
                "steady",
                case,
                f"{OURS} / {other} {metric.removeprefix('to ').removesuffix(' ms')}",
                f"steady|{OURS}|{case}|{metric}",
                f"steady|{other}|{case}|{metric}",
            )


# Start-up ----------------------------------------------------------------------


def start_up(ctx: Context) -> None:
    config = ctx.config
    case, count = startup_case(config), config.startup_triggers
    ours = ctx.folder("startup-ours")
    ctx.state["startup_folder"] = ours
    ctx.say(f"start-up: storing {count} triggers")
    ctx.guard("start-up setup", lambda: startup.prepare_ours(count, ours))
    ctx.run_reps(
        ("start-up", OURS, case),
        lambda i: startup.ours_once(ours),
        STARTUP_METRICS,
        config.startup_reps,
        30,
        "serve --role scheduler until its queue is loaded",
    )
    aps = ctx.folder("startup-aps")
    ctx.guard("start-up APScheduler setup", lambda: startup.prepare_aps(count, aps))
    ctx.run_reps(
        ("start-up", APS_SQL, case),
        lambda i: startup.aps_once(aps),
        STARTUP_METRICS[:3],
        config.startup_reps,
        20,
        "until start() returns",
    )
    ctx.results.ratio(
        "start-up",
        case,
        f"{OURS} / {APS_SQL} ready s",
        f"start-up|{OURS}|{case}|ready s",
        f"start-up|{APS_SQL}|{case}|ready s",
    )
