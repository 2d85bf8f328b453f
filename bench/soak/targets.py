"""The daemon's config for the soak: N targets in a production-like mix over the simulated
sites, alerts with short thresholds, three notifiers to the soak's flaky receiver and a
maintenance window.

The mix (MIX) is mostly plain HTTP and TCP checks, then exchange targets with their trade
streams, RPC providers of every kind (some EVM ones on newHeads), status pages and cloud
feeds, generic WebSocket streams and cross-venue price checks. Every target that points at
a simulated venue or provider depends on it (`depends_on`), so a fault on the whole venue is
one DependencyOutage rather than dozens of TargetDown.

`generation` is the reload counter: each generation shifts the interval of a different
RELOAD_SLICE of the targets by a second, so a reload (SIGHUP) tears down and rebuilds those
targets (streams included) while the number of targets and streams stays the same.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

from bench.soak.sites import Page, Provider, Sites, Venue
from monitor.simulate.status.formats import FORMATS
from monitor.simulate.venues import SHAPES

# Share of the targets per kind; http takes what rounding leaves.
MIX: dict[str, float] = {
    "tcp": 0.10,
    "exchange": 0.08,
    "websocket": 0.01,
    "evm_rpc": 0.075,
    "solana_rpc": 0.05,
    "cosmos_rpc": 0.04,
    "bitcoin_rpc": 0.035,
    "status": 0.055,
    "price": 0.005,
}
# Probe intervals (seconds) per kind: about 150 probes/s over 2,000 targets.
INTERVALS: dict[str, int] = {"http": 15, "tcp": 15, "exchange": 10, "websocket": 10,
                             "rpc": 10, "status": 20, "price": 10}
TIMEOUT = "5s"
STALE_AFTER = "10s"  # the venues trade twice a second per market
MARKETS = ("BTC-USDT", "ETH-USDT", "SOL-USDT", "BNB-USDT")
EVM_WS_SHARE = 0.15  # EVM targets that also follow newHeads
RPC_HTTP_SHARE = 0.1  # http targets that POST a JSON-RPC call to a provider
RELOAD_SLICE = 50  # each reload changes 1/50 of the targets back and 1/50 anew
WEBHOOK_SECRET = "whsec_c29hay10ZXN0LXNlY3JldC1zb2FrLXRlc3Q="
# Judgement for chains without a profile in monitor/chains.py, from their block time.
LAG_SECONDS = 4.0
HEAD_AGE_BLOCKS = 5
MIN_HEAD_AGE = 10.0
CHAIN_ID_KEYS = {"evm": "chain_id", "solana": "genesis_hash", "bitcoin": "network",
                 "cosmos": "network"}

Target = dict[str, Any]


def counts(total: int) -> dict[str, int]:
    """How many targets of each MIX kind (and http, the rest) make `total`."""
    shares = {kind: math.floor(total * share) for kind, share in MIX.items()}
    shares["http"] = total - sum(shares.values())
    return shares


def soak_config(sites: Sites, total: int, receiver_url: str, generation: int = 0) -> dict[str, Any]:
    """The whole config as plain data (written out as JSON, which is YAML)."""
    n = counts(total)
    exchanges = list(_take(n["exchange"], _exchange_targets(sites)))
    targets = [
        *_take(n["http"], _http_targets(sites)),
        *_take(n["tcp"], _tcp_targets(sites)),
        *exchanges,
        *_take(n["websocket"], _websocket_targets(sites)),
        *_take(n["price"], _price_targets(exchanges)),
        *_take(n["evm_rpc"], _rpc_targets(sites, "evm")),
        *_take(n["solana_rpc"], _rpc_targets(sites, "solana")),
        *_take(n["cosmos_rpc"], _rpc_targets(sites, "cosmos")),
        *_take(n["bitcoin_rpc"], _rpc_targets(sites, "bitcoin")),
        *_take(n["status"], _page_targets(sites)),
    ]
    for index, target in enumerate(targets):
        if index % RELOAD_SLICE == generation % RELOAD_SLICE:
            target["interval"] = f"{_seconds(target['interval']) + 1}s"
    return {
        "vantage": "soak",
        "defaults": {"interval": f"{INTERVALS['http']}s", "timeout": TIMEOUT},
        "alerts": {"defaults": {"failure_threshold": 2, "success_threshold": 2},
                   "group_wait": "2s"},
        "targets": targets,
        "notifiers": [
            {"name": "ops", "type": "webhook", "url": f"{receiver_url}/hook",
             "secret": WEBHOOK_SECRET},
            {"name": "am", "type": "alertmanager", "url": f"{receiver_url}/am"},
            {"name": "chat", "type": "slack", "url": f"{receiver_url}/slack",
             "match": {"severity": ["critical"]}},
        ],
        "maintenance": [{"targets": ["http-1*"], "cron": "*/10 * * * *", "duration": "2m"}],
    }


def _seconds(interval: str) -> int:
    return int(interval.removesuffix("s"))


def _take(count: int, items: Iterator[Target]) -> Iterator[Target]:
    return itertools.islice(items, count)


def _cycle(items: list[Any]) -> Iterator[tuple[int, Any]]:
    """(index, item) forever, round-robin over `items` (none: nothing)."""
    if not items:
        return iter(())
    return enumerate(itertools.cycle(items))


def _venue_paths(venue: Venue) -> list[tuple[str, dict[str, Any]]]:
    """(path, expect) of the REST paths a plain http target can watch on this venue."""
    shape = SHAPES[venue.shape]
    paths: list[tuple[str, dict[str, Any]]] = [(shape.time_path, {})]
    paths += [(path, {}) for path in shape.static]
    if venue.shape == "binance" and shape.status_path:
        paths.append((shape.status_path, {"json": {"status": 0}}))
    return paths


def _http_targets(sites: Sites) -> Iterator[Target]:
    evm = sites.providers_of("evm")
    choices: list[Callable[[int], Target]] = []
    for venue in sites.venues:
        for path, expect in _venue_paths(venue):
            choices.append(_venue_http(venue, path, expect))
    rpc_every = round(1 / RPC_HTTP_SHARE) if evm else 0
    for index, make in _cycle(choices):
        if rpc_every and index % rpc_every == rpc_every - 1:
            yield _rpc_http(evm[index % len(evm)], index)
        else:
            yield make(index)


def _venue_http(venue: Venue, path: str, expect: dict[str, Any]) -> Callable[[int], Target]:
    def make(index: int) -> Target:
        target: Target = {"name": f"http-{index}", "kind": "http", "provider": venue.name,
                          "url": f"{venue.url}{path}?soak={index}",
                          "interval": f"{INTERVALS['http']}s", "depends_on": [venue.name]}
        extra = dict(expect)
        if index % 4 == 0:
            extra["max_latency"] = "1s"
        if extra:
            target["expect"] = extra
        return target

    return make


def _rpc_http(provider: Provider, index: int) -> Target:
    return {"name": f"http-{index}", "kind": "http", "provider": provider.name,
            "url": f"{provider.url}/http/{index}", "method": "POST",
            "json_body": {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"},
            "expect": {"json": {"jsonrpc": "2.0"}},
            "interval": f"{INTERVALS['http']}s", "depends_on": [provider.name]}


def _tcp_targets(sites: Sites) -> Iterator[Target]:
    urls = [(v.name, v.url) for v in sites.venues] + [(p.name, p.url) for p in sites.providers]
    for index, (name, url) in _cycle(urls):
        yield {"name": f"tcp-{index}", "kind": "tcp", "provider": name,
               "address": url.removeprefix("http://"), "interval": f"{INTERVALS['tcp']}s",
               "depends_on": [name]}


def _exchange_targets(sites: Sites) -> Iterator[Target]:
    for index, venue in _cycle(sites.venues):
        market = MARKETS[(index // len(sites.venues)) % len(MARKETS)]
        yield {"name": f"exchange-{index}", "kind": "exchange", "provider": venue.name,
               "exchange": venue.shape, "market": market, "rest_url": venue.url,
               "ws_url": venue.ws_url, "stale_after": STALE_AFTER,
               "reconnect": {"initial": "1s", "max": "30s"},
               "interval": f"{INTERVALS['exchange']}s", "depends_on": [venue.name]}


def _websocket_targets(sites: Sites) -> Iterator[Target]:
    binance = [v for v in sites.venues if v.shape == "binance"]
    for index, venue in _cycle(binance):
        symbol = MARKETS[index % len(MARKETS)].replace("-", "").lower()
        yield {"name": f"websocket-{index}", "kind": "websocket", "provider": venue.name,
               "url": f"{venue.ws_url}/{symbol}@trade", "event_time": {"path": "E"},
               "stale_after": STALE_AFTER, "reconnect": {"initial": "1s", "max": "30s"},
               "interval": f"{INTERVALS['websocket']}s", "depends_on": [venue.name]}


def _price_targets(exchanges: list[Target]) -> Iterator[Target]:
    """Per market, the venues (exchange names) that have a target streaming it."""
    venues: dict[str, set[str]] = {}
    for target in exchanges:
        venues.setdefault(target["market"], set()).add(target["exchange"])
    boards = [(market, sorted(names)) for market, names in venues.items() if len(names) >= 2]
    for index, (market, names) in _cycle(boards):
        yield {"name": f"price-{index}", "kind": "price", "market": market, "venues": names,
               "max_deviation": 0.02, "interval": f"{INTERVALS['price']}s"}


def _rpc_targets(sites: Sites, kind: str) -> Iterator[Target]:
    ws_every = round(1 / EVM_WS_SHARE)
    for index, provider in _cycle(sites.providers_of(kind)):
        target = _rpc_target(provider, index)
        if provider.ws_url is not None and index % ws_every == 0:
            target["ws_url"] = provider.ws_url
        yield target


def _rpc_target(provider: Provider, index: int) -> Target:
    """An RPC target with a key of its own in the path (bitcoin: in the user info)."""
    url = f"{provider.url}/key/{provider.kind}-{index}"
    if provider.kind == "bitcoin":
        url = provider.url.replace("http://", f"http://soak:key{index}@") + "/"
    target: Target = {
        "name": f"{provider.kind}-{index}", "kind": f"{provider.kind}_rpc",
        "provider": provider.name, "chain": provider.chain, "url": url,
        CHAIN_ID_KEYS[provider.kind]: provider.chain_id,
        "max_lag_blocks": max(2, math.ceil(LAG_SECONDS / provider.block_time)),
        "max_head_age": f"{max(MIN_HEAD_AGE, HEAD_AGE_BLOCKS * provider.block_time):g}s",
        "interval": f"{INTERVALS['rpc']}s", "depends_on": [provider.name],
    }
    if provider.kind != "solana":
        target["peers"] = True
    return target


def _page_targets(sites: Sites) -> Iterator[Target]:
    for index, page in _cycle(sites.pages):
        yield _page_target(page, index)


def _page_target(page: Page, index: int) -> Target:
    fmt = FORMATS[page.format]
    interval = f"{INTERVALS['status']}s"
    if fmt.check_kind == "statuspage":
        return {"name": f"status-{index}", "kind": "statuspage", "provider": page.name,
                "url": f"{page.url}?soak={index}", "format": fmt.check_format,
                "interval": interval}
    return {"name": f"status-{index}", "kind": "cloud_status", "provider": page.name,
            "cloud": fmt.check_format, "url": f"{page.feed_url}?soak={index}",
            "interval": interval}
