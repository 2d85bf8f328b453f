"""Command line: run, check, validate, simulate, demo (SPEC section 2).

Exit codes: 0 success, 1 a check failed (or the daemon could not start), 2 usage or config error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from monitor import __version__, logs

if TYPE_CHECKING:
    from monitor.shard import Shard

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

DEFAULT_LISTEN = "0.0.0.0:9717"
DEFAULT_STATE = "outagemon.db"


def parse_listen(text: str) -> tuple[str, int]:
    from monitor.schema import split_address

    try:
        host, port = split_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 0 <= port < 65536:
        raise argparse.ArgumentTypeError(f"invalid port in {text!r}")
    return host or "0.0.0.0", port


def _parse_shard(text: str) -> object:
    from monitor.shard import Shard

    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def shard_from_ordinal(count: int, hostname: str | None = None) -> Shard:
    """The shard of a StatefulSet pod: ordinal from $HOSTNAME (or the host name) of N."""
    from monitor.shard import Shard

    name = hostname if hostname is not None else (
        os.environ.get("HOSTNAME") or socket.gethostname())
    return Shard.from_ordinal(name, count)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-format", choices=["json", "console"], default="json",
                        help="JSON lines (default) or console output for humans")
    common.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    config_arg = argparse.ArgumentParser(add_help=False)
    config_arg.add_argument("-c", "--config", default=None,
                            help="config file (default: $OUTAGEMON_CONFIG or the built-in one)")

    parser = argparse.ArgumentParser(
        prog="outagemon",
        description="Outage monitor for exchange APIs, RPC providers and status pages.",
    )
    parser.add_argument("--version", action="version", version=f"outagemon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common, config_arg], help="run the daemon")
    run.add_argument("--listen", type=parse_listen, default=parse_listen(DEFAULT_LISTEN),
                     help=f"HTTP address for /metrics and the API (default {DEFAULT_LISTEN})")
    run.add_argument("--state", default=DEFAULT_STATE, help="SQLite state file")
    shard = run.add_mutually_exclusive_group()
    shard.add_argument("--shard", type=_parse_shard, default=None,
                       help="I/N: probe only the targets whose name hashes to shard I of N")
    shard.add_argument("--shard-from-ordinal", type=_positive_int, default=None, metavar="N",
                       help="like --shard I/N with I the ordinal suffix of $HOSTNAME "
                            "(outagemon-2 -> 2), for Kubernetes StatefulSet pods")

    check = sub.add_parser("check", parents=[common, config_arg],
                           help="probe targets once and print the results")
    check.add_argument("targets", nargs="*", metavar="TARGET", help="names (default: all)")
    check.add_argument("--json", action="store_true", help="print a JSON array")

    sub.add_parser("validate", parents=[common, config_arg], help="validate the config")

    simulate = sub.add_parser("simulate", parents=[common],
                              help="serve a simulated world on loopback")
    simulate.add_argument("--scenario", default=None)
    simulate.add_argument("--listen", type=parse_listen, default=parse_listen("127.0.0.1:9800"))
    simulate.add_argument("--list", action="store_true", help="list the scenarios")

    demo = sub.add_parser("demo", parents=[common],
                          help="simulate plus run against it, in one process")
    demo.add_argument("--scenario", default=None)
    demo.add_argument("--listen", type=parse_listen, default=parse_listen("127.0.0.1:9717"))
    demo.add_argument("--state", default=DEFAULT_STATE)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(args.log_format, args.log_level)
    if args.command == "validate":
        from monitor.config import validate_command

        return validate_command(args.config)
    if args.command == "check":
        from monitor.commands.check import check_command

        return check_command(args.config, args.targets, as_json=args.json)
    if args.command == "run":
        from monitor.commands.run import run_command

        shard = args.shard
        if args.shard_from_ordinal is not None:
            try:
                shard = shard_from_ordinal(args.shard_from_ordinal)
            except ValueError as exc:
                parser.error(str(exc))
        host, port = args.listen
        return run_command(args.config, host=host, port=port, state=args.state,
                           shard=shard)
    if args.command == "simulate":
        from monitor.commands.simulate import simulate_command

        host, port = args.listen
        return simulate_command(args.scenario, host=host, port=port, list_only=args.list)
    if args.command == "demo":
        from monitor.commands.demo import demo_command

        host, port = args.listen
        return demo_command(args.scenario, host=host, port=port, state=args.state)
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - optional speed-up
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
