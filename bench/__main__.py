"""`python -m bench [--quick]`: run every benchmark, print the table, save JSON."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from bench import sections, sections_io
from bench.budget import Budget
from bench.checks import checks, verdict_notes
from bench.config import FULL, QUICK, Config
from bench.context import Context
from bench.environment import describe, load_average
from bench.profile_misses import profile_misses
from bench.report import table, write
from bench.results import Results
from bench.store import production_logging, settings_for
from bench.targets import Verdict, judge, targets_for

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS: dict[str, Callable[[Context], None]] = {
    "burst": sections.burst,
    "steady": sections.steady,
    "startup": sections.start_up,
    "api": sections_io.api,
    "tools": sections_io.tools,
}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the under-2-minute run")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: {','.join(SECTIONS)})",
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="profile missed targets (default: on in the full run only)",
    )
    return parser.parse_args(argv)


def chosen_config(args: argparse.Namespace) -> Config:
    config = QUICK if args.quick else FULL
    if args.profile is not None:
        config = replace(config, profile=args.profile)
    return config


def run(config: Config, only: list[str], out: Path) -> tuple[Results, list[Verdict]]:
    results = Results(config.mode, environment=describe(config))
    budget = Budget(config.budget_seconds)
    with tempfile.TemporaryDirectory(prefix="eventtrigger-bench-") as work:
        ctx = Context(config, results, budget, Path(work), out)
        ctx.state["batch_size"] = settings_for(Path(work)).scheduler_batch_size
        for name in only:
            ctx.guard(name, lambda section=SECTIONS[name]: section(ctx))
        targets = targets_for(config)
        if config.profile:
            profile_misses(ctx, judge(results, targets))
        if "burst" in only:
            ctx.guard("optional bursts", lambda: sections.optional_bursts(ctx))
        results.environment["elapsed_s"] = round(budget.elapsed(), 1)
        results.environment["load_average_at_end"] = load_average()
    return results, judge(results, targets)


def closing(results: Results, verdicts: list[Verdict], config: Config) -> str:
    env = results.environment
    missed = [v for v in verdicts if v.passed is False]
    lines = [
        "",
        f"mode {results.mode}; {env.get('elapsed_s')}s; {env.get('machine')}; "
        f"load average {env.get('load_average_at_start')} at start, "
        f"{env.get('load_average_at_end')} at end",
        "medians of the repetitions (n); ratio min/max bound any pair of them",
        f"targets: {sum(v.passed is True for v in verdicts)} pass, "
        f"{len(missed)} fail, {sum(v.passed is None for v in verdicts)} n/a",
    ]
    lines += verdict_notes(verdicts)
    lines += [f"note: {note}" for note in results.notes]
    lines += [f"check: {problem}" for problem in checks(results, config)]
    lines += [f"profile ({name}): {path}" for name, path in results.profiles.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    config = chosen_config(args)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        sys.stderr.write(f"unknown sections: {', '.join(sorted(unknown))}\n")
        return 2
    production_logging()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"{config.mode}-{stamp}"
    out.mkdir(parents=True)
    results, verdicts = run(config, only, out)
    rendered = table(results, verdicts) + "\n" + closing(results, verdicts, config)
    path = write(results, verdicts, rendered, out)
    sys.stdout.write(rendered + f"\nresults: {path}\n")
    failed_to_run = any("failed" in note for note in results.notes)
    return 1 if failed_to_run else 0


if __name__ == "__main__":
    raise SystemExit(main())
