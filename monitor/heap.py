"""Keeping a long-running daemon's resident memory from creeping up.

glibc's malloc keeps what is freed in its heaps. After a large block is freed it raises its
mmap threshold, so later large blocks (response bodies of up to a few MiB) come from the heap
too, and a heap shrinks only from its top: after a burst of large bodies the RSS stays at its
high-water mark.

So the daemon pins malloc's mmap threshold (blocks of 256 KiB and more are mapped on their
own and unmapped when freed) and, every MAINTENANCE_INTERVAL, calls `malloc_trim(0)`, which
hands the heaps' free pages back to the kernel (a few milliseconds). Cyclic garbage is left
to the collector's own schedule (monitor/gc_tuning.py): a collection forced from here took
0.3 to 0.4 s at 10,000 targets. Without this an hour's soak grew the RSS by 9 %
(docs/performance.md). On other C libraries (musl, macOS) it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
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
    """Give the heaps' free pages back to the kernel."""
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
