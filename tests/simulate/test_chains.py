"""Simulated chains and their fake RPC providers, read by outagemon's real RPC checks and by
the daemon, on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from checks.base import Check, CheckEnv
from checks.rpc import bitcoin, cosmos, evm, solana
from monitor.commands.demo import DEMO_CHAINS, demo_config
from monitor.correlate import ChainCorrelator
from monitor.daemon import Daemon
from monitor.observation import Fact, Observation, Reason, State
from monitor.schema import TargetBase
from monitor.settings import Config
from monitor.simulate import ChainSpec, FaultError, World, one_venue_per_shape
from monitor.simulate.faults import FaultBook, FaultKind
from monitor.simulate.scenarios import ChainStep, step_target
from tests.conftest import wait_for

BLOCK_TIME = 0.1
KINDS = ("evm", "solana", "bitcoin", "cosmos")
CHECKS: dict[str, Any] = {"evm": evm, "solana": solana, "bitcoin": bitcoin, "cosmos": cosmos}
TARGETS: dict[str, type[TargetBase]] = {
    "evm": evm.EvmRpcTarget, "solana": solana.SolanaRpcTarget,
    "bitcoin": bitcoin.BitcoinRpcTarget, "cosmos": cosmos.CosmosRpcTarget,
}
CHAIN_ID_KEYS = {"evm": "chain_id", "solana": "genesis_hash", "bitcoin": "network",
                 "cosmos": "network"}


def chain_of(kind: str) -> str:
    return f"{kind}-sim"


def providers_of(kind: str) -> tuple[str, str]:
    return f"{kind}-sim-a", f"{kind}-sim-b"


def all_chains(block_time: float = BLOCK_TIME) -> dict[str, ChainSpec]:
    return {chain_of(kind): ChainSpec(kind, providers_of(kind), block_time=block_time)
            for kind in KINDS}


def target(world: World, provider: str, **keys: Any) -> TargetBase:
    chain = world.provider(provider).chain
    document = {"name": provider, "kind": f"{chain.kind}_rpc", "chain": chain.name,
                "url": world.url(provider), CHAIN_ID_KEYS[chain.kind]: chain.chain_id,
                "interval": "1s", "timeout": "1s"}
    if chain.kind != "solana":
        document["peers"] = True
    return TARGETS[chain.kind].model_validate({**document, **keys})


def check(world: World, provider: str, **keys: Any) -> Check:
    chain = world.provider(provider).chain
    built: Check = CHECKS[chain.kind].build(target(world, provider, **keys), CheckEnv())
    return built


async def probe(world: World, provider: str, **keys: Any) -> Observation:
    return await check(world, provider, **keys).probe()


def head(observation: Observation) -> int:
    value = observation.facts[Fact.HEAD]
    assert isinstance(value, int)
    return value


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with World(venues=(), chains=all_chains()) as world:
        yield world


# -- the chain ------------------------------------------------------------------------------

async def test_the_head_advances_at_the_block_time_and_blocks_carry_their_time() -> None:
    chains = {"c": ChainSpec("evm", ("c-a",), block_time=0.05, start_height=100)}
    async with World(venues=(), chains=chains) as world:
        chain = world.chain("c")
        first = chain.head
        assert first >= 100
        await wait_for(lambda: chain.head >= first + 3, timeout=2, what="three blocks")
        now = time.time()
        head_now = chain.head
        assert chain.timestamp(head_now) <= now + 0.01
        assert now - chain.timestamp(head_now) < 0.05 + 0.05
        spacing = chain.timestamp(head_now) - chain.timestamp(head_now - 1)
        assert spacing == pytest.approx(0.05, abs=1e-5)
        assert chain.height_of(chain.block_hash(head_now)) == head_now
        assert chain.height_of("0x" + "0" * 64) is None


@pytest.mark.parametrize("kind", KINDS)
async def test_each_kind_answers_its_check_ok_with_an_advancing_head(world: World,
                                                                     kind: str) -> None:
    provider = providers_of(kind)[0]
    first = await probe(world, provider)
    assert first.reason is Reason.OK, first.detail
    assert first.facts[Fact.CHAIN_ID] == world.chain(chain_of(kind)).chain_id
    assert abs(head(first) - world.chain(chain_of(kind)).head) <= 2
    head_time = first.facts[Fact.HEAD_TIME]
    assert isinstance(head_time, float)
    assert time.time() - head_time < BLOCK_TIME + 1.1  # EVM, Solana, Bitcoin: whole seconds
    if kind != "solana":
        assert first.facts[Fact.PEERS] > 0
        assert first.facts[Fact.SYNCING] is False

    async def advanced() -> bool:
        later = await probe(world, provider)
        return later.reason is Reason.OK and head(later) > head(first)

    await wait_for(advanced, timeout=3, what="a higher head")


FAULT_REASONS: list[tuple[str, dict[str, Any], Reason]] = [
    ("wrong_chain", {}, Reason.WRONG_CHAIN),
    ("rate_limit", {"retry_after": 7}, Reason.RATE_LIMITED),
    ("rpc_error", {}, Reason.RPC_ERROR),
    ("syncing", {"behind": 20}, Reason.SYNCING),
    ("hang", {}, Reason.TIMEOUT),
    ("http_5xx", {}, Reason.HTTP_5XX),
    ("garbage", {}, Reason.INVALID_RESPONSE),
    ("oversized", {"size": 2 * 1024 * 1024}, Reason.INVALID_RESPONSE),
    ("reset", {}, Reason.ERROR),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("fault", "params", "reason"), FAULT_REASONS,
                         ids=[fault for fault, _, _ in FAULT_REASONS])
async def test_each_fault_gives_the_checks_reason(world: World, kind: str, fault: str,
                                                  params: dict[str, Any],
                                                  reason: Reason) -> None:
    provider, other = providers_of(kind)
    if kind == "solana" and fault == "syncing":
        reason = Reason.LAGGING  # agave: getHealth -32005 with numSlotsBehind
    world.inject(provider, fault, **params)
    observation = await probe(world, provider, timeout="300ms")
    assert observation.reason is reason, observation.detail
    assert (await probe(world, other)).reason is Reason.OK  # its neighbour is fine
    if fault == "rate_limit":
        assert observation.facts[Fact.RETRY_AFTER] == 7
        assert observation.facts[Fact.HTTP_STATUS] == 429
    if fault == "rpc_error":
        assert observation.facts.get(Fact.HTTP_STATUS) == 200  # the error is inside a 200
        assert "-32603" in observation.detail
    if fault == "syncing" and kind != "solana":
        assert observation.facts[Fact.SYNCING] is True
    if fault == "wrong_chain":
        assert observation.facts[Fact.CHAIN_ID] != world.chain(chain_of(kind)).chain_id
    world.clear_all()
    assert (await probe(world, provider)).reason is Reason.OK


@pytest.mark.parametrize(("kind", "chain_id"), [
    ("evm", 8453), ("solana", "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"),
    ("bitcoin", "testnet4"), ("cosmos", "osmosis-1"),
])
async def test_wrong_chain_reports_the_given_chain_id(world: World, kind: str,
                                                      chain_id: int | str) -> None:
    provider = providers_of(kind)[0]
    world.inject(provider, "wrong_chain", chain_id=chain_id)
    observation = await probe(world, provider)
    assert observation.reason is Reason.WRONG_CHAIN
    assert observation.facts[Fact.CHAIN_ID] == chain_id


async def test_rpc_error_can_hit_one_method(world: World) -> None:
    world.inject("solana-sim-a", "rpc_error", method="getBlockTime", code=-32009,
                 message="Slot 5 was skipped, or missing in long-term storage")
    observation = await probe(world, "solana-sim-a")
    assert observation.reason is Reason.OK  # a slot with no time: the head time is unknown
    assert Fact.HEAD_TIME not in observation.facts
    world.clear_all()
    world.inject("cosmos-sim-a", "rpc_error", path="/net_info")
    observation = await probe(world, "cosmos-sim-a")
    assert observation.reason is Reason.RPC_ERROR
    assert observation.detail.startswith("/net_info")


# -- one provider's head --------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
async def test_freeze_stops_one_provider_while_the_chain_goes_on(world: World,
                                                                 kind: str) -> None:
    provider, other = providers_of(kind)
    chain = world.chain(chain_of(kind))
    world.inject(provider, "freeze")
    frozen = head(await probe(world, provider))
    await wait_for(lambda: chain.head > frozen + 3, timeout=2, what="the chain to go on")
    assert head(await probe(world, provider)) == frozen
    assert head(await probe(world, other)) > frozen + 3
    world.clear_all()
    assert head(await probe(world, provider)) > frozen + 3  # caught up


@pytest.mark.parametrize("kind", KINDS)
async def test_lag_falls_behind_to_the_head_minus_n(world: World, kind: str) -> None:
    provider = providers_of(kind)[0]
    chain = world.chain(chain_of(kind))
    start = chain.head
    world.inject(provider, "lag", blocks=4)
    assert start <= head(await probe(world, provider)) <= chain.head  # no step back
    await wait_for(lambda: chain.head > start + 4, timeout=2, what="four blocks")
    before = chain.head
    lagging = head(await probe(world, provider))
    assert before - 4 <= lagging <= chain.head - 4
    world.clear_all()
    assert head(await probe(world, provider)) >= before


@pytest.mark.parametrize("kind", KINDS)
async def test_rewind_jumps_back_once_then_follows_the_chain(world: World, kind: str) -> None:
    provider = providers_of(kind)[0]
    chain = world.chain(chain_of(kind))
    fault_id = world.inject(provider, "rewind", blocks=30)
    before = chain.head
    rewound = head(await probe(world, provider))
    assert before - 30 <= rewound <= chain.head - 30
    assert not world.clear(fault_id)  # it ended itself
    assert head(await probe(world, provider)) >= before


@pytest.mark.parametrize("kind", KINDS)
async def test_halt_stops_every_provider_of_the_chain(world: World, kind: str) -> None:
    chain = world.chain(chain_of(kind))
    fault_id = world.inject(chain.name, "halt")
    halted = chain.head
    assert chain.halted
    await wait_for(lambda: time.time() - chain.timestamp(halted) > 4 * BLOCK_TIME, timeout=2,
                   what="time to pass")
    for provider in providers_of(kind):
        assert head(await probe(world, provider)) == halted
    world.clear(fault_id)
    assert not chain.halted
    assert chain.head == halted  # production starts again from the head it stopped at
    await wait_for(lambda: chain.head > halted, timeout=2, what="the next block")
    assert chain.timestamp(halted + 1) > chain.timestamp(halted) + 4 * BLOCK_TIME


async def test_syncing_on_the_chain_makes_every_provider_sync(world: World) -> None:
    world.inject("cosmos-sim", "syncing", behind=5)
    for provider in providers_of("cosmos"):
        observation = await probe(world, provider)
        assert observation.reason is Reason.SYNCING
        assert observation.facts[Fact.SYNCING] is True


# -- the answers' shapes --------------------------------------------------------------------

async def post(url: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json(content_type=None)


async def test_evm_answers_single_requests_and_batches(world: World) -> None:
    url = world.url("evm-sim-a") + "/v3/some-key"
    status, reply = await post(url, {"jsonrpc": "2.0", "id": 7, "method": "eth_blockNumber"})
    assert status == 200 and reply["id"] == 7 and reply["result"].startswith("0x")
    status, replies = await post(url, [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_getBlockByNumber", "params": ["0x1", False]},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_nope", "params": []},
        {"jsonrpc": "2.0", "method": "eth_chainId", "params": []},  # a notification
    ])
    assert status == 200 and [item["id"] for item in replies] == [1, 2, 3]
    assert replies[0]["result"] == hex(31337)
    assert replies[1]["result"]["number"] == "0x1"
    assert replies[2]["error"]["code"] == -32601
    world.inject("evm-sim-a", "syncing", behind=9)
    _, reply = await post(url, {"jsonrpc": "2.0", "id": 1, "method": "eth_syncing"})
    syncing = reply["result"]
    assert int(syncing["highestBlock"], 16) - int(syncing["currentBlock"], 16) >= 9


async def test_bitcoin_answers_as_bitcoin_core(world: World) -> None:
    url = world.url("bitcoin-sim-a")
    status, reply = await post(url, {"jsonrpc": "1.0", "id": "x", "method": "getblockcount"})
    assert status == 200 and reply == {"result": world.chain("bitcoin-sim").head,
                                       "error": None, "id": "x"}
    status, reply = await post(url, {"jsonrpc": "1.0", "id": "x", "method": "nope"})
    assert (status, reply["error"]["code"], reply["result"]) == (404, -32601, None)
    status, reply = await post(url, {"jsonrpc": "2.0", "id": 1, "method": "nope"})
    assert (status, reply["error"]["code"]) == (200, -32601)
    assert "result" not in reply
    world.inject("bitcoin-sim-a", "rpc_error", code=-28, message="Loading block index…")
    status, reply = await post(url, {"id": 1, "method": "getblockchaininfo"})
    assert (status, reply["error"]["code"]) == (500, -28)
    observation = await probe(world, "bitcoin-sim-a")  # the check speaks 2.0: a 200
    assert observation.reason is Reason.RPC_ERROR
    assert observation.facts[Fact.HTTP_STATUS] == 200


async def test_cosmos_serves_status_under_a_key_path(world: World) -> None:
    url = world.url("cosmos-sim-a") + "/some-key/status"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        document = await response.json()
    sync = document["result"]["sync_info"]
    assert document["id"] == -1
    assert sync["latest_block_height"] == str(world.chain("cosmos-sim").head)
    assert sync["latest_block_time"].endswith("Z") and len(sync["latest_block_time"]) == 30


async def test_evm_pushes_new_heads_over_websocket(world: World) -> None:
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(world.ws_url("evm-sim-a")) as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                            "params": ["newHeads"]})
        subscribed = await ws.receive_json(timeout=2)
        subscription = subscribed["result"]
        numbers: list[int] = []
        while len(numbers) < 2:
            message = await ws.receive_json(timeout=2)
            assert message["params"]["subscription"] == subscription
            numbers.append(int(message["params"]["result"]["number"], 16))
        assert numbers[1] > numbers[0]
        await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "eth_chainId"})
        while (message := await ws.receive_json(timeout=2)).get("id") != 2:
            pass
        assert message["result"] == hex(31337)
        world.inject("evm-sim-a", "stall_stream")
        with pytest.raises(TimeoutError):  # heads keep coming, but none is pushed
            await ws.receive_json(timeout=5 * BLOCK_TIME)


async def test_latency_delays_the_answer(world: World) -> None:
    world.inject("cosmos-sim-a", "latency", ms=300)
    observation = await probe(world, "cosmos-sim-a", max_latency="100ms")
    assert observation.reason is Reason.DEGRADED
    assert observation.latency is not None and observation.latency >= 0.3


async def test_the_evm_check_follows_new_heads(world: World) -> None:
    built = check(world, "evm-sim-a", ws_url=world.ws_url("evm-sim-a"))
    await built.start()
    try:
        async def streamed() -> bool:
            observation = await built.probe()
            return (observation.reason is Reason.OK and observation.stream is not None
                    and observation.stream.messages_total > 0)

        await wait_for(streamed, timeout=3, what="new heads on the stream")
    finally:
        await built.close()


# -- injection ------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "fault", "params", "path", "message"), [
    ("evm-sim-a", "halt", {}, None, "does not apply to the provider"),
    ("evm-sim", "lag", {}, None, "does not apply to the chain"),
    ("evm-sim-a", "geo_block", {}, None, "does not apply"),
    ("evm-sim-a", "lag", {"blocks": 0}, None, "blocks"),
    ("evm-sim-a", "lag", {}, "/x", "whole provider"),
    ("evm-sim-a", "wrong_chain", {"chain_id": "mainnet"}, None, "EVM chain id"),
    ("nowhere", "lag", {}, None, "unknown venue, provider or chain"),
])
async def test_invalid_injections_are_refused(world: World, name: str, fault: str,
                                              params: dict[str, Any], path: str | None,
                                              message: str) -> None:
    with pytest.raises(FaultError, match=message):
        world.inject(name, fault, path=path, **params)
    assert world.faults() == []


async def test_provider_faults_do_not_apply_to_venues() -> None:
    async with World(chains={"c": ("evm", ["c-a"])}) as world:
        with pytest.raises(FaultError, match="does not apply to the venue"):
            world.inject("binance-sim", "freeze")
        assert world.venues == ["binance-sim"] and world.providers == ["c-a"]


@pytest.mark.parametrize(("chains", "message"), [
    ({"c": ("tron", ["c-a"])}, "unknown kind"),
    ({"c": ("evm", [])}, "providers"),
    ({"c": ("evm", ["binance-sim"])}, "duplicate"),
    ({"binance-sim": ("evm", ["c-a"])}, "duplicate"),
    ({"c": ("evm", ["Bad Name"])}, "invalid"),
    ({"c": ChainSpec("evm", ["c-a"], chain_id="x")}, "EVM chain id"),
    ({"c": ChainSpec("evm", ["c-a"], block_time=0)}, "block_time"),
])
def test_bad_chains_are_refused(chains: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        World(chains=chains)


async def test_control_api_injects_provider_and_chain_faults(world: World) -> None:
    faults = world.control_url + "/-/sim/faults"
    async with aiohttp.ClientSession() as session:
        async with session.post(faults, json={"provider": "evm-sim-a", "fault": "lag",
                                              "params": {"blocks": 3}}) as response:
            assert response.status == 201
            lag = await response.json()
        async with session.post(faults, json={"chain": "evm-sim", "fault": "halt",
                                              "duration_s": 30}) as response:
            assert response.status == 201
            halt = await response.json()
        async with session.post(faults, json={"provider": "evm-sim-a",
                                              "chain": "evm-sim", "fault": "lag"}) as response:
            assert response.status == 400
            assert "exactly one" in (await response.json())["error"]
        async with session.get(world.control_url + "/-/sim/state") as response:
            state = await response.json()
    assert (lag["provider"], lag["fault"], lag["params"]) == ("evm-sim-a", "lag", {"blocks": 3})
    assert (halt["chain"], halt["fault"]) == ("evm-sim", "halt")
    assert state["chains"]["evm-sim"]["halted"] is True
    assert state["chains"]["evm-sim"]["providers"] == list(providers_of("evm"))
    provider = state["providers"]["evm-sim-a"]
    assert (provider["kind"], provider["chain"]) == ("evm", "evm-sim")
    assert provider["url"] == world.url("evm-sim-a")
    assert provider["ws_url"] == world.ws_url("evm-sim-a")
    tip = state["chains"]["evm-sim"]["head"]
    assert tip - 3 <= provider["head"] <= tip
    assert [item["id"] for item in provider["faults"]] == [lag["id"]]
    assert state["providers"]["bitcoin-sim-a"]["ws_url"] is None
    assert world.clear_all() == 2


# -- through the daemon ---------------------------------------------------------------------

DAEMON_BLOCK_TIME = 0.2


def daemon_config(world: World) -> Config:
    targets = [{"name": provider, "kind": "evm_rpc", "chain": "devnet-sim",
                "chain_id": world.chain("devnet-sim").chain_id, "url": world.url(provider),
                "max_lag_blocks": 5, "max_head_age": "2s"}
               for provider in world.providers]
    return Config.model_validate({
        "defaults": {"interval": "300ms", "timeout": "500ms"},
        "alerts": {"defaults": {"failure_threshold": 2, "success_threshold": 1}},
        "targets": targets,
    })


@pytest.fixture
async def chain_world() -> AsyncIterator[World]:
    chains = {"devnet-sim": ChainSpec("evm", ("node-a", "node-b"),
                                      block_time=DAEMON_BLOCK_TIME)}
    async with World(venues=(), chains=chains) as world:
        yield world


@pytest.fixture
async def daemon(chain_world: World, tmp_path: Path) -> AsyncIterator[Daemon]:
    daemon = Daemon(daemon_config(chain_world), state_path=str(tmp_path / "state.db"))
    await daemon.start()
    try:
        a, b = daemon.runs["node-a"].health, daemon.runs["node-b"].health
        await wait_for(lambda: a.state is State.UP and b.state is State.UP, timeout=5,
                       what="both providers up")
        yield daemon
    finally:
        await daemon.stop()


async def test_a_lagging_provider_is_lagging_while_the_other_stays_up(
        chain_world: World, daemon: Daemon) -> None:
    a, b = daemon.runs["node-a"].health, daemon.runs["node-b"].health
    chain_world.inject("node-a", "lag", blocks=30)
    await wait_for(lambda: a.last is not None and a.last.reason is Reason.LAGGING, timeout=5,
                   what="node-a lagging")
    assert a.last is not None and a.last.facts[Fact.LAG_BLOCKS] > 5
    assert b.state is State.UP
    assert b.last is not None and b.last.reason is Reason.OK
    assert daemon.runs["node-a"].metrics.head_rewinds == 0  # fell behind, never stepped back


async def test_a_halt_is_the_chains_not_the_providers(chain_world: World,
                                                      daemon: Daemon) -> None:
    a, b = daemon.runs["node-a"].health, daemon.runs["node-b"].health
    chain_world.inject("devnet-sim", "halt")
    await wait_for(lambda: all(h.last is not None and h.last.excused_by == "devnet-sim halted"
                               for h in (a, b)), timeout=6, what="the halt")
    text = daemon.exposition.render_now().decode()
    assert 'outagemon_chain_halted{chain="devnet-sim"} 1.0' in text
    assert a.state is State.UP and b.state is State.UP  # affected by the halt, not blamed
    assert b.last is not None and b.last.facts[Fact.CHAIN_HALTED] is True
    chain_world.clear_all()
    await wait_for(lambda: all(h.last is not None and h.last.reason is Reason.OK
                               for h in (a, b)), timeout=5, what="the recovery")
    text = daemon.exposition.render_now().decode()
    assert 'outagemon_chain_halted{chain="devnet-sim"} 0.0' in text


async def test_a_rewind_is_seen_as_head_rewind(chain_world: World, daemon: Daemon,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rewinds: list[tuple[str, Any]] = []
    judge: Callable[[TargetBase, Observation, float], Observation] = daemon.chains.observe

    def observe(target: TargetBase, obs: Observation, now: float) -> Observation:
        judged = judge(target, obs, now)
        if Fact.HEAD_REWIND in judged.facts:
            rewinds.append((target.name, judged.facts[Fact.HEAD_REWIND]))
        return judged

    monkeypatch.setattr(daemon.chains, "observe", observe)
    chain_world.inject("node-a", "rewind", blocks=10)
    await wait_for(lambda: bool(rewinds), timeout=5, what="the rewind")
    name, blocks = rewinds[0]
    assert name == "node-a" and 0 < blocks <= 10
    assert daemon.runs["node-a"].metrics.head_rewinds == 1
    assert isinstance(daemon.chains, ChainCorrelator)


# -- the demo and the scenarios -------------------------------------------------------------

async def test_demo_config_watches_every_provider_and_they_answer_ok() -> None:
    async with World(venues=one_venue_per_shape(), chains=DEMO_CHAINS) as world:
        config = demo_config(world)
        rpc = [t for t in config.targets if t.kind.endswith("_rpc")]
        assert sorted(t.kind for t in rpc) == sorted(
            ["evm_rpc"] * 8 + ["solana_rpc"] * 3 + ["cosmos_rpc"] * 2 + ["bitcoin_rpc"])
        assert {t.name for t in rpc} == set(world.providers)
        for item in rpc:
            assert isinstance(item, evm.EvmRpcTarget | solana.SolanaRpcTarget
                              | bitcoin.BitcoinRpcTarget | cosmos.CosmosRpcTarget)
            assert item.max_lag_blocks is not None and item.max_head_age is not None
            block_time = world.chain(item.chain).block_time
            assert item.max_head_age > 2 * block_time
            built = CHECKS[world.chain(item.chain).kind].build(item, CheckEnv())
            await built.start()
            try:
                observation = await built.probe()
            finally:
                await built.close()
            assert observation.reason is Reason.OK, (item.name, observation.detail)


async def test_chain_trouble_plays_every_chain_fault() -> None:
    started: set[str] = set()
    async with World(venues=(), chains=DEMO_CHAINS, time_scale=0.002) as world:
        books = [world.provider(name).faults for name in world.providers]
        books += [world.chain(name).faults for name in world.chains]
        def recorder(book: FaultBook) -> Callable[[], None]:
            return lambda: started.update(fault.kind.value for fault in book)

        for book in books:
            book.on_change(recorder(book))
        world.play("chain-trouble")
        expected = {"lag", "halt", "rewind", "rate_limit", "rpc_error", "syncing",
                    "wrong_chain"}
        await wait_for(lambda: started >= expected, timeout=5, what="every chain fault")
    assert world.faults() == []


async def test_chain_trouble_stays_on_ethereum_with_the_l2s_in_the_demo() -> None:
    async with World(venues=(), chains=DEMO_CHAINS) as world:
        assert step_target(world, ChainStep(45, "halt", "evm")) == "ethereum-sim"
        assert step_target(world, ChainStep(30, "lag", "evm", 0)) == "ethereum-sim-a"


async def test_flaky_troubles_chains_too() -> None:
    async with World(chains=DEMO_CHAINS, time_scale=0.002) as world:
        world.play("flaky")
        await wait_for(lambda: any(f.kind is FaultKind.HALT for f in world.faults()),
                       timeout=5, what="a halt")
