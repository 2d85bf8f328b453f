"""The durable outbox of notifications, and the Dispatcher that delivers them.

Delivery is at-least-once. A notification is committed to SQLite before any send attempt and
leaves the `pending` state only when a notifier accepted it (the row is deleted) or refused it
permanently (kept as `failed`, a few per notifier, for inspection). A restart resumes every
pending notification at its stored next attempt; its id (the webhook-id) never changes, so a
receiver can drop the duplicates a crash between "sent" and "marked sent" may cause.

Times stored here (created_at, next_attempt) are unix seconds, so they survive a restart.

Bounded: when a notifier already has `per_notifier_limit` pending notifications, enqueueing
another first collapses its queue: every pending notification whose alerts all appear in a
newer one (the new one included) is dropped, so each alert keeps its latest state. A queue
whose every notification holds some alert's latest state is never cut further (the final state
of an alert is never lost); it is then over its limit by at most the number of distinct alerts,
and a warning is logged.

Order: per notifier, notifications go out in the order they were enqueued; one that is waiting
for its retry holds back the later ones of its notifier (a "resolved" never overtakes its
"firing"). Notifiers do not wait for each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
import orjson
import structlog

from monitor.alerting import Alert, AlertStatus, Notification
from monitor.clock import Clock
from monitor.notify.base import Delivery, NotifierProtocol
from monitor.redact import scrub

log = structlog.get_logger(__name__)

PENDING = "pending"
FAILED = "failed"
KEEP_FAILED = 100  # failed notifications kept per notifier
# Notifications per notifier a dispatch round reads: a round sends them in order and stops at
# the first that has to wait for a retry, and the next round reads on.
DUE_BATCH = 20
MAX_DETAIL = 300

SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    notifier TEXT NOT NULL,
    state TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at REAL NOT NULL,
    next_attempt REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (state, next_attempt);
CREATE INDEX IF NOT EXISTS notify_outbox_notifier ON notify_outbox (notifier, state, seq);
CREATE TABLE IF NOT EXISTS notify_outbox_alerts (
    seq INTEGER NOT NULL REFERENCES notify_outbox (seq) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (seq, fingerprint)
);
"""


def encode_notification(notification: Notification) -> bytes:
    return orjson.dumps({
        "id": notification.id,
        "notifier": notification.notifier,
        "status": notification.status.value,
        "group_key": notification.group_key,
        "created_at": notification.created_at,
        "external_url": notification.external_url,
        "group_labels": dict(notification.group_labels),
        "alerts": [
            {
                "labels": dict(a.labels),
                "annotations": dict(a.annotations),
                "starts_at": a.starts_at,
                "ends_at": a.ends_at,
                "generator_url": a.generator_url,
            }
            for a in notification.alerts
        ],
    })


def decode_notification(body: bytes) -> Notification:
    data: dict[str, Any] = orjson.loads(body)
    return Notification(
        id=data["id"],
        notifier=data["notifier"],
        status=AlertStatus(data["status"]),
        alerts=tuple(
            Alert(
                labels=a["labels"],
                annotations=a["annotations"],
                starts_at=a["starts_at"],
                ends_at=a["ends_at"],
                generator_url=a["generator_url"],
            )
            for a in data["alerts"]
        ),
        group_key=data["group_key"],
        created_at=data["created_at"],
        external_url=data["external_url"],
        group_labels=data["group_labels"],
    )


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    seq: int
    notification: Notification
    attempts: int  # attempts made so far
    next_attempt: float  # unix seconds
    detail: str  # of the last attempt

    @property
    def id(self) -> str:
        return self.notification.id

    @property
    def notifier(self) -> str:
        return self.notification.notifier


class Outbox:
    def __init__(self, path: str | Path, *, per_notifier_limit: int = 1000) -> None:
        if per_notifier_limit < 1:
            raise ValueError("per_notifier_limit must be at least 1")
        self.path = str(path)
        self.per_notifier_limit = per_notifier_limit
        self.collapsed: Counter[str] = Counter()  # notifications dropped by collapsing
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()  # one transaction at a time on the shared connection

    async def open(self) -> None:
        db = await aiosqlite.connect(self.path)
        try:
            await db.execute("PRAGMA busy_timeout=5000")  # the daemon's Store may share the file
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")  # an accepted notification is on disk
            await db.execute("PRAGMA foreign_keys=ON")
            await db.executescript(SCHEMA)
            await db.commit()
        except BaseException:
            await db.close()
            raise
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            async with self._lock:
                await self._db.close()
                self._db = None

    async def __aenter__(self) -> Outbox:
        await self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _require(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("outbox is not open")
        return self._db

    async def enqueue(self, notification: Notification, *, now: float | None = None) -> bool:
        """Store a notification, due at `now` (default: its created_at). Committed on return.
        False when a notification with this id is already stored (enqueue is idempotent)."""
        db = self._require()
        due_at = notification.created_at if now is None else now
        fingerprints = sorted({a.fingerprint for a in notification.alerts})
        async with self._lock:
            try:
                cursor = await db.execute(
                    "INSERT OR IGNORE INTO notify_outbox "
                    "(id, notifier, state, body, created_at, next_attempt) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (notification.id, notification.notifier, PENDING,
                     encode_notification(notification), notification.created_at, due_at),
                )
                if cursor.rowcount == 0:
                    await db.rollback()
                    return False
                seq = cursor.lastrowid
                await db.executemany(
                    "INSERT INTO notify_outbox_alerts (seq, fingerprint) VALUES (?, ?)",
                    [(seq, fp) for fp in fingerprints],
                )
                count = await self._pending_count(db, notification.notifier)
                if count > self.per_notifier_limit:
                    await self._collapse(db, notification.notifier, count)
                await db.commit()
            except BaseException:
                await db.rollback()
                raise
        return True

    async def _collapse(self, db: aiosqlite.Connection, notifier: str, count: int) -> None:
        async with db.execute(
            "SELECT o.seq, a.fingerprint FROM notify_outbox o "
            "LEFT JOIN notify_outbox_alerts a ON a.seq = o.seq "
            "WHERE o.notifier = ? AND o.state = ? ORDER BY o.seq",
            (notifier, PENDING),
        ) as cursor:
            rows = await cursor.fetchall()
        alerts_of: dict[int, set[str]] = {}
        latest: dict[str, int] = {}  # fingerprint -> newest seq carrying it
        for seq, fp in rows:
            alerts_of.setdefault(seq, set())
            if fp is not None:
                alerts_of[seq].add(fp)
                latest[fp] = max(latest.get(fp, seq), seq)
        newest = max(alerts_of)
        superseded = [
            seq for seq, fps in alerts_of.items()
            if seq != newest and all(latest[fp] > seq for fp in fps)
        ]
        if superseded:
            await db.executemany(
                "DELETE FROM notify_outbox WHERE seq = ?", [(seq,) for seq in superseded]
            )
            self.collapsed[notifier] += len(superseded)
            log.warning("notification outbox full: collapsed to the latest state per alert",
                        notifier=notifier, dropped=len(superseded),
                        pending=count - len(superseded), limit=self.per_notifier_limit)
        if count - len(superseded) > self.per_notifier_limit:
            log.warning("notification outbox over its limit: every pending notification "
                        "holds some alert's latest state", notifier=notifier,
                        pending=count - len(superseded), limit=self.per_notifier_limit)

    async def due(self, now: float, notifiers: set[str] | None = None, *,
                  limit: int = DUE_BATCH) -> list[OutboxEntry]:
        """The head of each notifier's queue that is due at `now`: its oldest pending
        notifications up to the first that waits for a later retry (which holds back the later
        ones), at most `limit` of them; all notifiers' together, oldest first.

        Only the head: a backlog of a thousand notifications (a receiver failing for a while)
        is never read and decoded whole, which took tens of MiB at each round."""
        db = self._require()
        async with self._lock:
            if notifiers is None:
                async with db.execute(
                    "SELECT DISTINCT notifier FROM notify_outbox WHERE state = ?", (PENDING,)
                ) as cursor:
                    notifiers = {str(row[0]) for row in await cursor.fetchall()}
            heads: list[tuple[int, bytes, int, float, str]] = []
            for notifier in sorted(notifiers):
                async with db.execute(
                    "SELECT seq, body, attempts, next_attempt, detail FROM notify_outbox "
                    "WHERE notifier = ? AND state = ? ORDER BY seq LIMIT ?",
                    (notifier, PENDING, limit),
                ) as cursor:
                    rows = await cursor.fetchall()
                for seq, body, attempts, next_attempt, detail in rows:
                    if next_attempt > now:
                        break
                    heads.append((seq, body, attempts, next_attempt, detail))
        heads.sort()
        return [
            OutboxEntry(seq=seq, notification=decode_notification(body), attempts=attempts,
                        next_attempt=next_attempt, detail=detail)
            for seq, body, attempts, next_attempt, detail in heads
        ]

    async def next_due(self) -> float | None:
        """The earliest next_attempt of any pending notification."""
        db = self._require()
        async with self._lock, db.execute(
            "SELECT MIN(next_attempt) FROM notify_outbox WHERE state = ?", (PENDING,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def get(self, notification_id: str) -> tuple[str, int, str] | None:
        """(state, attempts, detail) of a stored notification; None once sent or dropped."""
        db = self._require()
        async with self._lock, db.execute(
            "SELECT state, attempts, detail FROM notify_outbox WHERE id = ?", (notification_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else (str(row[0]), int(row[1]), str(row[2]))

    async def mark_sent(self, notification_id: str) -> None:
        await self._write("DELETE FROM notify_outbox WHERE id = ?", (notification_id,))

    async def mark_retry(self, notification_id: str, next_attempt: float, detail: str) -> None:
        await self._write(
            "UPDATE notify_outbox SET next_attempt = ?, attempts = attempts + 1, detail = ? "
            "WHERE id = ? AND state = ?",
            (next_attempt, scrub(detail)[:MAX_DETAIL], notification_id, PENDING),
        )

    async def mark_failed(self, notification_id: str, detail: str) -> None:
        db = self._require()
        async with self._lock:
            try:
                await db.execute(
                    "UPDATE notify_outbox SET state = ?, attempts = attempts + 1, detail = ? "
                    "WHERE id = ?",
                    (FAILED, scrub(detail)[:MAX_DETAIL], notification_id),
                )
                await db.execute(
                    "DELETE FROM notify_outbox WHERE state = ? AND notifier = "
                    "(SELECT notifier FROM notify_outbox WHERE id = ?) AND seq NOT IN ("
                    "SELECT seq FROM notify_outbox WHERE state = ? AND notifier = "
                    "(SELECT notifier FROM notify_outbox WHERE id = ?) ORDER BY seq DESC LIMIT ?)",
                    (FAILED, notification_id, FAILED, notification_id, KEEP_FAILED),
                )
                await db.commit()
            except BaseException:
                await db.rollback()
                raise

    async def pending_count(self, notifier: str) -> int:
        db = self._require()
        async with self._lock:
            return await self._pending_count(db, notifier)

    async def pending_counts(self) -> dict[str, int]:
        db = self._require()
        async with self._lock, db.execute(
            "SELECT notifier, COUNT(*) FROM notify_outbox WHERE state = ? GROUP BY notifier",
            (PENDING,),
        ) as cursor:
            rows = await cursor.fetchall()
        return {str(notifier): int(count) for notifier, count in rows}

    @staticmethod
    async def _pending_count(db: aiosqlite.Connection, notifier: str) -> int:
        async with db.execute(
            "SELECT COUNT(*) FROM notify_outbox WHERE notifier = ? AND state = ?",
            (notifier, PENDING),
        ) as cursor:
            row = await cursor.fetchone()
        return 0 if row is None else int(row[0])

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        db = self._require()
        async with self._lock:
            try:
                await db.execute(sql, params)
                await db.commit()
            except BaseException:
                await db.rollback()
                raise


def backoff_delay(attempt: int, rng: random.Random, *, base: float = 1.0,
                  cap: float = 300.0) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))], never below base / 10
    (so a retry is never immediate). `attempt` counts from 1 (the first failure)."""
    ceiling = min(cap, base * 2.0 ** min(max(attempt - 1, 0), 62))
    return max(base / 10, rng.uniform(0.0, ceiling))


RESULTS = ("sent", "failed", "retry")


class Dispatcher:
    """Sends due notifications through their notifiers.

    Drive it step by step with `await run_once(now)` (tests), or `start()` a task that runs
    until `stop()`. Stopping cancels an attempt in flight: its notification stays pending and
    is sent again after a restart, with the same id.
    """

    def __init__(
        self,
        outbox: Outbox,
        notifiers: Mapping[str, NotifierProtocol],
        *,
        clock: Clock,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        idle_poll: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.outbox = outbox
        self.notifiers = dict(notifiers)
        self.clock = clock
        self.timeout = timeout
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.idle_poll = idle_poll
        self.rng = rng or random.Random()
        # outagemon_notifications_total{notifier, result}
        self.results: Counter[tuple[str, str]] = Counter()
        # outagemon_notification_queue_depth{notifier}; refreshed by every run_once
        self.queue_depth: dict[str, int] = dict.fromkeys(self.notifiers, 0)
        self._session = session
        self._owns_session = session is None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def counts(self, notifier: str) -> dict[str, int]:
        return {result: self.results[(notifier, result)] for result in RESULTS}

    def wake(self) -> None:
        """Something was enqueued: look at the outbox now rather than at the next due time."""
        self._wake.set()

    async def enqueue(self, notification: Notification) -> bool:
        """Store the notification (before any attempt), then wake the dispatcher."""
        stored = await self.outbox.enqueue(notification, now=self.clock.wall())
        self.queue_depth[notification.notifier] = await self.outbox.pending_count(
            notification.notifier)
        self.wake()
        return stored

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None), raise_for_status=False
            )
            self._owns_session = True
        return self._session

    async def run_once(self, now: float | None = None) -> int:
        """Attempt every notification due at `now` (default: clock.wall()); returns how many
        attempts were made. Notifiers are served concurrently, each in order."""
        at = self.clock.wall() if now is None else now
        entries = await self.outbox.due(at, set(self.notifiers))
        by_notifier: dict[str, list[OutboxEntry]] = {}
        for entry in entries:
            by_notifier.setdefault(entry.notifier, []).append(entry)
        attempts = await asyncio.gather(
            *(self._serve(name, queue, at) for name, queue in by_notifier.items())
        )
        depth = dict.fromkeys(self.notifiers, 0)
        depth.update(await self.outbox.pending_counts())
        self.queue_depth.update(depth)  # at once: a scrape meanwhile must not read zeros
        return sum(attempts)

    async def _serve(self, name: str, queue: list[OutboxEntry], now: float) -> int:
        notifier = self.notifiers[name]
        made = 0
        for entry in queue:
            made += 1
            delivery = await self._attempt(notifier, entry)
            if not await self._record(name, entry, delivery, now):
                break  # keep this notifier's order: the rest waits for this retry
        return made

    async def _attempt(self, notifier: NotifierProtocol, entry: OutboxEntry) -> Delivery:
        try:
            return await notifier.send(self._get_session(), entry.notification, self.timeout)
        except Exception as exc:  # a notifier must not raise; if it does, retry later
            return Delivery(ok=False, detail=scrub(f"notifier raised {type(exc).__name__}: "
                                                   f"{exc}"))

    async def _record(self, name: str, entry: OutboxEntry, delivery: Delivery,
                      now: float) -> bool:
        """Store the outcome; True unless the notification waits for a retry."""
        fields = {"notifier": name, "notification": entry.id, "attempt": entry.attempts + 1,
                  "detail": scrub(delivery.detail)}
        if delivery.ok:
            await self.outbox.mark_sent(entry.id)
            self.results[(name, "sent")] += 1
            log.info("notification sent", **fields)
            return True
        if delivery.permanent:
            await self.outbox.mark_failed(entry.id, delivery.detail)
            self.results[(name, "failed")] += 1
            log.error("notification failed permanently", **fields)
            return True
        delay = backoff_delay(entry.attempts + 1, self.rng, base=self.base_delay,
                              cap=self.max_delay)
        if delivery.retry_after is not None:
            delay = max(delay, delivery.retry_after)
        await self.outbox.mark_retry(entry.id, now + delay, delivery.detail)
        self.results[(name, "retry")] += 1
        log.warning("notification delivery failed, will retry", retry_in=round(delay, 3),
                    **fields)
        return False

    async def run(self) -> None:
        """Deliver until cancelled: after each round, sleep until the next due time, a wake()
        or `idle_poll` seconds, whichever comes first."""
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:  # a locked or full disk must not stop delivery for good
                log.exception("notification dispatch round failed")
            next_due = await self._next_due()
            now = self.clock.wall()
            wait = self.idle_poll if next_due is None else min(self.idle_poll, next_due - now)
            if wait <= 0:
                continue
            sleeper = asyncio.ensure_future(self.clock.sleep_until(self.clock.monotonic() + wait))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (sleeper, waker):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _next_due(self) -> float | None:
        try:
            return await self.outbox.next_due()
        except Exception:
            log.exception("reading the notification outbox failed")
            return None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="notify-dispatcher")

    async def stop(self) -> None:
        """Stop delivering; pending notifications stay in the outbox for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
