"""The command-line tools beside ``serve``: compact, verify-archives, replay
and rebuild-projections. Each prints what it did; each exits non-zero when
something does not verify."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventtrigger.progress import Progress
from eventtrigger.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def add_commands(commands: Any) -> None:
    compact = commands.add_parser(
        "compact", help="archive firings older than the retention horizon"
    )
    compact.set_defaults(handler=run_compact)

    verify = commands.add_parser(
        "verify-archives", help="check every archive file and the manifest chain"
    )
    verify.set_defaults(handler=run_verify_archives)

    replay = commands.add_parser(
        "replay", help="a trigger's timeline and its state as of an instant"
    )
    replay.add_argument("trigger_id", nargs="?")
    replay.add_argument("--as-of", type=_instant, default=None)
    replay.add_argument("--all", action="store_true", help="every trigger's state")
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(handler=run_replay)

    rebuild = commands.add_parser(
        "rebuild-projections", help="rebuild read models from the whole history"
    )
    rebuild.add_argument("names", nargs="*")
    rebuild.add_argument(
        "--verify",
        action="store_true",
        help="compare a fresh build with the live tables instead of swapping",
    )
    rebuild.set_defaults(handler=run_rebuild)


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 instant, e.g. 2026-12-04T12:00:00Z"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ToolError(Exception):
    """Raised when a tool cannot start: it prints the message and exits 2."""


def _service(settings: Settings) -> Any:
    from eventtrigger.service import TriggerService

    path = settings.sqlite_path
    if not path.exists():
        raise ToolError(
            f"no database at {path}; set EVENTTRIGGER_DATA_DIR or "
            "EVENTTRIGGER_DATABASE_URL to the service's"
        )
    return TriggerService(settings)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the chosen tool; a tool that cannot start says why and exits 2."""
    try:
        return int(args.handler(args, settings))
    except ToolError as error:
        print(f"eventtrigger {args.command}: {error}", file=sys.stderr)
        return 2


def _archive(settings: Settings) -> Any:
    from retention import ArchiveStore

    return ArchiveStore(settings.archive_path)


def run_compact(args: argparse.Namespace, settings: Settings) -> int:
    from retention import Compactor, horizon_for

    service = _service(settings)
    progress = Progress("compact")
    compactor = Compactor(service, _archive(settings), progress=progress.update)
    horizon = horizon_for(service.clock(), settings.archived_log_seconds)
    report = compactor.run(horizon)
    progress.finish()
    files = " ".join(report.files) or "(none)"
    print(
        f"archived {report.archived_events} events into {len(report.files)} "
        f"file(s): {files}; horizon {horizon.isoformat()}; "
        f"{report.snapshots_taken} snapshot(s) taken; "
        f"{report.finished_previous} left over from an interrupted run removed"
    )
    service.close()
    return 0


def run_verify_archives(args: argparse.Namespace, settings: Settings) -> int:
    from retention import ArchiveIntegrityError, recorded_head

    service = _service(settings)
    archive = _archive(settings)
    try:
        entries = archive.verify(recorded_head(service.projections.database))
    except ArchiveIntegrityError as error:
        print(f"FAILED {error.file}: {error}", file=sys.stderr)
        return 1
    finally:
        service.close()
    for entry in entries:
        print(f"ok {entry['file']} {entry['events']} events sha256 {entry['sha256']}")
    for name in archive.unlisted_files():
        print(
            f"warning: {name} is not in the manifest (an interrupted compaction "
            "leaves one, and the next run writes over it)",
            file=sys.stderr,
        )
    print(f"{len(entries)} archive file(s) verified, chain intact")
    return 0


def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    from retention import ArchiveIntegrityError

    if bool(args.all) == bool(args.trigger_id):
        which = "not both" if args.all else "one of them is needed"
        print(f"replay: give either a TRIGGER_ID or --all ({which})", file=sys.stderr)
        return 2
    service = _service(settings)
    archive = _archive(settings)
    try:
        if args.all:
            return _replay_all(service, archive, args)
        return _replay_one(service, archive, args)
    except ArchiveIntegrityError as error:
        print(f"FAILED {error.file}: {error}", file=sys.stderr)
        return 1
    finally:
        service.close()


def _replay_one(service: Any, archive: Any, args: argparse.Namespace) -> int:
    from eventtrigger import replay

    try:
        trigger_id = UUID(args.trigger_id)
    except ValueError:
        print(f"replay: {args.trigger_id!r} is not a trigger id", file=sys.stderr)
        return 2
    events = replay.trigger_events(service, archive, trigger_id)
    if not events:
        print(f"replay: no trigger {trigger_id}", file=sys.stderr)
        return 1

    def until_as_of(items: list) -> list:
        return [
            replay.describe_event(e)
            for e in items
            if args.as_of is None or e.timestamp <= args.as_of
        ]

    shown = until_as_of(events)
    deliveries = {
        firing_id: until_as_of(attempts)
        for firing_id, attempts in replay.delivery_events(
            service, archive, events
        ).items()
    }
    state = replay.state_as_of(events, args.as_of)
    described = replay.describe_state(state) if state is not None else None
    if args.json:
        as_of = args.as_of.isoformat() if args.as_of else None
        document = {"trigger_id": str(trigger_id), "as_of": as_of}
        print(
            json.dumps(
                {
                    **document,
                    "events": shown,
                    "deliveries": deliveries,
                    "state": described,
                }
            )
        )
        return 0
    for line in shown:
        print(replay.timeline_line(line))
        for attempt in deliveries.get(str(line.get("firing_id")), []):
            print("    delivery " + replay.timeline_line(attempt).strip())
    label = args.as_of.isoformat() if args.as_of else "now"
    print(f"state as of {label}: {json.dumps(described, indent=2)}")
    return 0


def _replay_all(service: Any, archive: Any, args: argparse.Namespace) -> int:
    from eventtrigger import replay
    from retention import recorded_head

    archive.verify(recorded_head(service.projections.database))
    states = []
    for trigger_id in replay.trigger_ids(service):
        events = replay.trigger_events_unverified(service, archive, trigger_id)
        state = replay.state_as_of(events, args.as_of)
        if state is not None:
            states.append(replay.describe_state(state))
    if args.json:
        print(json.dumps(states))
    else:
        for state in states:
            print(
                f"{state['trigger_id']} {state['status']} "
                f"fired {state['fire_count']} next {state['next_fire_at']}"
            )
    return 0


def run_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from eventtrigger.rebuild import ProjectionRebuilder
    from retention import ArchiveIntegrityError

    service = _service(settings)

    def reporter(label: str) -> Callable[[int], None]:
        return Progress(label).update

    rebuilder = ProjectionRebuilder(service, _archive(settings), progress=reporter)
    try:
        if args.verify:
            results = rebuilder.verify(args.names)
        else:
            results = rebuilder.rebuild(args.names)
    except ValueError as error:
        print(f"rebuild-projections: {error}", file=sys.stderr)
        return 2
    except ArchiveIntegrityError as error:
        print(
            f"rebuild-projections: FAILED {error.file}: {error}; nothing rebuilt",
            file=sys.stderr,
        )
        return 1
    finally:
        service.close()
    for result in results:
        rows = ", ".join(
            f"{table} {count} rows" for table, count in result.rows.items()
        )
        verdict = ""
        if args.verify:
            verdict = " matches live" if result.matches else " DIFFERS from live"
        print(
            f"{result.name}: {rows}; position {result.position}; "
            f"checksum {result.checksum}{verdict}"
        )
    return 0 if all(r.matches for r in results) else 1
