"""What a provider kind says (evm, solana, bitcoin, cosmos): its JSON-RPC methods, its
GET routes, its defaults, how it names chains and how it says "rate limited". The provider
(provider.py) does the rest: serving, faults, the head it shows.

Every method answers from a View: the chain as this provider shows it at one moment, so
that all answers to one request agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from monitor.simulate.chains.chain import SimChain


class JsonRpcError(Exception):
    """A JSON-RPC error object to answer with."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def encode(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


@dataclass(frozen=True, slots=True)
class View:
    """The chain as one provider shows it at one moment."""

    chain: SimChain
    head: int  # the provider's head (after freeze, lag, rewind, syncing)
    tip: int  # the chain's head
    chain_id: int | str  # what the provider says it is on (wrong_chain changes it)
    syncing: bool
    peers: int
    now: float

    def timestamp(self, height: int) -> float:
        return self.chain.timestamp(height)

    def hash(self, height: int) -> str:
        return self.chain.block_hash(height)


Method = Callable[[View, list[Any]], Any]


class RpcKind:
    """A provider kind: mostly data, plus the methods (see `methods`)."""

    name: ClassVar[str]  # evm, solana, ...
    check_kind: ClassVar[str]  # the outagemon kind that reads it: evm_rpc, ...
    block_time: ClassVar[float]  # default seconds between blocks
    start_height: ClassVar[int]  # default head when the world starts
    peers: ClassVar[int] = 8
    # "2.0": every reply is JSON-RPC 2.0; "bitcoin": as Bitcoin Core answers (legacy 1.0
    # replies to 1.0 requests, failed single legacy requests with HTTP 500/404/400).
    style: ClassVar[Literal["2.0", "bitcoin"]] = "2.0"
    # The JSON-RPC error of a rate-limited answer (sent with HTTP 429 and Retry-After).
    rate_limit_error: ClassVar[tuple[int, str]] = (-32005, "rate limit exceeded")
    # GET routes: last path segment -> method, answered in a JSON-RPC envelope (CometBFT).
    get_routes: ClassVar[Mapping[str, str]] = {}
    get_id: ClassVar[int | str | None] = -1
    websocket: ClassVar[bool] = False  # serves newHeads over WebSocket (GET with Upgrade)

    def default_chain_id(self, chain: str) -> int | str:
        raise NotImplementedError

    def other_chain_id(self, chain_id: int | str) -> int | str:
        """What a provider on the wrong chain reports."""
        raise NotImplementedError

    def parse_chain_id(self, value: int | str) -> int | str:
        """A chain id given in a spec or a wrong_chain fault; ValueError when it cannot be
        this kind's."""
        if not isinstance(value, str) or not value:
            raise ValueError(f"a {self.name} chain id is a non-empty string, got {value!r}")
        return value

    def methods(self) -> Mapping[str, Method]:
        raise NotImplementedError

    def new_head(self, view: View, height: int) -> Any:
        """The newHeads notification's `result` for block `height` (kinds with websocket)."""
        raise NotImplementedError


def integer(params: list[Any], index: int, what: str, *, default: int | None = None) -> int:
    """The int parameter at `index` (-32602 when missing or not an int)."""
    if index >= len(params):
        if default is not None:
            return default
        raise JsonRpcError(INVALID_PARAMS, f"missing value for required argument {index} ({what})")
    value = params[index]
    if not isinstance(value, int) or isinstance(value, bool):
        raise JsonRpcError(INVALID_PARAMS, f"invalid argument {index}: {what} is not an integer")
    return value


def text(params: list[Any], index: int, what: str) -> str:
    if index >= len(params) or not isinstance(params[index], str):
        raise JsonRpcError(INVALID_PARAMS, f"invalid argument {index}: {what} is not a string")
    value: str = params[index]
    return value
