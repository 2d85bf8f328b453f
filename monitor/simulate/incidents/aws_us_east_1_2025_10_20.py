"""AWS us-east-1, 20 October 2025: a DNS failure in one region takes many services down.

At 06:48 UTC a race in DynamoDB's DNS automation left the regional endpoint
dynamodb.us-east-1.amazonaws.com with an empty DNS record. Everything that needed DynamoDB in
N. Virginia failed to resolve it, and the failures cascaded: EC2 could not launch instances,
Network Load Balancer health checks failed, Lambda, SQS and many others erred. Coinbase,
Robinhood, Infura and Base degraded at once, with DNS errors and 5xx. AWS posted its first
event at 07:11 and named DynamoDB's DNS at 07:26; the DNS record was repaired by 09:24, but
the EC2 and load-balancer impairments kept services failing into the afternoon, and AWS
declared every service recovered at 22:01. Chains kept producing blocks: only the providers
hosted in the region failed.

Replayed at about five minutes per second for the DNS failure, faster afterwards: after 20 s
calm, what runs in us-east-1 (monitor/simulate/regions.py) fails at once: its DNS names answer
nothing (dns_empty) or SERVFAIL, its venues' APIs and its RPC providers answer 503 (the
Binance-shaped venues, whose API kept answering, excepted). 3 s in, the AWS feed (aws) opens
an event in us-east-1; 5 s in it names DynamoDB's DNS; 6 s in a vendor page (the first
statuspage one) opens a major incident. At 30 s the DNS answers come back while the 503s go on
for 45 s more; the vendor resolves 5 s later, AWS 10 s after that. Then 60 s calm, forever.

outagemon should page once for the region (DependencyOutage) and hold back the TargetDown of
each failing target, report AWS's event and the vendor's incident, and see no chain halt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.simulate.catalog import FULL_CHAINS
from monitor.simulate.regions import in_us_east_1
from monitor.simulate.scenarios import AlertMatch, Expected, scenario

if TYPE_CHECKING:
    from monitor.simulate.world import World

NAME = "aws-us-east-1-2025-10-20"
DEPENDENCY = "aws-us-east-1-sim"  # the demo's cloud_status target of the AWS feed
VENDOR_PAGE = "exchange-status-sim"  # the demo's first statuspage-format page
SPARED_SHAPES = ("binance", "binance-futures")

CALM_BEFORE = 20.0
AWS_POSTS = 3.0  # 07:11
AWS_NAMES_CAUSE = 2.0  # 07:26
VENDOR_POSTS = 1.0
DNS_FAILS = 30.0  # 06:48-09:24, from the start
STILL_FAILING = 45.0  # 09:24 into the afternoon: EC2 launches and NLB health checks impaired
VENDOR_RESOLVES = 5.0
AWS_RESOLVES = 10.0  # 22:01
CALM_AFTER = 60.0

AWS_EVENT = "Increased Error Rates and Latencies"
AWS_COMPONENTS = ("ec2", "lambda")
AWS_UPDATES = (
    "We are investigating increased error rates and latencies for multiple AWS services in "
    "the US-EAST-1 Region.",
    "We have identified a potential root cause: DNS resolution of the DynamoDB API endpoint "
    "in US-EAST-1.",
    "The underlying DNS issue has been fully mitigated. EC2 instance launches and Network "
    "Load Balancer health checks remain impaired; we continue to work towards recovery.",
)
VENDOR_INCIDENT = "Degraded performance: trading and sign-in"
VENDOR_COMPONENTS = ("API", "Trading")
VENDOR_UPDATE = ("Some users cannot sign in or trade because of an outage at our cloud "
                 "provider. Funds are safe.")

# The demo's providers hosted elsewhere (see monitor/simulate/regions.py): they keep up.
OUTSIDE = tuple(provider for spec in FULL_CHAINS.values()
                for provider in (spec.providers[1:] if len(spec.providers) > 1
                                 else spec.providers))


@scenario(
    NAME,
    "AWS us-east-1 outage of 20 Oct 2025 (DynamoDB's DNS record left empty), compressed: "
    "after 20 s calm, what runs in us-east-1 fails at once (its DNS names answer nothing or "
    "SERVFAIL for 30 s, its venues' APIs and its RPC providers answer 503 for 75 s; "
    "Binance-shaped venues keep answering); 3 s in, the AWS feed opens an event in "
    "us-east-1, 6 s in a vendor status page opens a major incident; both resolve after the "
    "503s end; 60 s calm, forever. Chains keep advancing through providers outside the "
    "region. Expected: one DependencyOutage for aws-us-east-1-sim holding back the failing "
    "targets' TargetDown, CloudIncident and StatusPageIncident, all of which resolve; no "
    "ChainHalted",
    expected=Expected(
        fire=(AlertMatch("DependencyOutage", {"dependency": DEPENDENCY}),
              AlertMatch("CloudIncident", {"target": DEPENDENCY}),
              AlertMatch("StatusPageIncident", {"target": VENDOR_PAGE})),
        held=(AlertMatch("TargetDown", {"target": "coinbase-sim"}),
              AlertMatch("TargetDown", {"target": "okx-sim-usde"}),
              AlertMatch("TargetDown", {"target": "ethereum-sim-a"})),
        never=(AlertMatch("ChainHalted"),
               *(AlertMatch("TargetDown", {"target": provider}) for provider in OUTSIDE)),
        resolve=(AlertMatch("DependencyOutage", {"dependency": DEPENDENCY}),
                 AlertMatch("CloudIncident", {"target": DEPENDENCY}),
                 AlertMatch("StatusPageIncident", {"target": VENDOR_PAGE})),
    ),
)
async def aws_us_east_1_2025_10_20(world: World) -> None:
    venues = [name for name in world.venues
              if in_us_east_1(world, name) and world.shape(name) not in SPARED_SHAPES]
    providers = [name for name in world.providers if in_us_east_1(world, name)]
    aws = _first_page(world, "aws")
    vendor = _first_page(world, "statuspage")
    while True:
        await world.sleep(CALM_BEFORE)
        failing = [world.inject(name, "http_5xx", status=503) for name in venues + providers]
        unresolved = [world.inject(name, "dns_empty" if index % 2 else "dns_servfail")
                      for index, name in enumerate(venues + providers)]
        posts: list[str] = []
        try:
            await world.sleep(AWS_POSTS)
            if aws is not None:
                posts.append(_aws_post(world, aws, 0, "minor"))
            await world.sleep(AWS_NAMES_CAUSE)
            if aws is not None:
                posts.append(_aws_post(world, aws, 1, "major"))
            await world.sleep(VENDOR_POSTS)
            if vendor is not None:
                posts.append(world.inject(vendor, "incident", impact="major",
                                          name=VENDOR_INCIDENT, components=VENDOR_COMPONENTS,
                                          update=VENDOR_UPDATE))
            await world.sleep(DNS_FAILS - AWS_POSTS - AWS_NAMES_CAUSE - VENDOR_POSTS)
            _clear(world, unresolved)
            if aws is not None:
                posts.append(_aws_post(world, aws, 2, "major"))
            await world.sleep(STILL_FAILING)
            _clear(world, failing)
            await world.sleep(VENDOR_RESOLVES)
            _clear(world, [fault for fault in posts if _on(world, vendor, fault)])
            await world.sleep(AWS_RESOLVES)
        finally:
            _clear(world, failing + unresolved + posts)
        await world.sleep(CALM_AFTER)


def _first_page(world: World, fmt: str) -> str | None:
    return next((name for name in world.pages if world.page(name).format.name == fmt), None)


def _aws_post(world: World, page: str, step: int, impact: str) -> str:
    return world.inject(page, "incident", impact=impact, name=AWS_EVENT,
                        components=AWS_COMPONENTS, update=AWS_UPDATES[step])


def _on(world: World, page: str | None, fault_id: str) -> bool:
    return page is not None and any(fault.id == fault_id for fault in world.faults(page))


def _clear(world: World, fault_ids: list[str]) -> None:
    for fault_id in fault_ids:
        world.clear(fault_id)
