"""Generate the outagemon Grafana dashboards (Grafana 11.6 schema) with grafana-foundation-sdk.

    python -m dashboards.generate          # rewrite dashboards/json/*.json
    python -m dashboards.generate --check  # exit 1 when a committed file is out of date

Every query filters on the template variables: `$provider` and `$kind` (target labels),
`$chain` (RPC metrics) and `$vantage` (outagemon_build_info's label: a series is kept when the
outagemon instance that exported it runs at a chosen vantage).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

JSON_DIR = Path(__file__).resolve().parent / "json"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
TAGS = ["outagemon"]
NOT_OK = ', reason!="ok"'
DEVIATION = 'outagemon_price_deviation_ratio{venue=~"$provider"}'
HALTED = 'outagemon_chain_halted{chain=~"$chain"}'

# The filters every target metric gets, and the vantage join (build_info carries `vantage`).
TARGET = 'provider=~"$provider", kind=~"$kind"'
VANTAGE = ' and on (instance, job) outagemon_build_info{vantage=~"$vantage"}'

STATE_CODES = {"up": 0, "degraded": 1, "down": 2, "maintenance": 3, "unknown": 4}
STATE_COLORS = {"up": "green", "degraded": "yellow", "down": "red", "maintenance": "blue",
                "unknown": "text"}
INDICATORS = {0: ("none", "green"), 1: ("minor", "yellow"), 2: ("major", "orange"),
              3: ("critical", "red"), 4: ("maintenance", "blue")}


def v(expr: str) -> str:
    """`expr` (a vector with the scrape's instance and job labels) kept only for the chosen
    vantages."""
    return f"({expr}{VANTAGE})"


def query(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False) -> prom.Dataquery:
    q = prom.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        q = q.legend_format(legend)
    if instant:
        q = q.instant().format(PromQueryFormat.TABLE)
    return q


def quantile(q: float, metric: str, selector: str, by: str) -> str:
    selector = f"{{{selector}}}" if selector else ""
    return (f"histogram_quantile({q}, sum by ({by}, le) "
            f"({v(f'rate({metric}_bucket{selector}[{RATE}])')}))")


def _rate(metric: str, selector: str) -> str:
    return f"rate({metric}{{{selector}}}[{RATE}])"


def legend_bottom() -> common_builders.VizLegendOptions:
    return (common_builders.VizLegendOptions().show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM))


def series(title: str, unit: str, *queries: prom.Dataquery, stacked: bool = False,
           description: str = "", width: int = 12, height: int = 8) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE)
             .span(width).height(height).legend(legend_bottom()))
    if description:
        panel = panel.description(description)
    if stacked:
        panel = (panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
                 .fill_opacity(60).draw_style(common.GraphDrawStyle.BARS))
    for q in queries:
        panel = panel.with_target(q)
    return panel


def thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return (dash.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE)
            .steps([model.Threshold(value=value, color=color) for value, color in steps]))


def value_map(options: dict[str, tuple[str, str]]) -> model.ValueMap:
    return model.ValueMap(options={
        key: model.ValueMappingResult(text=text, color=color, index=index)
        for index, (key, (text, color)) in enumerate(options.items())
    })


def timeline(title: str, expr: str, legend: str, mapping: model.ValueMap, *,
             description: str = "", width: int = 24, height: int = 10) -> statetimeline.Panel:
    panel = (statetimeline.Panel().title(title).datasource(DATASOURCE).span(width)
             .height(height).with_target(query(expr, legend)).mappings([mapping])
             .show_value(common.VisibilityMode.NEVER).merge_values(True).fill_opacity(80)
             .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
             .thresholds(thresholds((None, "green"))))
    if description:
        panel = panel.description(description)
    return panel


def stat_panel(title: str, expr: str, legend: str, unit: str, steps: dash.ThresholdsConfig, *,
               description: str = "", width: int = 6, height: int = 6) -> stat.Panel:
    panel = (stat.Panel().title(title).datasource(DATASOURCE).unit(unit).span(width)
             .height(height).with_target(query(expr, legend)).thresholds(steps)
             .color_mode(common.BigValueColorMode.BACKGROUND)
             .graph_mode(common.BigValueGraphMode.NONE))
    if description:
        panel = panel.description(description)
    return panel


def table_panel(title: str, expr: str, *, description: str = "", width: int = 12,
                height: int = 8, unit: str = "") -> table.Panel:
    panel = (table.Panel().title(title).datasource(DATASOURCE).span(width).height(height)
             .with_target(query(expr, instant=True))
             .with_transformation(model.DataTransformerConfig(
                 id_val="organize", options={"excludeByName": {"Time": True}})))
    if unit:
        panel = panel.unit(unit)
    if description:
        panel = panel.description(description)
    return panel


def variables(*, chain: bool = False) -> list[Builder[model.VariableModel]]:
    def label_values(name: str, label: str, metric: str) -> dash.QueryVariable:
        return (dash.QueryVariable(name).label(label).datasource(DATASOURCE)
                .query(f"label_values({metric}, {name})")
                .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
                .sort(model.VariableSort.ALPHABETICAL_ASC).multi(True).include_all(True)
                .all_value(".*")
                .current(model.VariableOption(selected=True, text=["All"], value=["$__all"])))

    out: list[Builder[model.VariableModel]] = [
        dash.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        label_values("vantage", "Vantage", "outagemon_build_info"),
        label_values("provider", "Provider", "outagemon_up"),
        label_values("kind", "Kind", "outagemon_up"),
    ]
    if chain:
        out.append(label_values("chain", "Chain", "outagemon_chain_head_block"))
    return out


def base(uid: str, title: str, description: str, *, chain: bool = False) -> dash.Dashboard:
    return (dash.Dashboard(title).uid(uid).description(description).tags(TAGS)
            .editable().time("now-6h", "now").refresh("30s").timezone("browser")
            .tooltip(model.DashboardCursorSync.CROSSHAIR).variables(variables(chain=chain))
            .link(dash.DashboardLink("outagemon").type(model.DashboardLinkType.DASHBOARDS)
                  .tags(TAGS).as_dropdown(True).include_vars(True).keep_time(True)))


# --- Overview -------------------------------------------------------------------------------

def state_code_expr() -> str:
    parts = " or ".join(
        f'(outagemon_target_state{{{TARGET}, state="{state}"}} == 1) * {code}'
        for state, code in STATE_CODES.items())
    return f"max by (provider, kind, target) ({v(f'({parts})')})"


def overview() -> dash.Dashboard:
    states = value_map({str(code): (state, STATE_COLORS[state])
                        for state, code in STATE_CODES.items()})
    return (base("outagemon-overview", "outagemon / Overview",
                 "Every target's state by provider and kind, firing alerts, worst latencies.")
            .with_row(dash.Row("State"))
            .with_panel(timeline(
                "Target state", state_code_expr(), "{{provider}} / {{kind}} / {{target}}",
                states, height=14,
                description="outagemon_target_state: up, degraded, down, maintenance, unknown"))
            .with_panel(stat_panel(
                "Targets by state",
                f"count by (state) ({v(f'outagemon_target_state{{{TARGET}}} == 1')})",
                "{{state}}", "none", thresholds((None, "blue")), width=8))
            .with_panel(stat_panel(
                "Alerts firing",
                f"sum({v('outagemon_alerts_firing')})", "firing", "none",
                thresholds((None, "green"), (1, "red")), width=4,
                description="outagemon_alerts_firing, held-back alerts included"))
            .with_panel(table_panel(
                "Active alerts",
                f"sum by (alertname, severity) ({v('outagemon_alerts_firing')}) > 0",
                width=12, height=6))
            .with_row(dash.Row("Latency"))
            .with_panel(bargauge.Panel().title("Worst p95 latency (top 10 targets)")
                        .datasource(DATASOURCE).unit("s").span(12).height(10)
                        .orientation(common.VizOrientation.HORIZONTAL)
                        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
                        .thresholds(thresholds((None, "green"), (0.5, "yellow"), (2, "red")))
                        .reduce_options(common_builders.ReduceDataOptions()
                                        .calcs(["lastNotNull"]).values(False))
                        .with_target(query(
                            "topk(10, " + quantile(0.95, "outagemon_probe_duration_seconds",
                                                   TARGET, "provider, kind, target") + ")",
                            "{{target}} ({{kind}})")))
            .with_panel(series(
                "p95 latency by provider", "s",
                query(quantile(0.95, "outagemon_probe_duration_seconds", TARGET, "provider"),
                      "{{provider}}"))))


# --- Exchanges ------------------------------------------------------------------------------

EXCHANGE = 'kind="exchange", provider=~"$provider"'


def exchanges() -> dash.Dashboard:
    latency = "outagemon_probe_duration_seconds"
    return (base("outagemon-exchanges", "outagemon / Exchanges",
                 "Exchange targets: REST latency and failures, rate limits, clock skew, "
                 "WebSocket freshness and reconnects, price deviation across venues.")
            .with_row(dash.Row("REST"))
            .with_panel(series(
                "REST latency p50 / p95 per venue", "s",
                query(quantile(0.5, latency, EXCHANGE, "provider"), "{{provider}} p50", "A"),
                query(quantile(0.95, latency, EXCHANGE, "provider"), "{{provider}} p95", "B")))
            .with_panel(series(
                "Failures by reason", "reqps",
                query(f"sum by (provider, reason) "
                      f"({v(_rate('outagemon_probes_total', EXCHANGE + NOT_OK))})",
                      "{{provider}}: {{reason}}"),
                stacked=True, description="outagemon_probes_total by reason, ok left out"))
            .with_panel(series(
                "Rate limit used", "percentunit",
                query(f"max by (provider, target) "
                      f"({v(f'outagemon_rate_limit_used_ratio{{{EXCHANGE}}}')})", "{{target}}")))
            .with_panel(series(
                "Clock skew (venue minus local)", "s",
                query(f"max by (provider, target) "
                      f"({v(f'outagemon_clock_skew_seconds{{{EXCHANGE}}}')})", "{{target}}")))
            .with_row(dash.Row("WebSocket"))
            .with_panel(series(
                "Last message age", "s",
                query(f"max by (provider, target) "
                      f"({v(f'outagemon_ws_last_message_age_seconds{{{EXCHANGE}}}')})",
                      "{{target}}"), width=8))
            .with_panel(series(
                "Event lag p95", "s",
                query(quantile(0.95, "outagemon_ws_event_lag_seconds", EXCHANGE,
                               "provider, target"), "{{target}}"), width=8))
            .with_panel(series(
                "Reconnects by reason", "short",
                query(f"sum by (provider, reason) "
                      f"({v(f'increase(outagemon_ws_reconnects_total{{{EXCHANGE}}}[{RATE}])')})",
                      "{{provider}}: {{reason}}"), stacked=True, width=8))
            .with_row(dash.Row("Prices"))
            .with_panel(series(
                "Price deviation from reference", "percentunit",
                query(f"max by (market, venue) "
                      f"({v(DEVIATION)})",
                      "{{venue}} {{market}}"), width=24,
                description="a venue's price against the median of the others (or the peg)")))


# --- RPC providers --------------------------------------------------------------------------

RPC = 'provider=~"$provider", chain=~"$chain"'
RPC_KINDS = 'kind=~".+_rpc", kind=~"$kind", provider=~"$provider"'


def rpc() -> dash.Dashboard:
    halted = value_map({"0": ("advancing", "green"), "1": ("halted", "red")})
    return (base("outagemon-rpc", "outagemon / RPC providers",
                 "Chain heads per provider: lag behind the best provider, head age, halts, "
                 "RPC errors.", chain=True)
            .with_panel(timeline(
                "Chain halted", f"max by (chain) ({v(HALTED)})",
                "{{chain}}", halted, height=6,
                description="every provider of the chain (at least two) stopped advancing"))
            .with_panel(series(
                "Head lag (blocks behind the best provider)", "short",
                query(f"max by (chain, provider) "
                      f"({v(f'outagemon_chain_head_lag_blocks{{{RPC}}}')})",
                      "{{chain}} / {{provider}}")))
            .with_panel(series(
                "Head age", "s",
                query(f"max by (chain, provider) "
                      f"({v(f'outagemon_chain_head_age_seconds{{{RPC}}}')})",
                      "{{chain}} / {{provider}}")))
            .with_panel(series(
                "RPC errors by reason", "reqps",
                query(f"sum by (provider, reason) "
                      f"({v(_rate('outagemon_probes_total', RPC_KINDS + NOT_OK))})",
                      "{{provider}}: {{reason}}"), stacked=True,
                description="failed RPC probes (outagemon_probes_total, ok left out)"))
            .with_panel(series(
                "Head rewinds", "short",
                query(f"sum by (chain, provider) "
                      f"({v(f'increase(outagemon_chain_head_rewinds_total{{{RPC}}}[{RATE}])')})",
                      "{{chain}} / {{provider}}"))))


# --- Status pages and clouds ----------------------------------------------------------------

PAGES = 'kind=~"statuspage|cloud_status", kind=~"$kind", provider=~"$provider"'


def status_pages() -> dash.Dashboard:
    indicator = value_map({str(code): item for code, item in INDICATORS.items()})
    return (base("outagemon-status-pages", "outagemon / Status pages and clouds",
                 "Vendor status pages and cloud health feeds: indicator, components not "
                 "operational, open incidents.")
            .with_panel(timeline(
                "Indicator", f"max by (provider, target) "
                f"({v(f'outagemon_status_page_indicator{{{PAGES}}}')})",
                "{{target}}", indicator, height=8,
                description="0 none, 1 minor, 2 major, 3 critical, 4 maintenance"))
            .with_panel(series(
                "Components not up", "short",
                query(f"sum by (provider, target) "
                      f"({v(f'1 - outagemon_status_page_component_up{{{PAGES}}}')})",
                      "{{target}}"),
                description="components reported not operational (after the filter)"))
            .with_panel(series(
                "Open incidents", "short",
                query(f"max by (provider, target) "
                      f"({v(f'outagemon_status_page_open_incidents{{{PAGES}}}')})",
                      "{{target}}"))))


# --- outagemon itself -----------------------------------------------------------------------

def itself() -> dash.Dashboard:
    lag = "outagemon_scheduler_lag_seconds"
    return (base("outagemon-self", "outagemon / Itself",
                 "Is outagemon keeping up: scheduler lag, probe rate, notification outbox, "
                 "build info.")
            .with_panel(series(
                "Scheduler lag p50 / p99", "s",
                query(quantile(0.5, lag, "", "instance"), "{{instance}} p50", "A"),
                query(quantile(0.99, lag, "", "instance"), "{{instance}} p99", "B"),
                description="how late probes start against their schedule"))
            .with_panel(series(
                "Probe rate by kind", "reqps",
                query(f"sum by (kind) ({v(_rate('outagemon_probes_total', TARGET))})",
                      "{{kind}}")))
            .with_panel(series(
                "Notification queue depth", "short",
                query(f"max by (notifier) ({v('outagemon_notification_queue_depth')})",
                      "{{notifier}}")))
            .with_panel(series(
                "Notification attempts", "short",
                query(f"sum by (notifier, result) "
                      f"({v(f'increase(outagemon_notifications_total[{RATE}])')})",
                      "{{notifier}}: {{result}}"), stacked=True))
            .with_panel(table_panel(
                "Build info", 'outagemon_build_info{vantage=~"$vantage"}', width=24,
                height=5)))


DASHBOARDS: dict[str, Callable[[], dash.Dashboard]] = {
    "overview": overview,
    "exchanges": exchanges,
    "rpc": rpc,
    "status-pages": status_pages,
    "self": itself,
}


def render(build: Callable[[], dash.Dashboard]) -> str:
    return json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {f"{name}.json": render(build) for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.generate")
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed JSON instead of writing it")
    parser.add_argument("--out", type=Path, default=JSON_DIR)
    args = parser.parse_args(argv)
    stale = []
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("out of date: " + ", ".join(stale) + " (run python -m dashboards.generate)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
