"""The control API of a simulated world: an aiohttp app on its own port, under /-/sim/.

    GET    /-/sim/state          venues, chains, providers, status pages: URLs, heads,
                                 incidents, active faults; the running scenario
    GET    /-/sim/scenarios      [{"name": ..., "description": ...}]
    GET    /-/sim/faults         active faults of every venue, provider, chain and page
    POST   /-/sim/faults         {"venue" | "provider" | "chain" | "page", "fault", "params"?,
                                  "path"?, "duration_s"?, "vantage"?} -> 201
    DELETE /-/sim/faults/{id}    clear one fault (404 when it is not active)
    DELETE /-/sim/faults         clear every fault

Errors are {"error": "<message>"} with status 400 (bad input), 404 or 413 (body too large).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitor.simulate.faults import FaultError
from monitor.simulate.scenarios import list_scenarios

if TYPE_CHECKING:
    from monitor.simulate.world import World

PREFIX = "/-/sim"
MAX_REQUEST_BODY = 16 * 1024


class InjectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    venue: str | None = None
    provider: str | None = None
    chain: str | None = None
    page: str | None = None
    fault: str
    params: dict[str, Any] = Field(default_factory=dict)
    path: str | None = None
    duration_s: float | None = None
    vantage: str | None = None  # seen from this vantage point only

    @model_validator(mode="after")
    def _one_name(self) -> InjectRequest:
        if [self.venue, self.provider, self.chain, self.page].count(None) != 3:
            raise ValueError("give exactly one of venue, provider, chain, page")
        return self

    @property
    def name(self) -> str:
        name = self.venue or self.provider or self.chain or self.page
        assert name is not None
        return name


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


def control_app(world: World) -> web.Application:
    async def state(_: web.Request) -> web.Response:
        return _json(world.state())

    async def scenarios(_: web.Request) -> web.Response:
        return _json([{"name": name, "description": text} for name, text in list_scenarios()])

    async def faults(_: web.Request) -> web.Response:
        return _json([fault.to_json() for fault in world.faults()])

    async def inject(request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return _error(400, f"body is not valid JSON: {exc}")
        try:
            order = InjectRequest.model_validate(body)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
                for error in exc.errors()
            )
            return _error(400, f"invalid request: {problems}")
        try:
            fault = world.add_fault(order.name, order.fault, order.params, path=order.path,
                                    duration=order.duration_s, vantage=order.vantage)
        except FaultError as exc:
            return _error(400, str(exc))
        return _json(fault.to_json(), status=201)

    async def clear_one(request: web.Request) -> web.Response:
        fault_id = request.match_info["fault_id"]
        if not world.clear(fault_id):
            return _error(404, f"no active fault {fault_id!r}")
        return _json({"cleared": 1})

    async def clear_all(_: web.Request) -> web.Response:
        return _json({"cleared": world.clear_all()})

    app = web.Application(client_max_size=MAX_REQUEST_BODY)
    app.router.add_get(f"{PREFIX}/state", state)
    app.router.add_get(f"{PREFIX}/scenarios", scenarios)
    app.router.add_get(f"{PREFIX}/faults", faults)
    app.router.add_post(f"{PREFIX}/faults", inject)
    app.router.add_delete(f"{PREFIX}/faults/{{fault_id}}", clear_one)
    app.router.add_delete(f"{PREFIX}/faults", clear_all)
    return app
