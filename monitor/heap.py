"""Keeping a long-running daemon's resident memory from creeping up.

Two things keep memory after the objects that used it are gone:

- Cyclic garbage waits for the collector. With the daemon's thresholds (monitor/gc_tuning.py)
  a young collection comes only after 50,000 new container objects net, which in a steady
  state can take minutes; meanwhile a failed connection or response caught in a reference
  cycle (an exception's traceback is enough) keeps its buffers, bodies of up to a few MiB.
- glibc's malloc keeps what is freed in its heaps. After a large block is freed it raises
  its mmap threshold, so later large blocks (response bodies) come from the heap too, and a
  heap shrinks only from its top: the RSS stays at its high-water mark.

So the daemon pins malloc's mmap threshold (blocks of 256 KiB and more are mapped on their
own and unmapped when freed) and, every MAINTENANCE_INTERVAL, runs a full collection and then
`malloc_trim(0)`, which hands the heaps' free pages back to the kernel. Without this an
hour's soak grew the RSS by 9 % (docs/performance.md). On other C libraries (musl, macOS) only
the collection runs.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import sys

import structlog

log = structlog.get_logger("outagemon.heap")

MAINTENANCE_INTERVAL = 30.0  # seconds
MMAP_THRESHOLD = 256 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt() parameter, glibc's malloc.h


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    if not all(hasattr(libc, name) for name in ("mallopt", "malloc_trim", "gnu_get_libc_version")):
        return None
    return libc


_LIBC = _glibc()


def pin_mmap_threshold() -> bool:
    """Large blocks always mapped on their own (glibc): True when it took effect."""
    return _LIBC is not None and bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def release_memory() -> None:
    """Collect every generation, then give free heap pages back to the kernel."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


async def maintain(interval: float = MAINTENANCE_INTERVAL) -> None:
    """Run release_memory every `interval` seconds, for ever."""
    while True:
        await asyncio.sleep(interval)
        try:
            release_memory()
        except Exception:  # never the end of the daemon
            log.exception("memory maintenance failed")
