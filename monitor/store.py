"""SQLite state: a bounded history of state changes per target.

Losing the file loses history, never the correctness of the next probe. Writes are queued
and done by one background task so the probe path never waits on the disk.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import orjson
import structlog

from monitor.health import StateChange

log = structlog.get_logger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS state_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    at REAL NOT NULL,
    old_state TEXT NOT NULL,
    new_state TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS state_changes_target ON state_changes (target, id);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    target: str
    at: float
    old_state: str
    new_state: str
    reason: str
    detail: str


class Store:
    def __init__(self, path: str | Path, *, history_per_target: int = 200) -> None:
        self.path = str(path)
        self.history_per_target = history_per_target
        self._db: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[StateChange | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await self._db.executescript(SCHEMA)
        await self._db.commit()
        self._writer = asyncio.create_task(self._write_loop(), name="store-writer")

    def record(self, change: StateChange) -> None:
        """Queue a state change for writing; never blocks."""
        self._queue.put_nowait(change)

    async def flush(self) -> None:
        """Wait until everything queued so far is written."""
        await self._queue.join()

    async def history(self, target: str, limit: int = 50) -> list[HistoryEntry]:
        db = self._require()
        async with db.execute(
            "SELECT target, at, old_state, new_state, reason, detail FROM state_changes "
            "WHERE target = ? ORDER BY id DESC LIMIT ?",
            (target, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [HistoryEntry(*row) for row in rows]

    async def recent(self, limit: int = 50) -> list[HistoryEntry]:
        db = self._require()
        async with db.execute(
            "SELECT target, at, old_state, new_state, reason, detail FROM state_changes "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [HistoryEntry(*row) for row in rows]

    async def save(self, key: str, value: Any) -> None:
        """Keep a JSON-able value (the alert engine's state) under `key`."""
        db = self._require()
        await db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)",
                         (key, orjson.dumps(value)))
        await db.commit()

    async def load(self, key: str) -> Any:
        db = self._require()
        async with db.execute("SELECT value FROM kv WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        try:
            return orjson.loads(row[0])
        except orjson.JSONDecodeError:
            log.warning("ignoring unreadable saved state", key=key)
            return None

    async def close(self) -> None:
        if self._writer is not None:
            await self._queue.put(None)
            await self._writer
            self._writer = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    def _require(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def _write_loop(self) -> None:
        db = self._require()
        while True:
            change = await self._queue.get()
            try:
                if change is None:
                    return
                await self._write(db, change)
            except Exception:  # a full disk must not stop the daemon
                log.exception("state history write failed")
            finally:
                self._queue.task_done()

    async def _write(self, db: aiosqlite.Connection, change: StateChange) -> None:
        await db.execute(
            "INSERT INTO state_changes (target, at, old_state, new_state, reason, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (change.target, change.at, change.old.value, change.new.value,
             change.reason.value, change.detail),
        )
        await db.execute(
            "DELETE FROM state_changes WHERE target = ? AND id NOT IN ("
            "SELECT id FROM state_changes WHERE target = ? ORDER BY id DESC LIMIT ?)",
            (change.target, change.target, self.history_per_target),
        )
        await db.commit()
