"""What the soak's simulated worlds hold: venues, chains and status pages, split over two
world processes so the streams' CPU does not slow the RPC providers (and both stay out of
the daemon's process).

Many targets point at each of these (distinct paths, query strings and markets), so one
fault on a venue or provider hits a slice of the targets at once, as a real outage does.
"""

from __future__ import annotations

from monitor.simulate import SHAPES, ChainSpec

# Trades per second per subscribed market; lower than the simulator's 10 so that ~200
# streams cost the 2-CPU machine little. Streams go stale after STALE_AFTER of silence.
TRADE_RATE = 2.0
VENUE_COPIES = 2
VENUES = {f"{shape}-soak-{copy}": shape for shape in SHAPES
          for copy in range(1, VENUE_COPIES + 1)}
CHAINS = {
    "ethereum-soak": ChainSpec("evm", ("ethereum-soak-a", "ethereum-soak-b", "ethereum-soak-c"),
                               block_time=1.0, chain_id=1),
    "base-soak": ChainSpec("evm", ("base-soak-a", "base-soak-b"), block_time=2.0,
                           chain_id=8453),
    "solana-soak": ChainSpec("solana", ("solana-soak-a", "solana-soak-b", "solana-soak-c"),
                             block_time=0.4),
    "cosmoshub-soak": ChainSpec("cosmos", ("cosmoshub-soak-a", "cosmoshub-soak-b"),
                                block_time=2.0, chain_id="cosmoshub-4"),
    "bitcoin-soak": ChainSpec("bitcoin", ("bitcoin-soak-a", "bitcoin-soak-b"),
                              block_time=10.0, chain_id="main"),
}
PAGES = {
    "exchange-status-soak": "statuspage",
    "rpc-status-soak": "incidentio",
    "wallet-status-soak": "instatus",
    "bridge-status-soak": "betterstack",
    "aws-soak": "aws",
    "gcp-soak": "gcp",
    "azure-soak": "azure",
}
# The world processes: "markets" serves the venues, "chains" the chains and status pages.
PARTS = ("markets", "chains")
