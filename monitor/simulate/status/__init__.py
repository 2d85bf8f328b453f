"""Simulated status pages: a vendor's page in one of the formats outagemon reads
(Statuspage v2, incident.io, Instatus, Better Stack, AWS Health, Google Cloud, Azure RSS),
with incidents and maintenance scripted as faults.

    World(venues=(), pages={"vendor-status-sim": "statuspage", "aws-sim": "aws"})
    world.inject("vendor-status-sim", "incident", impact="minor", name="Slow API",
                 indicator_lags=True)
    world.feed_url("aws-sim")     # http://127.0.0.1:PORT/public/currentevents
"""

from monitor.simulate.status.formats import FORMATS, PageFormat
from monitor.simulate.status.page import StatusPage

__all__ = ["FORMATS", "PageFormat", "StatusPage"]
