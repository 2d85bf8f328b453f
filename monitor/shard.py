"""`--shard I/N`: a replica probes only the targets whose name hashes to shard I (0-based).

`--shard-from-ordinal N` derives I from the host name instead: a Kubernetes StatefulSet names
its pods `<name>-0`, `<name>-1`, ... and sets HOSTNAME to the pod name, so every pod of a
StatefulSet with N replicas can share the same arguments.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        index_text, sep, count_text = text.partition("/")
        if not sep or not index_text.isdigit() or not count_text.isdigit():
            raise ValueError(f"--shard must look like I/N, for example 0/3 (got {text!r})")
        index, count = int(index_text), int(count_text)
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"--shard {text}: need 0 <= I < N")
        return cls(index, count)

    @classmethod
    def from_ordinal(cls, hostname: str, count: int) -> Shard:
        """Shard I/N where I is the numeric suffix of `hostname` (`outagemon-2` -> 2)."""
        _, sep, suffix = hostname.strip().rpartition("-")
        if not sep or not suffix.isascii() or not suffix.isdigit():
            raise ValueError(
                f"--shard-from-ordinal: host name {hostname!r} does not end in -<ordinal> "
                "(expected a StatefulSet pod name such as outagemon-2)")
        if count < 1:
            raise ValueError(f"--shard-from-ordinal {count}: need N >= 1")
        index = int(suffix)
        if index >= count:
            raise ValueError(
                f"--shard-from-ordinal {count}: ordinal {index} of {hostname!r} is not below "
                f"{count} (does N match the StatefulSet's replicas?)")
        return cls(index, count)

    def owns(self, name: str) -> bool:
        digest = hashlib.sha256(name.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
