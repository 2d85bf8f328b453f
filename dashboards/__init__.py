"""Grafana dashboards for outagemon, generated with grafana-foundation-sdk (not installed with
the package: `python -m dashboards.generate` rewrites dashboards/json/*.json)."""
