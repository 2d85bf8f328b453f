"""The bench's own upstream: `python -m bench.delay PORT [SECONDS]`.

GET /slow/... answers after a fixed delay (100 ms): the accuracy targets. GET /switch answers
200, or 503 while the fault is on: the detection target. POST /fault/on and /fault/off turn
the fault on and off.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


def make_app(delay: float) -> web.Application:
    fault = {"on": False}

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        return web.Response(text="ok\n")

    async def switch(request: web.Request) -> web.Response:
        return web.Response(status=503 if fault["on"] else 200, text="switch\n")

    async def set_fault(request: web.Request) -> web.Response:
        fault["on"] = request.match_info["state"] == "on"
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/switch", switch)
    app.router.add_post("/fault/{state:on|off}", set_fault)
    app.router.add_get("/{tail:.*}", slow)
    return app


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    port = int(sys.argv[1])
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
    web.run_app(make_app(delay), host="127.0.0.1", port=port, access_log=None, print=None)
