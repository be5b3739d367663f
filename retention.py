"""Retention: old firings leave the live store for verifiable archive files.

An event-log entry is ``active`` for two hours after its firing, ``archived``
until 48 hours, then leaves the log (both are settings; the state is worked out
from the firing's age when the log is read). Past that horizon, compaction moves
the ``Fired`` events themselves, with the attempts of each ended delivery, out
of the live store into append-only archive
files: gzip-compressed JSON lines, each listed in a manifest with its SHA-256,
event count, notification-id range and time range, every manifest entry carrying
the hash of the one before it.

The order makes a crash harmless: snapshot every touched trigger first (so its
state never needs the events again), write and fsync the archive and then the
manifest, and only then delete the events and their log rows in one
transaction. A re-run first finishes the newest archive's deletion, so events
end in the store, the archive or both, and never in two archives.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
GENESIS_HASH = "0" * 64
# SQLite allows a bounded number of bound parameters per statement.
DELETE_CHUNK = 500
# The page cache of the transaction that deletes a batch (the default is 2 MiB).
DELETE_CACHE_KIB = 256 * 1024


class ArchiveIntegrityError(Exception):
    """Raised when an archive file or the manifest chain does not verify."""

    def __init__(self, message: str, file: str | None = None) -> None:
        super().__init__(message)
        self.file = file


@dataclass(frozen=True)
class ArchivedEvent:
    """One stored event as an archive keeps it: exactly the bytes the store had."""

    notification_id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes

    def to_line(self) -> bytes:
        return archive_line(
            self.notification_id,
            json.dumps(self.originator_id),
            self.originator_version,
            json.dumps(self.topic),
            self.state,
        )

    @classmethod
    def from_line(cls, line: bytes) -> ArchivedEvent:
        line = line.rstrip(b"\r\n")
        match = _INLINE_HEAD.match(line)
        if match is not None and line[match.end() : match.end() + 1] == b"{":
            if not line.endswith(b"}}"):
                raise ValueError("archive line ends before its state does")
            return cls(
                int(match[1]),
                _text(match[2]),
                int(match[3]),
                _text(match[4]),
                line[match.end() : -1],
            )
        record = json.loads(line)
        return cls(
            record["id"],
            record["originator_id"],
            record["originator_version"],
            record["topic"],
            record["state"].encode(),
        )


# A line is one JSON object. The stored state, itself a JSON object, is its
# "state" value byte for byte, so archiving neither decodes nor escapes it.
# A state that is not one line of object text is kept as a JSON string, as
# archives written before held every state; readers take either.
_JSON_TEXT = rb'("(?:[^"\\]|\\.)*")'
_INLINE_HEAD = re.compile(
    rb'\{"id":(\d+),"originator_id":' + _JSON_TEXT + rb',"originator_version":(\d+),'
    rb'"topic":' + _JSON_TEXT + rb',"state":'
)


def archive_line(
    notification_id: int,
    originator_json: str,
    originator_version: int,
    topic_json: str,
    state: bytes,
) -> bytes:
    """One archive line; originator id and topic come already as JSON strings
    (ASCII, as ``json.dumps`` writes them)."""
    if _inlines(state):
        head = (
            f'{{"id":{notification_id},"originator_id":{originator_json},'
            f'"originator_version":{originator_version},"topic":{topic_json},'
            '"state":'
        )
        return b"".join((head.encode(), state, b"}\n"))
    record = {
        "id": notification_id,
        "originator_id": json.loads(originator_json),
        "originator_version": originator_version,
        "topic": json.loads(topic_json),
        "state": state.decode(),
    }
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def _inlines(state: bytes) -> bool:
    # bytes.splitlines() ends a line at CR as well as LF.
    return (
        state[:1] == b"{"
        and state[-1:] == b"}"
        and b"\n" not in state
        and b"\r" not in state
    )


def _text(quoted: bytes) -> str:
    # Without an escape, the ASCII between the quotes is the text itself.
    if b"\\" not in quoted:
        return quoted[1:-1].decode()
    return str(json.loads(quoted))


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ArchiveSpan:
    """What a manifest entry says of its file: how many events, which ids, and
    the instants of the first and last firing."""

    events: int
    first_id: int
    last_id: int
    first_at: str
    last_at: str


class ArchiveStore:
    """The archive folder: numbered files and the chained manifest."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def entries(self) -> list[dict[str, Any]]:
        if not self.folder.exists():
            return []
        if self.folder.is_dir() and not self.manifest_path.exists():
            return []
        if not self.folder.is_dir():
            raise ArchiveIntegrityError("the archive folder is not a folder", MANIFEST)
        with self.manifest_path.open("rb") as handle:
            try:
                return [json.loads(line) for line in handle if line.strip()]
            except ValueError:
                raise ArchiveIntegrityError(
                    "the manifest holds a line that is not JSON", MANIFEST
                ) from None

    def write_file(self, compressed: bytes) -> tuple[str, str]:
        """Write the next numbered archive file, fsynced; return name and SHA-256.

        ``compressed`` is what ``compress_lines`` made of the file's lines. A
        file left by a run that stopped before its manifest entry is simply
        written over: it was never listed, so nothing refers to it.
        """
        # Archives hold payloads, like the database: owner-only.
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"events-{len(self.entries()) + 1:06d}.jsonl.gz"
        _write_synced(self.folder / name, compressed)
        return name, hashlib.sha256(compressed).hexdigest()

    def append_entry(
        self,
        name: str,
        sha256: str,
        span: ArchiveSpan,
    ) -> dict[str, Any]:
        """List a written file in the manifest, chained to the entry before."""
        entries = self.entries()
        entry = {
            "sequence": len(entries) + 1,
            "file": name,
            "sha256": sha256,
            "events": span.events,
            "first_id": span.first_id,
            "last_id": span.last_id,
            "first_at": span.first_at,
            "last_at": span.last_at,
            "prev_hash": entries[-1]["hash"] if entries else GENESIS_HASH,
        }
        entry["hash"] = entry_hash(entry)
        _append_synced(self.manifest_path, json.dumps(entry, sort_keys=True) + "\n")
        return entry

    def read(self, entry: dict[str, Any]) -> list[ArchivedEvent]:
        data = gzip.decompress((self.folder / entry["file"]).read_bytes())
        return [ArchivedEvent.from_line(line) for line in data.splitlines() if line]

    def iter_events(self) -> Iterator[ArchivedEvent]:
        for entry in self.entries():
            yield from self.read(entry)

    def unlisted_files(self) -> list[str]:
        """Archive files the manifest does not list (an interrupted run leaves
        one; the next run writes over it)."""
        if not self.folder.is_dir():
            return []
        listed = {entry["file"] for entry in self.entries()}
        present = {path.name for path in self.folder.glob("events-*.jsonl.gz")}
        return sorted(present - listed)

    def verify(self, head: tuple[int, str] | None = None) -> list[dict[str, Any]]:
        """Check every file and the chain; raise naming the first file at fault.

        ``head`` is the (sequence, hash) of the newest entry as the store
        recorded it when deleting that entry's events: a manifest cut short,
        or gone, no longer reaches it.
        """
        previous = GENESIS_HASH
        entries = self.entries()
        self._verify_head(entries, head)
        for entry in entries:
            name = entry.get("file", "?")
            if entry.get("prev_hash") != previous:
                raise ArchiveIntegrityError("manifest chain is broken", name)
            if entry_hash(entry) != entry.get("hash"):
                raise ArchiveIntegrityError("manifest entry was changed", name)
            self._verify_file(entry)
            previous = entry["hash"]
        return entries

    def _verify_head(
        self, entries: list[dict[str, Any]], head: tuple[int, str] | None
    ) -> None:
        if head is None:
            return
        sequence, hash_ = head
        if len(entries) < sequence:
            raise ArchiveIntegrityError(
                f"the manifest ends at entry {len(entries)}, but the store "
                f"recorded archiving entry {sequence}",
                MANIFEST,
            )
        if entries[sequence - 1].get("hash") != hash_:
            name = entries[sequence - 1].get("file", MANIFEST)
            raise ArchiveIntegrityError(
                "entry differs from the one the store recorded", name
            )

    def _verify_file(self, entry: dict[str, Any]) -> None:
        name = entry["file"]
        path = self.folder / name
        if not path.exists():
            raise ArchiveIntegrityError("archive file is missing", name)
        if hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            raise ArchiveIntegrityError("archive file does not match its SHA-256", name)
        try:
            events = self.read(entry)
        except (OSError, ValueError, KeyError) as error:
            raise ArchiveIntegrityError(
                f"archive file unreadable: {error}", name
            ) from None
        ids = (
            (events[0].notification_id, events[-1].notification_id) if events else None
        )
        if len(events) != entry["events"] or ids != (
            entry["first_id"],
            entry["last_id"],
        ):
            raise ArchiveIntegrityError("archive contents differ from manifest", name)


def compress_lines(lines: bytes) -> bytes:
    """An archive file's bytes: its lines, gzip-compressed."""
    # mtime=0 keeps the file a pure function of its events.
    # Level 6 compresses these lines nearly as well as 9, at twice the speed.
    return gzip.compress(lines, compresslevel=6, mtime=0)


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    _sync_folder(path.parent)


def _append_synced(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as handle:
        handle.write(text.encode())
        handle.flush()
        os.fsync(handle.fileno())
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    # A new file's name is durable only once its folder is synced too.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Compaction -------------------------------------------------------------------


@dataclass
class CompactionReport:
    """What one compaction run did."""

    archived_events: int = 0
    files: list[str] = field(default_factory=list)
    snapshots_taken: int = 0
    finished_previous: int = 0


StepHook = Callable[[str], None]


@dataclass
class _Batch:
    """Firings read for one archive file: their candidate rows, the file's
    bytes, the ids in it, and each trigger's newest version among them."""

    rows: list[Any]
    compressed: bytes
    archived: list[int]
    versions: dict[str, int]


def _no_hook(step: str) -> None:
    return None


class Compactor:
    """Moves firings older than the horizon from the live store to archives.

    ``service`` is the application service: its recorder, its projections'
    database, and its ``take_snapshot``. ``after_step`` is called with the
    name of each step as it completes, so a test can stop the process there.
    """

    def __init__(
        self,
        service: Any,
        archive: ArchiveStore,
        *,
        batch_size: int = 100_000,
        after_step: StepHook = _no_hook,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.service = service
        self.archive = archive
        self.batch_size = batch_size
        self.after_step = after_step
        self.progress = progress
        self.database = service.projections.database
        create_head_table(self.database)

    def run(self, horizon: datetime) -> CompactionReport:
        report = CompactionReport()
        report.finished_previous = self.finish_newest_archive()
        self.service.projections.catch_up()
        # A batch's deletion, mostly SQLite's own work outside the GIL, runs on
        # a thread of its own while the next batch is read and compressed; the
        # next manifest entry waits for it, so only the newest entry is ever
        # left to finish.
        with ThreadPoolExecutor(1, thread_name_prefix="compaction") as deleter:
            deleting: Future[tuple[int, str]] | None = None
            try:
                after = 0
                while True:
                    limit_id = self._limit_id()
                    rows = self._candidates(horizon, limit_id, after)
                    if not rows:
                        break
                    after = rows[-1][0]
                    batch = self._read_batch(rows, limit_id)
                    if batch is not None:
                        self._settle(deleting, report)
                        deleting = None
                        entry = self._archive_batch(batch, report)
                        deleting = deleter.submit(self._delete_batch, batch, entry)
                    if len(rows) < self.batch_size:
                        break
            finally:
                self._settle(deleting, report)
        log.info(
            "compaction finished",
            extra={
                "archived_events": report.archived_events,
                "finished_previous": report.finished_previous,
                "files": len(report.files),
                "horizon": horizon.isoformat(),
            },
        )
        return report

    def finish_newest_archive(self) -> int:
        """Delete what the newest archive holds but the store still has."""
        entries = self.archive.entries()
        if not entries:
            return 0
        newest = entries[-1]
        # The head is recorded in the deleting transaction: when it names the
        # newest entry, that entry's deletion is done.
        if self._head() == (newest["sequence"], newest["hash"]):
            return 0
        ids = sorted(e.notification_id for e in self.archive.read(newest))
        return self._delete(id_ranges(ids), None, newest)

    def _head(self) -> tuple[int, str] | None:
        row = self.database.fetch_one(f"SELECT sequence, hash FROM {HEAD_TABLE}")
        return (int(row[0]), str(row[1])) if row else None

    def _limit_id(self) -> int:
        """The newest notification id compaction may take."""
        newest = self.service.recorder.max_notification_id() or 0
        positions = self.service.projections.positions()
        applied = min(
            positions.get(p.name, 0) for p in self.service.projections.projections
        )
        # The newest notification always stays: SQLite would hand its id out
        # again if it were deleted, and readers would skip the new event.
        return min(newest - 1, applied)

    def _candidates(self, horizon: datetime, limit_id: int, after: int) -> list[Any]:
        """Firings past the horizon whose delivery, if any, has ended, from the
        log's row ``after`` on: the log row, position, instant, firing id, and
        the outbox row if there is one.

        The log's own row order needs no sort, and each batch goes on where
        the one before stopped instead of reading the log from its start.
        """
        return self.database.fetch_all(
            "SELECT e.rowid, e.position, e.fired_at, e.firing_id, d.rowid "
            "FROM event_log e LEFT JOIN deliveries d ON d.firing_id = e.firing_id "
            "WHERE e.rowid > ? AND e.fired_at <= ? AND e.position <= ? "
            "AND (d.firing_id IS NULL OR d.status != 'pending') "
            "ORDER BY e.rowid LIMIT ?",
            (after, _instant(horizon), limit_id, self.batch_size),
        )

    def _read_batch(self, rows: list[Any], limit_id: int) -> _Batch | None:
        """A batch's events as compressed archive lines; None when it can take
        none of them."""
        # A firing's delivery attempts are archived with it: once the firing
        # has left the log, nothing reads them from the live store. A firing
        # with an attempt past the limit waits for a later run, whole.
        deliveries = self._delivery_event_ids([r[3] for r in rows if r[4] is not None])
        if deliveries:
            rows = [
                row
                for row in rows
                if all(i <= limit_id for i in deliveries.get(row[3], ()))
            ]
        if not rows:
            return None
        fired = [row[1] for row in rows]
        ids = sorted(fired + [i for row in rows for i in deliveries.get(row[3], ())])
        lines, archived, versions = self._archive_lines(id_ranges(ids), set(fired))
        if not archived:
            return None
        return _Batch(rows, compress_lines(b"".join(lines)), archived, versions)

    def _archive_batch(self, batch: _Batch, report: CompactionReport) -> dict:
        """Snapshot, then write the file and its manifest entry, each durable."""
        report.snapshots_taken += self._snapshot_triggers(batch.versions)
        self.after_step("snapshot")
        name, sha256 = self.archive.write_file(batch.compressed)
        self.after_step("archive_file")
        instants = [row[2] for row in batch.rows]
        archived = batch.archived
        span = ArchiveSpan(
            len(archived), archived[0], archived[-1], min(instants), max(instants)
        )
        entry = self.archive.append_entry(name, sha256, span)
        self.after_step("manifest")
        return entry

    def _delete_batch(self, batch: _Batch, entry: dict) -> tuple[int, str]:
        self._delete(id_ranges(batch.archived), batch.rows, entry)
        self.after_step("delete")
        return len(batch.archived), entry["file"]

    def _settle(
        self, deleting: Future[tuple[int, str]] | None, report: CompactionReport
    ) -> None:
        """Wait for a batch's deletion; count it done."""
        if deleting is None:
            return
        archived, name = deleting.result()
        report.archived_events += archived
        report.files.append(name)
        if self.progress is not None:
            self.progress(report.archived_events)

    def _delivery_event_ids(self, firing_ids: list[str]) -> dict[str, list[int]]:
        """Notification ids of each firing's delivery events."""
        found: dict[str, list[int]] = {}
        for chunk in _chunks([UUID(f).hex for f in firing_ids], DELETE_CHUNK):
            marks = ",".join("?" * len(chunk))
            rows = self.database.fetch_all(
                "SELECT originator_id, rowid FROM stored_events "
                f"WHERE originator_id IN ({marks})",
                chunk,
            )
            for originator_id, rowid in rows:
                found.setdefault(str(UUID(originator_id)), []).append(int(rowid))
        return found

    def _archive_lines(
        self, ranges: list[tuple[int, int]], fired: set[int]
    ) -> tuple[list[bytes], list[int], dict[str, int]]:
        """The archive lines of the events in ``ranges``, in id order; the ids
        found; and the newest version of each trigger among the firings."""
        lines: list[bytes] = []
        archived: list[int] = []
        versions: dict[str, int] = {}
        uuids: dict[str, str] = {}
        topics: dict[str, str] = {}
        with self.database.reading() as cursor:
            for first, last in ranges:
                cursor.execute(
                    "SELECT rowid, originator_id, originator_version, topic, state "
                    "FROM stored_events WHERE rowid BETWEEN ? AND ? ORDER BY rowid",
                    (first, last),
                )
                for rowid, originator, version, topic, state in cursor.fetchall():
                    uuid_json = uuids.get(originator)
                    if uuid_json is None:
                        uuid_json = uuids[originator] = json.dumps(
                            _uuid_text(originator)
                        )
                    topic_json = topics.get(topic)
                    if topic_json is None:
                        topic_json = topics[topic] = json.dumps(topic)
                    lines.append(
                        archive_line(rowid, uuid_json, version, topic_json, state)
                    )
                    archived.append(rowid)
                    if rowid in fired:
                        # Rows come in id order, so a trigger's last is its newest.
                        versions[originator] = version
        return lines, archived, versions

    def _snapshot_triggers(self, versions: dict[str, int]) -> int:
        """Snapshot each trigger past its newest archived firing, where needed.

        ``versions`` maps each trigger's stored id to that firing's version.
        """
        snapshotted: dict[str, int] = {}
        for chunk in _chunks(list(versions), DELETE_CHUNK):
            marks = ",".join("?" * len(chunk))
            rows = self.database.fetch_all(
                "SELECT originator_id, MAX(originator_version) FROM stored_snapshots "
                f"WHERE originator_id IN ({marks}) GROUP BY originator_id",
                chunk,
            )
            snapshotted.update((row[0], int(row[1])) for row in rows)
        taken = 0
        for originator, version in versions.items():
            if snapshotted.get(originator, 0) < version:
                self.service.take_snapshot(UUID(originator))
                taken += 1
        return taken

    def _delete(
        self,
        ranges: list[tuple[int, int]],
        firings: list[Any] | None,
        entry: dict[str, Any],
    ) -> int:
        """Delete the events in ``ranges`` and their log and outbox rows.

        ``firings`` are the candidate rows the events came from; None finds
        the log and outbox rows by position instead, reading both tables whole.
        """
        # Events, their log and outbox rows, and the record of the newest
        # archive entry change together, or none of them does.
        with self.database.transaction(commit=True) as cursor:
            cursor.execute("SELECT MAX(rowid) FROM stored_events")
            newest = cursor.fetchone()[0]
            if ranges and ranges[-1][1] >= (newest or 0):
                raise ArchiveIntegrityError(
                    "refusing to delete the newest stored event", entry["file"]
                )
            cursor.execute("PRAGMA cache_size")
            cache_size = int(cursor.fetchone()[0])
            # A batch changes pages all over the log's firing-id index; when
            # they all fit in the cache, none is written out twice.
            cursor.execute(f"PRAGMA cache_size={-DELETE_CACHE_KIB}")
            try:
                deleted = self._delete_in(cursor, ranges, firings, entry)
            finally:
                cursor.execute(f"PRAGMA cache_size={cache_size}")
        return deleted

    def _delete_in(
        self,
        cursor: Any,
        ranges: list[tuple[int, int]],
        firings: list[Any] | None,
        entry: dict[str, Any],
    ) -> int:
        cursor.execute("SELECT total_changes()")
        before = int(cursor.fetchone()[0])
        cursor.executemany(
            "DELETE FROM stored_events WHERE rowid BETWEEN ? AND ?", ranges
        )
        cursor.execute("SELECT total_changes()")
        deleted = int(cursor.fetchone()[0]) - before
        if firings is None:
            positions = json.dumps([i for a, b in ranges for i in range(a, b + 1)])
            for table in ("event_log", "deliveries"):
                cursor.execute(
                    f"DELETE FROM {table} WHERE position IN "
                    "(SELECT value FROM json_each(?))",
                    (positions,),
                )
        else:
            _delete_rows(cursor, "event_log", [(r[0], r[1], r[3]) for r in firings])
            outbox = [(r[4], r[1], r[3]) for r in firings if r[4] is not None]
            _delete_rows(cursor, "deliveries", outbox)
        cursor.execute(
            f"INSERT INTO {HEAD_TABLE} VALUES (1, ?, ?) ON CONFLICT (id) "
            "DO UPDATE SET sequence=excluded.sequence, hash=excluded.hash",
            (entry["sequence"], entry["hash"]),
        )
        return deleted


def _delete_rows(cursor: Any, table: str, rows: list[tuple[int, int, str]]) -> None:
    """Delete a log or outbox table's rows, given as (rowid, position, firing id)
    in rowid order.

    Runs of rows whose position is their rowid plus one offset go in one
    statement each. The position test means a rowid that now names another
    row (the table was rebuilt since it was read) deletes nothing; the rows
    left then go by firing id.
    """
    if not rows:
        return
    cursor.execute("SELECT total_changes()")
    before = int(cursor.fetchone()[0])
    cursor.executemany(
        f"DELETE FROM {table} WHERE rowid BETWEEN ? AND ? AND position = rowid + ?",
        offset_runs([(rowid, position) for rowid, position, _ in rows]),
    )
    cursor.execute("SELECT total_changes()")
    if int(cursor.fetchone()[0]) - before < len(rows):
        cursor.executemany(
            f"DELETE FROM {table} WHERE firing_id=?",
            [(firing_id,) for _, _, firing_id in rows],
        )


def offset_runs(pairs: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(rowid, position) pairs in rowid order as the fewest runs (first rowid,
    last rowid, position minus rowid) of consecutive rowids with one offset."""
    runs: list[tuple[int, int, int]] = []
    for rowid, position in pairs:
        offset = position - rowid
        if runs and runs[-1][1] == rowid - 1 and runs[-1][2] == offset:
            runs[-1] = (runs[-1][0], rowid, offset)
        else:
            runs.append((rowid, rowid, offset))
    return runs


def id_ranges(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted, distinct ids as the fewest (first, last) runs of consecutive ids."""
    ranges: list[tuple[int, int]] = []
    if not ids:
        return ranges
    first = last = ids[0]
    for i in ids[1:]:
        if i != last + 1:
            ranges.append((first, last))
            first = i
        last = i
    ranges.append((first, last))
    return ranges


HEAD_TABLE = "archive_head"


def create_head_table(database: Any) -> None:
    with database.transaction(commit=True) as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {HEAD_TABLE} ("
            "id INTEGER PRIMARY KEY CHECK (id = 1), "
            "sequence INTEGER NOT NULL, hash TEXT NOT NULL)"
        )


def recorded_head(database: Any) -> tuple[int, str] | None:
    """The newest archive entry whose events the store has deleted."""
    create_head_table(database)
    row = database.fetch_one(f"SELECT sequence, hash FROM {HEAD_TABLE}")
    return (int(row[0]), str(row[1])) if row else None


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _uuid_text(value: str) -> str:
    return str(UUID(value))


def _instant(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def horizon_for(now: datetime, archived_log_seconds: int) -> datetime:
    """Firings older than this have left the event log and may be archived."""
    return now - timedelta(seconds=archived_log_seconds)


class RetentionJob:
    """Runs compaction inside the service on its own period."""

    def __init__(self, service: Any, archive: ArchiveStore, period: float) -> None:
        self.service = service
        self.compactor = Compactor(service, archive)
        self.period = period

    def run_once(self) -> CompactionReport:
        now = self.service.clock()
        seconds = self.service.settings.archived_log_seconds
        return self.compactor.run(horizon_for(now, seconds))

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:
                # A failed pass leaves every event where it was; try next period.
                log.exception("retention pass failed")
            await asyncio.sleep(self.period)
