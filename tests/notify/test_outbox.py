"""The durable outbox and the Dispatcher, against a local receiver, driven step by step."""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook
from structlog.testing import capture_logs

from monitor.alerting import AlertStatus
from monitor.clock import FakeClock
from monitor.notify.outbox import DUE_BATCH, Dispatcher, Outbox, backoff_delay
from monitor.notify.webhook import WebhookNotifier
from tests.notify.receiver import (
    Receiver,
    Reply,
    make_alert,
    make_notification,
    webhook_config,
)

WHSEC = "whsec_" + base64.b64encode(b"outbox test key 123").decode()
NOW = 1_700_001_000.0


class MaxRandom(random.Random):
    """Full jitter always at its ceiling: delays are predictable."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    box = Outbox(tmp_path / "state.db")
    await box.open()
    yield box
    await box.close()


def dispatcher_for(outbox: Outbox, receiver: Receiver, secret: str | None = WHSEC,
                   **kwargs: object) -> Dispatcher:
    notifier = WebhookNotifier(webhook_config(receiver.url(), secret))
    return Dispatcher(outbox, {"hook": notifier}, clock=FakeClock(),
                      rng=MaxRandom(), **kwargs)  # type: ignore[arg-type]


def test_backoff_is_exponential_capped_and_jittered() -> None:
    top = MaxRandom()
    assert [backoff_delay(n, top) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_delay(20, top) == 300.0
    assert backoff_delay(10_000, top) == 300.0
    rng = random.Random(7)
    samples = [backoff_delay(5, rng) for _ in range(200)]
    assert all(0.1 <= s <= 16.0 for s in samples)
    assert len(set(samples)) > 100  # jittered


async def test_enqueue_is_durable_before_any_attempt(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "state.db")
    await box.open()
    assert await box.enqueue(make_notification("n-1"))
    assert not await box.enqueue(make_notification("n-1"))  # idempotent
    await box.close()
    box = Outbox(tmp_path / "state.db")
    await box.open()
    try:
        assert await box.pending_count("hook") == 1
        (entry,) = await box.due(NOW)
        assert entry.notification == make_notification("n-1")
        assert entry.attempts == 0
        assert await box.due(NOW - 1) == []  # due at created_at
    finally:
        await box.close()


async def test_shares_a_state_file_with_the_store(tmp_path: Path) -> None:
    from monitor.store import Store

    store = Store(tmp_path / "state.db")
    await store.open()
    try:
        async with Outbox(tmp_path / "state.db") as box:
            await box.enqueue(make_notification("n-1"))
            assert await store.recent() == []
            assert await box.pending_count("hook") == 1
    finally:
        await store.close()


async def test_500_then_200_delivered_once_after_backoff(outbox: Outbox,
                                                         receiver: Receiver) -> None:
    receiver.script = [Reply(500)]
    dispatcher = dispatcher_for(outbox, receiver)
    try:
        await outbox.enqueue(make_notification("n-1"), now=NOW)
        assert await dispatcher.run_once(NOW) == 1
        state = await outbox.get("n-1")
        assert state is not None and state[0] == "pending" and state[1] == 1
        assert "HTTP 500" in state[2]
        assert dispatcher.queue_depth == {"hook": 1}
        assert await dispatcher.run_once(NOW + 0.99) == 0  # still backing off (1 s)
        assert await dispatcher.run_once(NOW + 1.0) == 1
        assert await outbox.get("n-1") is None
        assert await outbox.pending_count("hook") == 0
        assert dispatcher.queue_depth == {"hook": 0}
        assert receiver.ids == ["n-1", "n-1"]
        for got in receiver.received:
            Webhook(WHSEC).verify(got.body, got.headers)
        assert dispatcher.counts("hook") == {"sent": 1, "failed": 0, "retry": 1}
        assert await dispatcher.run_once(NOW + 1000) == 0  # delivered once
    finally:
        await dispatcher.stop()


async def test_backoff_grows_per_attempt(outbox: Outbox, receiver: Receiver) -> None:
    receiver.script = [Reply(502), Reply(502), Reply(502)]
    dispatcher = dispatcher_for(outbox, receiver)
    try:
        await outbox.enqueue(make_notification("n-1"), now=NOW)
        at = NOW
        for expected in (1.0, 2.0, 4.0):
            assert await dispatcher.run_once(at) == 1
            (entry,) = await outbox.due(at + 10_000)
            assert entry.next_attempt == at + expected
            at = entry.next_attempt
        assert await dispatcher.run_once(at) == 1
        assert len(receiver.received) == 4 and set(receiver.ids) == {"n-1"}
    finally:
        await dispatcher.stop()


async def test_429_retry_after_is_honoured(outbox: Outbox, receiver: Receiver) -> None:
    receiver.script = [Reply(429, headers={"Retry-After": "120"})]
    dispatcher = dispatcher_for(outbox, receiver)
    try:
        await outbox.enqueue(make_notification("n-1"), now=NOW)
        assert await dispatcher.run_once(NOW) == 1
        assert await dispatcher.run_once(NOW + 119.9) == 0
        assert await dispatcher.run_once(NOW + 120) == 1
        assert receiver.ids == ["n-1", "n-1"]
        assert dispatcher.counts("hook") == {"sent": 1, "failed": 0, "retry": 1}
    finally:
        await dispatcher.stop()


async def test_400_fails_permanently_and_is_not_retried(outbox: Outbox,
                                                        receiver: Receiver) -> None:
    receiver.script = [Reply(400, body="unknown field")]
    dispatcher = dispatcher_for(outbox, receiver)
    try:
        await outbox.enqueue(make_notification("n-1"), now=NOW)
        await outbox.enqueue(make_notification("n-2"), now=NOW)
        with capture_logs() as logs:
            assert await dispatcher.run_once(NOW) == 2  # a failure does not hold back n-2
        state = await outbox.get("n-1")
        assert state is not None and state[0] == "failed" and "HTTP 400" in state[2]
        assert await dispatcher.run_once(NOW + 86_400) == 0
        assert receiver.ids == ["n-1", "n-2"]
        assert dispatcher.counts("hook") == {"sent": 1, "failed": 1, "retry": 0}
        assert await outbox.pending_count("hook") == 0
        assert any(e["log_level"] == "error" and e["notification"] == "n-1" for e in logs)
    finally:
        await dispatcher.stop()


async def test_order_kept_per_notifier(outbox: Outbox, receiver: Receiver) -> None:
    receiver.script = [Reply(503)]
    dispatcher = dispatcher_for(outbox, receiver)
    try:
        await outbox.enqueue(make_notification("firing", make_alert()), now=NOW)
        await outbox.enqueue(make_notification("resolved", make_alert(ends_at=NOW)), now=NOW)
        assert await dispatcher.run_once(NOW) == 1  # "resolved" waits behind "firing"
        assert await dispatcher.run_once(NOW + 0.5) == 0
        assert await dispatcher.run_once(NOW + 1) == 2
        assert receiver.ids == ["firing", "firing", "resolved"]
    finally:
        await dispatcher.stop()


async def test_a_round_reads_only_the_head_of_a_backlog(outbox: Outbox) -> None:
    for i in range(DUE_BATCH * 3):
        await outbox.enqueue(make_notification(f"h{i}"), now=NOW)
    await outbox.enqueue(make_notification("o0", notifier="other"), now=NOW)
    due = await outbox.due(NOW)
    assert [e.id for e in due] == [f"h{i}" for i in range(DUE_BATCH)] + ["o0"]
    await outbox.mark_retry("h0", NOW + 5, "HTTP 503")  # the head waits: so does the rest
    assert [e.id for e in await outbox.due(NOW)] == ["o0"]
    assert [e.id for e in await outbox.due(NOW + 5)][:2] == ["h0", "h1"]


async def test_a_backlog_longer_than_a_round_goes_out_whole_and_in_order(
    outbox: Outbox, receiver: Receiver
) -> None:
    receiver.script = [*(Reply(200) for _ in range(DUE_BATCH * 2)), Reply(503)]
    dispatcher = dispatcher_for(outbox, receiver)
    sent = [f"n{i}" for i in range(DUE_BATCH * 3 + 1)]
    try:
        for nid in sent:
            await outbox.enqueue(make_notification(nid), now=NOW)
        assert await dispatcher.run_once(NOW) == DUE_BATCH
        assert await dispatcher.run_once(NOW) == DUE_BATCH
        assert await dispatcher.run_once(NOW) == 1  # a 503: the rest waits for its retry
        assert await dispatcher.run_once(NOW + 1) == DUE_BATCH
        assert await dispatcher.run_once(NOW + 1) == 1
        assert await outbox.pending_count("hook") == 0
    finally:
        await dispatcher.stop()
    assert receiver.ids == sent[: DUE_BATCH * 2 + 1] + sent[DUE_BATCH * 2:]


async def test_the_queue_depth_never_reads_zero_while_it_is_refreshed(
    outbox: Outbox, receiver: Receiver
) -> None:
    receiver.script = [Reply(503)]
    dispatcher = dispatcher_for(outbox, receiver)
    for i in range(3):
        await dispatcher.enqueue(make_notification(f"q{i}"))
    seen: list[int] = []
    counts = outbox.pending_counts

    async def watched() -> dict[str, int]:
        seen.append(dispatcher.queue_depth["hook"])  # what a scrape would read meanwhile
        return await counts()

    outbox.pending_counts = watched  # type: ignore[method-assign]
    try:
        await dispatcher.run_once(NOW)
    finally:
        await dispatcher.stop()
    assert seen == [3] and dispatcher.queue_depth["hook"] == 3


async def test_receiver_down_then_restart_delivers_everything(
    tmp_path: Path, idle_receiver: Receiver
) -> None:
    path = tmp_path / "state.db"
    ids = [f"n-{i}" for i in range(5)]
    box = Outbox(path)
    await box.open()
    dispatcher = dispatcher_for(box, idle_receiver)
    for index, nid in enumerate(ids):
        await box.enqueue(make_notification(nid, make_alert(target=f"t{index}")), now=NOW)
    at = NOW
    for _ in range(3):  # receiver down: connection refused, retried with back-off
        assert await dispatcher.run_once(at) == 1  # the head holds back the rest
        at += 10.0
    assert dispatcher.counts("hook") == {"sent": 0, "failed": 0, "retry": 3}
    await dispatcher.stop()
    await box.close()  # the daemon stops

    await idle_receiver.start()  # the receiver comes back
    box = Outbox(path)
    await box.open()  # the daemon restarts
    try:
        assert await box.pending_count("hook") == 5
        dispatcher = dispatcher_for(box, idle_receiver)
        assert await dispatcher.run_once(at + 400) == 5
        assert await box.pending_count("hook") == 0
        assert sorted(set(idle_receiver.ids)) == ids
        for got in idle_receiver.received:
            Webhook(WHSEC).verify(got.body, got.headers)
        await dispatcher.stop()
    finally:
        await box.close()


async def test_stop_mid_attempt_leaves_it_pending_and_a_duplicate_keeps_its_id(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = tmp_path / "state.db"
    box = Outbox(path)
    await box.open()
    hold = asyncio.Event()
    receiver.script = [Reply(200, hold=hold)]  # takes the request, never answers in time
    dispatcher = dispatcher_for(box, receiver)
    dispatcher.start()
    await dispatcher.enqueue(make_notification("n-1"))
    await asyncio.wait_for(receiver.arrived.wait(), 10)
    await dispatcher.stop()
    await box.close()
    hold.set()

    box = Outbox(path)
    await box.open()
    try:
        state = await box.get("n-1")
        assert state is not None and state[0] == "pending"
        dispatcher = dispatcher_for(box, receiver)
        assert await dispatcher.run_once(NOW + 10_000) == 1
        assert receiver.ids == ["n-1", "n-1"]  # the duplicate carries the same webhook-id
        for got in receiver.received:
            Webhook(WHSEC).verify(got.body, got.headers)
        await dispatcher.stop()
    finally:
        await box.close()


async def test_running_dispatcher_sends_on_enqueue(outbox: Outbox, receiver: Receiver) -> None:
    dispatcher = dispatcher_for(outbox, receiver)
    dispatcher.start()
    try:
        await dispatcher.enqueue(make_notification("n-1"))
        await asyncio.wait_for(receiver.arrived.wait(), 10)
    finally:
        await dispatcher.stop()
    assert receiver.ids[0] == "n-1"


async def test_bounded_outbox_collapses_to_latest_state_per_alert(tmp_path: Path) -> None:
    a_fire, a_res = make_alert(target="a"), make_alert(target="a", ends_at=NOW)
    b_fire, b_res = make_alert(target="b"), make_alert(target="b", ends_at=NOW)
    c_fire, d_fire = make_alert(target="c"), make_alert(target="d")
    async with Outbox(tmp_path / "state.db", per_notifier_limit=3) as box:
        await box.enqueue(make_notification("1", a_fire, b_fire))
        await box.enqueue(make_notification("2", a_res))
        await box.enqueue(make_notification("3", c_fire))
        await box.enqueue(make_notification("other", a_fire, notifier="other"))
        assert await box.pending_count("hook") == 3
        # full: "1" (a, b) is not superseded, b's only state is in it
        await box.enqueue(make_notification("4", b_res))
        # now "1" is superseded by "2" (a) and "4" (b)
        assert [e.id for e in await box.due(NOW)] == ["2", "3", "other", "4"]
        assert await box.pending_count("hook") == 3
        assert box.collapsed["hook"] == 1
        await box.enqueue(make_notification("5", a_fire))  # supersedes "2"
        await box.enqueue(make_notification("6", d_fire))  # supersedes nothing
        entries = [e for e in await box.due(NOW) if e.notifier == "hook"]
        assert [e.id for e in entries] == ["3", "4", "5", "6"]  # over the limit, nothing lost
        latest = {a.labels["target"]: a.status for e in entries for a in e.notification.alerts}
        assert latest == {"a": AlertStatus.FIRING, "b": AlertStatus.RESOLVED,
                          "c": AlertStatus.FIRING, "d": AlertStatus.FIRING}
        assert await box.pending_count("other") == 1  # bounded per notifier


async def test_canary_secrets_never_in_details_or_logs(
    outbox: Outbox, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    url_canary = "CANARY-URL-TOKEN-55aa11"
    secret_canary = "CANARY-SECRET-0c0ffee0"
    receiver.script = [
        Reply(500, body=f"echo {url_canary} {secret_canary}"),
        Reply(400, body=f"echo {url_canary} {secret_canary}"),
    ]
    notifier = WebhookNotifier(webhook_config(
        receiver.url(f"/in/{url_canary}?key={url_canary}"), secret_canary))
    dispatcher = Dispatcher(outbox, {"hook": notifier}, clock=FakeClock(), rng=MaxRandom())
    try:
        with capture_logs() as logs:
            await outbox.enqueue(make_notification("n-1"), now=NOW)
            await dispatcher.run_once(NOW)
            await dispatcher.run_once(NOW + 5)
        state = await outbox.get("n-1")
        assert state is not None and state[0] == "failed"
        texts = [state[2], repr(logs), caplog.text]
        assert len(logs) == 2
        for text in texts:
            assert url_canary not in text and secret_canary not in text
        assert "POST http://127.0.0.1:" in state[2]
    finally:
        await dispatcher.stop()
