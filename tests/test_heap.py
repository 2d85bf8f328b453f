"""monitor/heap.py: freed memory goes back to the kernel."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from monitor import heap

GLIBC = heap._LIBC is not None


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_freed_heap_memory_goes_back_to_the_kernel() -> None:
    """1,000 blocks of 200 KiB, each followed by a 1 KiB survivor (malloc'd: Python's own
    allocator takes only blocks up to 512 bytes) so the heap cannot shrink from its top:
    free() alone keeps the RSS, release_memory() returns it."""
    script = textwrap.dedent("""
        from monitor import heap

        def rss_mib():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) // 1024

        assert heap.pin_mmap_threshold()
        blocks, survivors = [], []
        for _ in range(1000):
            blocks.append(bytearray(200 * 1024))
            survivors.append(bytearray(1024))
        del blocks
        freed = rss_mib()
        heap.release_memory()
        print(freed, rss_mib())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    freed, released = map(int, out.split())
    assert freed > 100  # free() gave back little of the 195 MiB
    assert released < freed / 3, (freed, released)
