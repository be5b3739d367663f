"""The ``eventtrigger`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence

from eventtrigger import tools
from eventtrigger.logs import configure_logging
from eventtrigger.settings import Settings, SettingsError, load_settings

log = logging.getLogger(__name__)

ROLES = ("all", "api", "scheduler")


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventtrigger", description="Scheduled triggers with a replayable history."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API and the scheduler")
    serve.add_argument("--host", default=settings.host)
    serve.add_argument("--port", type=int, default=settings.port)
    serve.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="all: API and scheduler in one process (default)",
    )
    tools.add_commands(commands)
    return parser


def serve(settings: Settings, host: str, port: int, role: str) -> None:
    import uvicorn

    from api.app import create_app
    from eventtrigger.delivery import DeliveryWorker
    from eventtrigger.service import TriggerService
    from retention import ArchiveStore, RetentionJob
    from scheduler_loop import SchedulerLoop

    service = TriggerService(settings)
    scheduler = None
    background = []
    if role in ("all", "scheduler"):
        scheduler = SchedulerLoop(
            service,
            batch_size=settings.scheduler_batch_size,
            poll_interval=settings.poll_interval_seconds,
        )
        retention = RetentionJob(
            service,
            ArchiveStore(settings.archive_path),
            settings.retention_interval_seconds,
        )
        background.append(retention.run)
        background.append(DeliveryWorker(service, settings).run)
    log.info(
        "starting",
        extra={"role": role, "database": str(settings.sqlite_path)},
    )
    if role == "scheduler":
        assert scheduler is not None
        asyncio.run(_run_together([scheduler.run, *background]))
        return
    app = create_app(service, settings, scheduler=scheduler, background=background)
    uvicorn.run(app, host=host, port=port, access_log=False, log_config=None)


async def _run_together(jobs: Sequence[Callable[[], Awaitable[None]]]) -> None:
    await asyncio.gather(*(job() for job in jobs))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"eventtrigger: {error}", file=sys.stderr)
        return 2
    args = build_parser(settings).parse_args(argv)
    configure_logging(settings.log_level, settings.log_format)
    if args.command != "serve":
        return tools.run(args, settings)
    try:
        serve(settings, args.host, args.port, args.role)
    except KeyboardInterrupt:
        pass
    except (OSError, sqlite3.Error) as error:
        # A data folder that cannot be made, or a database file not opened.
        print(f"eventtrigger: cannot start: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
