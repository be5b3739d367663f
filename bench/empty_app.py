"""The API baseline: an empty Starlette JSON endpoint under the same uvicorn
settings as `eventtrigger serve` (``python -m bench.empty_app PORT``)."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def empty(request: Request) -> JSONResponse:
    return JSONResponse({})


app = Starlette(routes=[Route("/", empty, methods=["GET"])])


def main(port: int) -> None:
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_config=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
