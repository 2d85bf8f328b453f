"""The whole simulated world that `outagemon simulate` serves and `outagemon demo` watches:
one venue per exchange shape, a few chains of every RPC kind and one status page per format."""

from __future__ import annotations

from monitor.simulate.chains import ChainSpec
from monitor.simulate.venues import one_venue_per_shape

FULL_VENUES = one_venue_per_shape()  # {"binance-sim": "binance", "okx-sim": "okx", ...}
FULL_CHAINS = {
    "ethereum-sim": ChainSpec("evm", ("ethereum-sim-a", "ethereum-sim-b"), block_time=1.0,
                              chain_id=1),
    "solana-sim": ChainSpec("solana", ("solana-sim-a", "solana-sim-b", "solana-sim-c"),
                            block_time=0.4),
    "cosmoshub-sim": ChainSpec("cosmos", ("cosmoshub-sim-a", "cosmoshub-sim-b"),
                               block_time=2.0, chain_id="cosmoshub-4"),
    "bitcoin-sim": ChainSpec("bitcoin", ("bitcoin-sim-a",), block_time=10.0, chain_id="main"),
    # L2s after Ethereum: the chain-trouble scenario plays on the first EVM chain.
    "arbitrum-sim": ChainSpec("evm", ("arbitrum-sim-a", "arbitrum-sim-b", "arbitrum-sim-c"),
                              block_time=0.25, chain_id=42161),
    # The demo follows newHeads on a chain's first provider; the public endpoint has no
    # WebSocket, as Optimism's own did not.
    "optimism-sim": ChainSpec("evm", ("optimism-sim-a", "optimism-sim-b",
                                      "optimism-public-sim"), block_time=2.0, chain_id=10),
}
# Status pages, one per format (monitor/simulate/status/formats.py).
FULL_PAGES = {
    "exchange-status-sim": "statuspage",
    "rpc-status-sim": "incidentio",
    "wallet-status-sim": "instatus",
    "bridge-status-sim": "betterstack",
    "aws-sim": "aws",
    "gcp-sim": "gcp",
    "azure-sim": "azure",
}
