"""The small read-only status page at `/`: one HTML document, inline CSS, no external assets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

from monitor.store import HistoryEntry

if TYPE_CHECKING:
    from monitor.daemon import Daemon

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;background:#fafafa}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #e4e4e4}
th{background:#f0f0f0}.state{font-weight:600;border-radius:3px;padding:.1em .5em}
.up{background:#d4f4dd;color:#145a2a}.degraded{background:#fff1c2;color:#7a5600}
.down{background:#fbd5d5;color:#8a1c1c}.maintenance{background:#dde7ff;color:#233f8a}
.unknown{background:#eee;color:#555}.muted{color:#777}.summary span{margin-right:1.2em}
"""


def _fmt_latency(value: Any) -> str:
    return f"{value * 1000:.0f} ms" if isinstance(value, int | float) else "–"


def _fmt_time(value: float) -> str:
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _target_rows(targets: Sequence[dict[str, Any]]) -> str:
    rows = []
    order = {"down": 0, "degraded": 1, "maintenance": 2, "unknown": 3, "up": 4}
    for item in sorted(targets, key=lambda t: (order.get(t["state"], 9), t["target"])):
        state = escape(item["state"])
        rows.append(
            "<tr>"
            f"<td>{escape(item['target'])}</td><td>{escape(item['kind'])}</td>"
            f"<td>{escape(item['provider'])}</td>"
            f"<td><span class='state {state}'>{state}</span></td>"
            f"<td>{escape(item['reason'] or '–')}</td>"
            f"<td>{_fmt_latency(item['latency_seconds'])}</td>"
            f"<td class='muted'>{escape(item['since'] or '–')}</td>"
            f"<td class='muted'>{escape(item['detail'] or '')}</td>"
            "</tr>"
        )
    return "\n".join(rows)


def _history_rows(entries: Sequence[HistoryEntry]) -> str:
    return "\n".join(
        f"<tr><td class='muted'>{_fmt_time(e.at)}</td><td>{escape(e.target)}</td>"
        f"<td>{escape(e.old_state)} → <span class='state {escape(e.new_state)}'>"
        f"{escape(e.new_state)}</span></td><td>{escape(e.reason)}</td>"
        f"<td class='muted'>{escape(e.detail)}</td></tr>"
        for e in entries
    )


def _alert_rows(alerts: Sequence[dict[str, Any]]) -> str:
    rows = []
    for alert in alerts:
        labels = alert["labels"]
        where = labels.get("target") or labels.get("chain") or labels.get("dependency") or ""
        severity = escape(labels.get("severity", ""))
        rows.append(
            f"<tr><td>{escape(labels.get('alertname', ''))}</td>"
            f"<td><span class='state {'down' if severity == 'critical' else 'degraded'}'>"
            f"{severity}</span></td><td>{escape(where)}</td>"
            f"<td class='muted'>{escape(alert['startsAt'])}</td>"
            f"<td class='muted'>{escape(alert['annotations'].get('summary', ''))}</td></tr>"
        )
    return "\n".join(rows)


def render_status_page(
    daemon: Daemon, targets: Sequence[dict[str, Any]], history: Sequence[HistoryEntry],
    alerts: Sequence[dict[str, Any]] = (),
) -> str:
    counts: dict[str, int] = {}
    for item in targets:
        counts[item["state"]] = counts.get(item["state"], 0) + 1
    summary = "".join(
        f"<span class='state {escape(state)}'>{escape(state)}: {count}</span>"
        for state, count in sorted(counts.items())
    )
    vantage = escape(daemon.config.vantage)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="15">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>outagemon — {vantage}</title><style>{_STYLE}</style></head>
<body><h1>outagemon <span class="muted">vantage {vantage}</span></h1>
<p class="summary">{summary or "no targets"}</p>
<h2>Active alerts ({len(alerts)})</h2>
<table><thead><tr><th>alert</th><th>severity</th><th>on</th><th>since</th><th>summary</th>
</tr></thead><tbody>
{_alert_rows(alerts)}
</tbody></table>
<h2>Targets</h2>
<table><thead><tr><th>target</th><th>kind</th><th>provider</th><th>state</th><th>reason</th>
<th>latency</th><th>since</th><th>detail</th></tr></thead>
<tbody>
{_target_rows(targets)}
</tbody></table>
<h2>Recent state changes</h2>
<table><thead><tr><th>time</th><th>target</th><th>change</th><th>reason</th><th>detail</th>
</tr></thead><tbody>
{_history_rows(history)}
</tbody></table>
<p class="muted">Metrics: <a href="metrics">/metrics</a> · API:
<a href="api/v1/targets">/api/v1/targets</a></p>
</body></html>
"""
