"""Imports every kind module so that each registers itself; `kinds()` is the full table."""

from __future__ import annotations

from checks.base import KINDS, KindSpec


def kinds() -> dict[str, KindSpec]:
    from checks import (  # noqa: F401  (registration side effect)
        dns,
        exchange,
        http,
        price,
        tcp,
        tls,
        websocket,
    )
    from checks.rpc import bitcoin, cosmos, evm, solana  # noqa: F401  (registration side effect)
    from checks.status import cloud, statuspage  # noqa: F401  (registration side effect)

    return KINDS
