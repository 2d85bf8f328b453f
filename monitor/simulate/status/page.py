"""A fake status page: one aiohttp app serving one format (monitor/simulate/status/formats.py)
from its faults.

`incident` and `maintenance` change what the page says (monitor/simulate/status/model.py);
the answering faults are the providers' ones (http_5xx a plain-text error page, rate_limit
429 with Retry-After, reset, hang, garbage, oversized), and `latency` delays answers. Every
answer carries an ETag (a hash of the body); a request whose If-None-Match matches gets 304.
`requests` and `not_modified` count what the page served.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from monitor.simulate import respond
from monitor.simulate.faults import (
    PAGE_KINDS,
    Fault,
    FaultBook,
    FaultKind,
    Http5xxParams,
    IncidentParams,
    NoParams,
    OversizedParams,
    PageMaintenanceParams,
    RateLimitParams,
)
from monitor.simulate.status import model
from monitor.simulate.status.formats import FORMATS, PageFormat


class StatusPage:
    kind_name = "page"

    def __init__(self, name: str, fmt: str) -> None:
        try:
            self.format: PageFormat = FORMATS[fmt]
        except KeyError:
            raise ValueError(f"page {name!r}: unknown format {fmt!r}; formats: "
                             f"{', '.join(FORMATS)}") from None
        self.name = name
        self.fault_kinds = (PAGE_KINDS if self.format.maintenance
                            else PAGE_KINDS - {FaultKind.MAINTENANCE})
        self.faults = FaultBook(name, scope="page")
        self.faults.on_change(self._on_fault_change)
        self.updated_at = time.time()
        self.requests = 0
        self.not_modified = 0
        self._stopping = False
        self.app = self._build_app()

    @property
    def feed_path(self) -> str:
        """The URL path of the page's feed (summary.json, currentevents, ...)."""
        return self.format.paths[0]

    async def close(self) -> None:
        self._stopping = True
        self.faults.clear()

    def check_fault(self, kind: FaultKind, params: NoParams) -> None:
        """ValueError for components the page does not list."""
        if isinstance(params, IncidentParams | PageMaintenanceParams) and params.components:
            known = self.format.components
            unknown = [c for c in params.components if c not in known]
            if unknown and known:
                raise ValueError(f"unknown components {unknown}; the page lists "
                                 f"{', '.join(known)}")

    def view(self) -> model.PageView:
        faults = list(self.faults)
        fmt = self.format
        incidents = model.incidents(faults, fmt.components)
        windows = model.maintenances(faults, fmt.components)
        return model.PageView(
            name=self.name, updated_at=self.updated_at,
            components=model.component_statuses(fmt.components, incidents, windows),
            incidents=incidents, maintenances=windows, groups=dict(fmt.groups))

    def _on_fault_change(self) -> None:
        self.updated_at = time.time()

    # -- serving ---------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._misbehave])
        for path in self.format.paths:
            app.router.add_get(path, self._serve)
        return app

    async def _serve(self, request: web.Request) -> web.Response:
        body = self.format.render(self.view(), request.path)
        etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
        headers = {"ETag": etag, "Cache-Control": "max-age=0"}
        if etag in (tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")):
            self.not_modified += 1
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = self.format.content_type
        return web.Response(body=body, headers=headers)

    @web.middleware
    async def _misbehave(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests += 1
        instead = await respond.misbehave(request, self.faults, lambda: self._stopping,
                                          lambda fault: self._answer(request, fault))
        return instead if instead is not None else await handler(request)

    async def _answer(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        params = fault.params
        if isinstance(params, RateLimitParams):
            return web.Response(status=params.status, text="Too Many Requests",
                                headers={"Retry-After": str(params.retry_after)})
        if isinstance(params, Http5xxParams):
            if params.body is not None:
                return respond.http_5xx(params)
            return web.Response(status=params.status, text=f"{params.status} Service "
                                "Unavailable", content_type="text/html")
        if isinstance(params, OversizedParams):
            return await respond.oversized(request, params)
        if fault.kind is FaultKind.GARBAGE:
            return respond.garbage()
        return respond.abort(request)  # reset

    def state(self, url: str | None) -> dict[str, Any]:
        view = self.view()
        return {"format": self.format.name, "url": url,
                "feed_url": None if url is None else url + self.feed_path,
                "indicator": view.indicator,
                "incidents": [{"name": i.name, "impact": i.impact, "lags": i.lags,
                               "updates": len(i.updates)} for i in view.incidents],
                "maintenances": [{"name": m.name, "active": m.active}
                                 for m in view.maintenances],
                "requests": self.requests, "not_modified": self.not_modified,
                "faults": [fault.to_json() for fault in self.faults]}
