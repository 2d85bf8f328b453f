"""A simulated chain: one head that advances at the chain's block time, for every provider.

Blocks are produced on a schedule, not by a task: the head at any moment follows from when
production (re)started and the block time, so every provider and every request agree. A
block's timestamp is the moment it was produced. A `halt` fault stops production (no
provider advances); when it ends production starts again from the head it stopped at.

Block hashes are made up but stable: the height is written into the hash (`block_hash`), so
a hash leads back to its block (`height_of`).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from monitor.simulate.faults import CHAIN_KINDS, FaultBook, FaultKind, NoParams, SyncingParams

Clock = Callable[[], float]


@dataclass(slots=True)
class Run:
    """A stretch of block production: `start_height` was the head at `start_time`; a block
    every block time after, until `end_time` (a halt) if any."""

    start_height: int
    start_time: float
    end_time: float | None = None


def block_hash(chain: str, height: int) -> str:
    """64 hex digits: eight zeros (a Bitcoin-ish look), the height, then a digest."""
    digest = hashlib.sha256(f"{chain}:{height}".encode()).hexdigest()
    return f"00000000{height:016x}{digest[:40]}"


class SimChain:
    fault_kinds = CHAIN_KINDS

    def __init__(self, name: str, kind: str, *, block_time: float, chain_id: int | str,
                 start_height: int, clock: Clock = time.time) -> None:
        if not block_time > 0:
            raise ValueError(f"chain {name!r}: block_time must be positive, got {block_time}")
        if start_height < 0:
            raise ValueError(f"chain {name!r}: start_height must not be negative")
        self.name = name
        self.kind = kind  # evm, solana, bitcoin, cosmos
        self.block_time = float(block_time)
        self.chain_id = chain_id
        self.providers: list[str] = []
        self._clock = clock
        self._runs = [Run(start_height, clock())]
        self.faults = FaultBook(name, scope="chain")
        self.faults.on_change(self._on_fault_change)

    # -- heads -----------------------------------------------------------------------------

    @property
    def head(self) -> int:
        return self.height_at(self._clock())

    @property
    def halted(self) -> bool:
        return self._runs[-1].end_time is not None

    def height_at(self, when: float) -> int:
        """The chain's head at wall time `when` (never before its first block)."""
        run = self._runs[0]
        for candidate in self._runs:
            if candidate.start_time <= when:
                run = candidate
        until = when if run.end_time is None else min(when, run.end_time)
        produced = math.floor((until - run.start_time) / self.block_time)
        return run.start_height + max(produced, 0)

    def timestamp(self, height: int) -> float:
        """When block `height` was produced (blocks before the first run: extrapolated)."""
        run = self._runs[0]
        for candidate in self._runs:
            if candidate.start_height < height:
                run = candidate
        return run.start_time + (height - run.start_height) * self.block_time

    def block_hash(self, height: int) -> str:
        return block_hash(self.name, height)

    def height_of(self, hash_hex: str) -> int | None:
        """The height of a block hash this chain made (64 hex digits, any case, optional 0x),
        or None."""
        digits = hash_hex.removeprefix("0x").lower()
        if len(digits) != 64:
            return None
        try:
            height = int(digits[8:24], 16)
        except ValueError:
            return None
        return height if self.block_hash(height) == digits else None

    def syncing(self) -> SyncingParams | None:
        """The `syncing` fault on the whole chain (every provider says it is syncing)."""
        fault = self.faults.latest(FaultKind.SYNCING)
        return fault.params if fault is not None and isinstance(fault.params,
                                                               SyncingParams) else None

    def check_fault(self, kind: FaultKind, params: NoParams) -> None:
        """Chain faults need no check beyond their params."""

    # -- halts -----------------------------------------------------------------------------

    def _on_fault_change(self) -> None:
        halt = self.faults.latest(FaultKind.HALT) is not None
        now = self._clock()
        current = self._runs[-1]
        if halt and current.end_time is None:
            current.end_time = now
        elif not halt and current.end_time is not None:
            self._runs.append(Run(self.height_at(current.end_time), now))

    def state(self) -> dict[str, object]:
        return {"kind": self.kind, "block_time": self.block_time,
                "chain_id": self.chain_id, "head": self.head, "halted": self.halted,
                "providers": list(self.providers),
                "faults": [fault.to_json() for fault in self.faults]}
