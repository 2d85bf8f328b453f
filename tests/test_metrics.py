"""The /metrics exposition: every family's series, checked by promtool and by
prometheus_client's own parser; escaping; re-rendering when numbers change."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from checks.exchange import ExchangeTarget
from checks.http import HttpTarget
from checks.price import PriceTarget
from monitor.correlate import ChainView
from monitor.exposition import Exposition, number, render_ahead
from monitor.health import Health
from monitor.metrics import DaemonMetrics, TargetMetrics
from monitor.observation import EVENT_LAG_BUCKETS, Fact, Observation, Reason, StreamStats


@dataclass
class View:
    metrics: TargetMetrics
    health: Health


def stream_stats(**overrides: object) -> StreamStats:
    counts = [0] * len(EVENT_LAG_BUCKETS)
    counts[1] = 7  # 7 messages lagging 5..10 ms
    values: dict[str, object] = dict(
        connected=True, messages_total=42, messages_in_window=7, last_message_age=0.25,
        event_lag_last=0.008, event_lag_buckets=tuple(counts), event_lag_count=8,
        event_lag_sum=0.5, reconnects={"closed_by_server": 2, "stale": 1},
        connect_seconds=0.05, first_message_seconds=0.1)
    values.update(overrides)
    return StreamStats(**values)  # type: ignore[arg-type]


def views() -> list[View]:
    exchange = ExchangeTarget.model_construct(
        name="binance-btc", kind="exchange", exchange="binance", market="BTC-USDT",
        provider="binance", labels={})
    price = PriceTarget.model_construct(name="btc-prices", kind="price", market="BTC-USDT",
                                        provider=None, labels={})
    views = []
    for target, obs in (
        (exchange, Observation("binance-btc", 1.0, Reason.OK, 0.1, stream=stream_stats(),
                               facts={Fact.PRICE: 97000.5})),
        (price, Observation("btc-prices", 1.0, Reason.ASSERTION_FAILED, facts={
            Fact.MARKET: "BTC-USDT", Fact.PRICES: {"binance": 63000.0, "okx": 97000.0},
            Fact.DEVIATIONS: {"binance": -0.35, "okx": 0.0}})),
    ):
        metrics = TargetMetrics.for_target(target)
        metrics.record(obs)
        health = Health(target.name, failure_threshold=1, success_threshold=1, interval=10)
        health.observe(obs, now=0.0)
        views.append(View(metrics, health))
    rpc = HttpTarget.model_construct(name="infura-eth", kind="evm_rpc", provider="infura",
                                     labels={})
    metrics = TargetMetrics.for_target(rpc)
    metrics.record(Observation("infura-eth", 1.0, Reason.LAGGING, 0.1, facts={
        Fact.CHAIN: "ethereum", Fact.HEAD: 21_000_000, Fact.LAG_BLOCKS: 5, Fact.HEAD_AGE: 70.5,
        Fact.HEAD_REWIND: 1}))
    views.append(View(metrics, Health("infura-eth", failure_threshold=1, success_threshold=1,
                                      interval=10)))
    page = HttpTarget.model_construct(name="coinbase-status", kind="statuspage",
                                      provider="coinbase", labels={})
    metrics = TargetMetrics.for_target(page)
    metrics.record(Observation("coinbase-status", 1.0, Reason.DEGRADED, 0.2, facts={
        Fact.INDICATOR: "minor",
        Fact.COMPONENTS: {"API": "operational", "Websocket Feeds": "degraded_performance"},
        Fact.INCIDENTS: [{"name": "Delayed withdrawals", "impact": "minor"}]}))
    views.append(View(metrics, Health("coinbase-status", failure_threshold=1,
                                      success_threshold=1, interval=60)))
    return views


def make_exposition(items: list[View]) -> Exposition:
    chains = [ChainView("ethereum", True, 21_000_005, 2), ChainView("solana", False, 9, 1)]
    return Exposition(lambda: items, DaemonMetrics(), version="t", vantage="v",
                      chains=lambda: chains)


def exposition() -> str:
    return make_exposition(views()).render_now().decode()


def test_stream_and_price_series() -> None:
    text = exposition()
    labels = 'kind="exchange",provider="binance",target="binance-btc"'
    assert f"outagemon_ws_connected{{{labels}}} 1.0" in text
    assert f"outagemon_ws_messages_total{{{labels}}} 42.0" in text
    assert f"outagemon_ws_last_message_age_seconds{{{labels}}} 0.25" in text
    assert ('outagemon_ws_event_lag_seconds_bucket{kind="exchange",le="0.01",'
            'provider="binance",target="binance-btc"} 7.0') in text
    assert f"outagemon_ws_event_lag_seconds_count{{{labels}}} 8.0" in text
    assert ('outagemon_ws_reconnects_total{kind="exchange",provider="binance",reason="stale",'
            'target="binance-btc"} 1.0') in text
    assert ('outagemon_price{kind="exchange",market="BTC-USDT",provider="binance",'
            'target="binance-btc",venue="binance"} 97000.5') in text
    assert ('outagemon_price_deviation_ratio{kind="price",market="BTC-USDT",'
            'provider="btc-prices",target="btc-prices",venue="binance"} -0.35') in text


def test_chain_series() -> None:
    text = exposition()
    labels = 'chain="ethereum",kind="evm_rpc",provider="infura",target="infura-eth"'
    assert f"outagemon_chain_head_block{{{labels}}} 2.1e+07" in text
    assert f"outagemon_chain_head_lag_blocks{{{labels}}} 5.0" in text
    assert f"outagemon_chain_head_age_seconds{{{labels}}} 70.5" in text
    assert f"outagemon_chain_head_rewinds_total{{{labels}}} 1.0" in text
    assert 'outagemon_chain_halted{chain="ethereum"} 1.0' in text
    assert 'outagemon_chain_halted{chain="solana"} 0.0' in text


def test_status_page_series() -> None:
    text = exposition()
    labels = 'kind="statuspage",provider="coinbase",target="coinbase-status"'
    assert f"outagemon_status_page_indicator{{{labels}}} 1.0" in text
    assert f"outagemon_status_page_open_incidents{{{labels}}} 1.0" in text
    assert ('outagemon_status_page_component_up{component="Websocket Feeds",'
            'kind="statuspage",provider="coinbase",target="coinbase-status"} 0.0') in text
    assert "Delayed withdrawals" not in text  # incident titles never become labels


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
async def test_promtool_accepts_stream_and_price_metrics() -> None:
    check = await asyncio.create_subprocess_exec(
        "promtool", "check", "metrics", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await check.communicate(exposition().encode())
    assert check.returncode == 0 and not out.strip(), out.decode()


def test_every_line_parses_and_families_are_not_split() -> None:
    text = exposition()
    families = list(text_string_to_metric_families(text))
    names = [family.name for family in families]
    assert len(names) == len(set(names))  # each family's samples come together
    by_name = {family.name: family for family in families}
    assert by_name["outagemon_probes"].type == "counter"
    assert by_name["outagemon_probe_duration_seconds"].type == "histogram"
    assert {s.labels["state"] for s in by_name["outagemon_target_state"].samples} == {
        "up", "degraded", "down", "maintenance", "unknown"}
    assert "process_resident_memory_bytes" in names or "process_resident_memory" in names
    assert by_name["outagemon_asyncio_tasks"].samples[0].value == 0  # no loop running


def test_label_values_are_escaped() -> None:
    target = HttpTarget.model_construct(name='we"ird\\name', kind="http", provider="p",
                                        labels={"team": "a\nb"})
    metrics = TargetMetrics.for_target(target)
    metrics.record(Observation(target.name, 1.0, Reason.OK, 0.1))
    health = Health(target.name, failure_threshold=1, success_threshold=1, interval=10)
    text = make_exposition([View(metrics, health)]).render_now().decode()
    assert ('outagemon_probes_total{kind="http",provider="p",reason="ok",'
            'target="we\\"ird\\\\name",team="a\\nb"} 1.0') in text
    sample = next(s for f in text_string_to_metric_families(text) for s in f.samples
                  if s.name == "outagemon_probes_total")
    assert sample.labels["target"] == 'we"ird\\name' and sample.labels["team"] == "a\nb"


def test_the_exposition_follows_the_numbers() -> None:
    items = views()
    expo = make_exposition(items)
    labels = 'kind="exchange",provider="binance",target="binance-btc"'
    assert f"outagemon_probe_duration_seconds_count{{{labels}}} 1.0" in expo.render_now().decode()
    items[0].metrics.record(Observation("binance-btc", 2.0, Reason.TIMEOUT))
    items[0].health.observe(Observation("binance-btc", 2.0, Reason.TIMEOUT), now=1.0)
    text = expo.render_now().decode()
    assert ('outagemon_probes_total{kind="exchange",provider="binance",reason="timeout",'
            'target="binance-btc"} 1.0') in text
    assert ('outagemon_target_state{kind="exchange",provider="binance",state="down",'
            'target="binance-btc"} 1.0') in text


async def test_streamed_slices_give_the_same_text() -> None:
    expo = make_exposition(views())
    pieces: list[bytes] = []

    async def send(piece: bytes) -> None:
        pieces.append(piece)

    await expo.write(send, slice_size=1, yield_after=0)
    assert b"".join(pieces) == expo.render_now()
    assert len(pieces) > 30  # a piece per family and slice, not one blob


def test_numbers_are_written_like_prometheus_client_writes_them() -> None:
    for value in (0, 1, -3, 999_999, 1_000_000, 21_000_000, 0.25, -0.35, 1e-05, 1.5e6,
                  float("inf"), float("-inf"), 123456789.5, 2**63):
        assert number(value) == floatToGoString(value), value
    assert number(float("nan")) == "NaN"


def test_only_targets_that_changed_are_rendered_again() -> None:
    items = views()
    expo = make_exposition(items)
    first = expo.render_now()
    before = [item.metrics.rendered for item in items]
    assert expo.render_now() == first
    assert [item.metrics.rendered for item in items] == before  # the same objects: reused
    obs = Observation("binance-btc", 3.0, Reason.HTTP_5XX, 0.2)
    items[0].metrics.record(obs)
    text = expo.render_now().decode()
    assert items[0].metrics.rendered is not before[0]
    assert all(item.metrics.rendered is old for item, old in zip(items[1:], before[1:],
                                                                   strict=True))
    assert ('outagemon_probes_total{kind="exchange",provider="binance",reason="http_5xx",'
            'target="binance-btc"} 1.0') in text
    items[0].health.observe(obs, now=2.0)  # the state alone changing is seen too
    assert ('outagemon_target_state{kind="exchange",provider="binance",state="down",'
            'target="binance-btc"} 1.0') in expo.render_now().decode()


def test_a_probe_renders_ahead_once_per_scrape() -> None:
    items = views()
    item = items[0]
    expo = make_exposition(items)

    def probe() -> None:
        item.metrics.record(Observation("binance-btc", 3.0, Reason.OK, 0.2))
        render_ahead(item)

    probe()  # never scraped yet: rendered now
    first = item.metrics.rendered
    assert first is not None and first.key[0] == item.metrics.version
    probe()  # probed again before a scrape: left for the scrape
    assert item.metrics.rendered is first
    text = expo.render_now()
    assert item.metrics.rendered is not first  # the scrape rendered the stale lines
    assert all(piece in text for piece in item.metrics.rendered.lines)
    probe()  # the first probe after a scrape renders ahead again
    assert item.metrics.rendered.key[0] == item.metrics.version
    ahead = item.metrics.rendered
    expo.render_now()
    assert item.metrics.rendered is ahead  # and the scrape used it


async def test_a_scrape_lets_the_event_loop_run_between_slices() -> None:
    items = views() * 50
    expo = make_exposition(items)
    turns = 0
    stop = asyncio.Event()

    async def other_work() -> None:
        nonlocal turns
        while not stop.is_set():
            turns += 1
            await asyncio.sleep(0)

    async def send(piece: bytes) -> None:  # a socket that takes everything: never waits
        pass

    worker = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    started = turns
    await expo.write(send, slice_size=10, yield_after=0)  # a turn after every slice
    stop.set()
    await worker
    assert turns - started >= len(items) // 10
