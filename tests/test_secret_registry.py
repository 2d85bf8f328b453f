"""The secret registry: secrets renewed per connection (KuCoin's stream tokens) are masked
while current, and renewing them does not pile up memory (the leak the soak found: every
reconnect grew the registry and compiled a new pattern of every secret, which re's module
cache kept)."""

from __future__ import annotations

import gc
import tracemalloc

from monitor.redact import MASK, SecretRegistry


class Owner:
    """Anything that renews its secrets, like a venue adapter."""


def test_added_and_renewed_secrets_are_masked() -> None:
    registry = SecretRegistry()
    owner = Owner()
    registry.add(["api-key-0123456789"])
    registry.renew(owner, ["token-aaaaaaaaaaaa", "wss://h/?token=token-aaaaaaaaaaaa"])
    text = registry.scrub("GET wss://h/?token=token-aaaaaaaaaaaa with api-key-0123456789")
    assert text == f"GET {MASK} with {MASK}"


def test_renewing_replaces_the_owners_previous_secrets_only() -> None:
    registry = SecretRegistry()
    first, second = Owner(), Owner()
    registry.renew(first, ["token-first-1111111"])
    registry.renew(second, ["token-second-222222"])
    registry.renew(first, ["token-first-3333333"])
    assert registry.scrub("token-first-1111111") == "token-first-1111111"
    assert registry.scrub("token-first-3333333 token-second-222222") == f"{MASK} {MASK}"


def test_short_values_are_not_secrets() -> None:
    registry = SecretRegistry()
    registry.renew(Owner(), ["/", "abc"])
    assert registry.scrub("GET / abc") == "GET / abc"


def test_an_owners_secrets_go_with_the_owner() -> None:
    registry = SecretRegistry()
    owner = Owner()
    registry.renew(owner, ["token-gone-9999999"])
    assert registry.scrub("token-gone-9999999") == MASK
    del owner
    gc.collect()
    assert registry.scrub("token-gone-9999999") == "token-gone-9999999"


def test_clear_forgets_renewed_secrets_too() -> None:
    registry = SecretRegistry()
    owner = Owner()
    registry.renew(owner, ["token-cleared-00000"])
    registry.clear()
    assert registry.scrub("token-cleared-00000") == "token-cleared-00000"


def test_reconnecting_many_times_does_not_pile_up_memory() -> None:
    """2,000 configured secrets and 300 reconnects, each with a new token, scrubbing in
    between. Compiling a new pattern per reconnect cost about 100 KiB each (kept by re)."""
    registry = SecretRegistry()
    registry.add(f"https://rpc.example/v3/key-{index:06d}" for index in range(2000))
    owner = Owner()
    registry.scrub("warm up: compile the configured secrets once")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(300):
            token = f"token-{index:012d}"
            registry.renew(owner, [token, f"wss://ws.example/?token={token}"])
            assert token not in registry.scrub(f"connect failed: wss://ws.example/?token={token}")
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 256 * 1024, f"{grown / 1024:.0f} KiB kept after 300 reconnects"
