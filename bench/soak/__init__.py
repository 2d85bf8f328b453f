"""`python -m bench.soak`: the leak soak (see __main__.py and docs/performance.md)."""
