"""What outagemon expects of each chain: block time, how far a provider may lag, and when a
frozen head means a halt. Targets override `max_lag_blocks` and `max_head_age`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChainProfile:
    block_time: float  # expected seconds between blocks (slots on Solana)
    max_lag_blocks: int  # further behind the best provider: lagging
    max_head_age: float  # a head older than this is not advancing (block_time x a factor)


# Halt thresholds leave room for the chain's normal variance: missed Ethereum slots, Bitcoin's
# Poisson block times (a 90 minute gap happens about once in 8,000 blocks), Solana skipped
# slots, L2 sequencers that batch.
PROFILES: dict[str, ChainProfile] = {
    "ethereum": ChainProfile(12.0, 3, 60.0),
    "base": ChainProfile(2.0, 20, 30.0),
    "optimism": ChainProfile(2.0, 20, 30.0),
    "arbitrum": ChainProfile(0.25, 20, 60.0),
    "polygon": ChainProfile(2.0, 20, 30.0),
    "bsc": ChainProfile(0.75, 50, 30.0),
    "avalanche": ChainProfile(2.0, 20, 30.0),
    "solana": ChainProfile(0.4, 150, 20.0),
    "bitcoin": ChainProfile(600.0, 2, 5400.0),
    "cosmoshub": ChainProfile(6.0, 5, 60.0),
}
# A chain outagemon has no profile for: lag judged loosely, halts only with max_head_age.
UNKNOWN_CHAIN = ChainProfile(block_time=0.0, max_lag_blocks=10, max_head_age=0.0)


def profile(chain: str) -> ChainProfile:
    return PROFILES.get(chain, UNKNOWN_CHAIN)
