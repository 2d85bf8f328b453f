"""A tiny HTTP server answering after a fixed delay: `python -m bench.delay PORT [SECONDS]`."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


def make_app(delay: float) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
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
