"""The bench's own upstream: `python -m bench.delay PORT [SECONDS]`.

GET /slow/... answers after a fixed delay (100 ms): the accuracy targets. GET /switch/N
answers 200, or 503 while switch N's fault is on: the detection targets. POST /fault/N/on and
/fault/N/off turn it on and off.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


def make_app(delay: float) -> web.Application:
    faulty: set[str] = set()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        return web.Response(text="ok\n")

    async def switch(request: web.Request) -> web.Response:
        down = request.match_info["n"] in faulty
        return web.Response(status=503 if down else 200, text="switch\n")

    async def set_fault(request: web.Request) -> web.Response:
        n = request.match_info["n"]
        if request.match_info["state"] == "on":
            faulty.add(n)
        else:
            faulty.discard(n)
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/switch/{n:\\d+}", switch)
    app.router.add_post("/fault/{n:\\d+}/{state:on|off}", set_fault)
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
