"""The soak's simulated venues, RPC providers and status pages, as their worlds' control APIs
describe them (GET /-/sim/state), and which world holds each name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Venue:
    name: str
    shape: str
    url: str
    ws_url: str


@dataclass(frozen=True)
class Provider:
    name: str
    kind: str  # evm, solana, bitcoin, cosmos
    chain: str
    chain_id: int | str
    block_time: float
    url: str
    ws_url: str | None


@dataclass(frozen=True)
class Page:
    name: str
    format: str  # a key of monitor.simulate.status.formats.FORMATS
    url: str
    feed_url: str


@dataclass
class Sites:
    venues: list[Venue] = field(default_factory=list)
    providers: list[Provider] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    control: dict[str, str] = field(default_factory=dict)  # name -> its world's control URL

    def add_world(self, control_url: str, state: dict[str, Any]) -> None:
        for name, venue in state["venues"].items():
            self.venues.append(Venue(name, venue["shape"], venue["url"], venue["ws_url"]))
            self.control[name] = control_url
        chains = state["chains"]
        for name, provider in state["providers"].items():
            chain = chains[provider["chain"]]
            self.providers.append(Provider(
                name, provider["kind"], provider["chain"], chain["chain_id"],
                float(chain["block_time"]), provider["url"], provider["ws_url"]))
            self.control[name] = control_url
        for name in chains:
            self.chains.append(name)
            self.control[name] = control_url
        for name, page in state["pages"].items():
            self.pages.append(Page(name, page["format"], page["url"], page["feed_url"]))
            self.control[name] = control_url

    def providers_of(self, kind: str) -> list[Provider]:
        return [p for p in self.providers if p.kind == kind]
