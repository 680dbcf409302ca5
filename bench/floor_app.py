"""The framework floor for bench/api_throughput.py: a bare FastAPI app with the service's GET routes.

Each route returns a JSON body captured from the real service (the same shapes and
sizes) from an `async def` handler that FastAPI serialises, with no database, auth,
middleware or worker-thread hop, served by uvicorn with the settings `app/server.py` uses.

    .venv/bin/python -m bench.floor_app BODIES.json PORT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

# the routes bench/api_throughput.py drives, by the key its captured bodies use
ROUTES = {
    "project": "/projects/{name}",
    "projects": "/projects",
    "run": "/runs/{run_id}",
    "runs": "/projects/{name}/runs",
    "tuning": "/v1/tunings.get/{job_id}",
    "jobs": "/v1/fine_tuning/jobs",
    "healthz": "/healthz",
}


def build_app(bodies: dict[str, Any]) -> FastAPI:
    """One GET route per captured body; path parameters are accepted and ignored."""
    app = FastAPI()
    for key, path in ROUTES.items():
        if key in bodies:
            app.add_api_route(path, _handler(bodies[key]), methods=["GET"])
    return app


def _handler(body: Any) -> Any:
    async def handler() -> Any:
        return body

    return handler


def serve(app: FastAPI, port: int) -> None:
    """uvicorn as `app.server.serve` configures it: one process, default loop and HTTP parser."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, timeout_graceful_shutdown=30, proxy_headers=False
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    serve(build_app(json.loads(Path(sys.argv[1]).read_text())), int(sys.argv[2]))
