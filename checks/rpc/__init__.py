"""Blockchain RPC provider kinds: evm_rpc, solana_rpc, bitcoin_rpc, cosmos_rpc."""
