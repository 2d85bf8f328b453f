"""Garbage collector settings for a long-running daemon with many long-lived objects.

With thousands of targets the heap holds hundreds of thousands of container objects that live
as long as the process (configs, checks, health, metrics). CPython's default thresholds
(700, 10, 10) make the collector walk them again and again: at 10,000 targets it took about a
fifth of the daemon's CPU (docs/performance.md), and a full collection stalls the event loop
for tens of milliseconds. Objects alive once the targets are set up are moved out of the
collector's sight (`gc.freeze`, again after each reload), and the young generation is
collected somewhat less often; reference counting still frees almost everything at once, and
cycles are still collected.
"""

from __future__ import annotations

import gc

# Allocations (minus deallocations) between young collections, then young collections between
# middle ones and middle ones between full ones (CPython further delays full collections until
# a quarter of the long-lived objects are new).
THRESHOLDS = (5_000, 10, 10)


def tune_for_daemon() -> None:
    gc.set_threshold(*THRESHOLDS)
    freeze_long_lived()


def freeze_long_lived() -> None:
    """Collect, then exempt every object alive now from future collections.

    What an earlier call froze is let go first: a frozen object that later becomes cyclic
    garbage is never collected. A reload freezes whatever is alive then, probes in flight
    included; when stream connections were still reference cycles (with about 300 KiB of
    zlib state each), each reload kept every one of them for good once it reconnected (the
    soak, docs/performance.md)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
