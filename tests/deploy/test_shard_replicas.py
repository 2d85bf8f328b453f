"""`--shard I/N`: three replicas over 300 targets probe every target, each from one replica."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from monitor.daemon import Daemon
from monitor.settings import Config
from monitor.shard import Shard
from tests.conftest import LocalServer, wait_for

REPLICAS = 3
TARGETS = 300


def config_for(server: LocalServer, replica: int) -> Config:
    # The same target names for every replica (names decide the shard); the URL carries the
    # replica so the server can tell who probed.
    return Config.model_validate({
        "vantage": f"replica-{replica}",
        "defaults": {"interval": "1s", "timeout": "2s", "max_concurrency": 64},
        "targets": [{"name": f"target-{i:03d}", "kind": "http",
                     "url": server.url(f"/r{replica}/target-{i:03d}")}
                    for i in range(TARGETS)],
    })


async def test_three_replicas_probe_every_target_exactly_once(
    serve_app: Callable[[web.Application], Awaitable[LocalServer]], tmp_path: Path
) -> None:
    probes: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    async def hit(request: web.Request) -> web.Response:
        replica = int(request.match_info["replica"])
        probes[request.match_info["target"]][replica] += 1
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/r{replica}/{target}", hit)
    server = await serve_app(app)

    daemons = [Daemon(config_for(server, i), state_path=str(tmp_path / f"state-{i}.db"),
                      shard=Shard(i, REPLICAS)) for i in range(REPLICAS)]
    try:
        for daemon in daemons:
            await daemon.start()
        # every target probed at least twice: each replica had time for a second round, so a
        # target probed by two replicas would show up
        await wait_for(lambda: len(probes) == TARGETS
                       and all(sum(c.values()) >= 2 for c in probes.values()),
                       timeout=60, interval=0.05, what="two rounds of probes of every target")
    finally:
        for daemon in daemons:
            await daemon.stop()

    names = {f"target-{i:03d}" for i in range(TARGETS)}
    assert set(probes) == names
    owners = {name: set(counts) for name, counts in probes.items()}
    assert all(len(who) == 1 for who in owners.values()), {
        n: w for n, w in owners.items() if len(w) != 1}
    for i, daemon in enumerate(daemons):
        mine = {name for name, who in owners.items() if who == {i}}
        assert mine == set(daemon.runs) == {n for n in names if Shard(i, REPLICAS).owns(n)}
        assert mine, f"replica {i} got no targets"
    assert sum(len(d.runs) for d in daemons) == TARGETS
