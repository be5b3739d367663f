"""Starts APScheduler on an existing SQLAlchemy job store and says "ready".

Run by the start-up benchmark as ``python -m bench.aps_start URL``; it stays
up (at most a minute) until the benchmark stops it by its PID.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

LINGER_SECONDS = 60


def main(url: str) -> None:
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url)},
        executors={"default": ThreadPoolExecutor(10)},
        timezone=UTC,
    )
    scheduler.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    time.sleep(LINGER_SECONDS)
    scheduler.shutdown(wait=False)


if __name__ == "__main__":
    main(sys.argv[1])
