"""``lac serve``: uvicorn, each worker process listening on a socket of its own.

uvicorn's workers share the one socket its parent binds, and the kernel gives a new connection to whichever
worker wakes first: under a burst of connections (a proxy opening its pool, a load test) one worker took
most of them while the others idled, which halved the throughput of two cores. Here each worker binds its
own ``SO_REUSEPORT`` socket on the same address, and the kernel spreads connections over them.
"""

import copy
import logging
import socket
from dataclasses import dataclass

import uvicorn
import uvicorn.config
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from lac_service.main import create_app

APP = "lac_service.serving:served_app"
log = logging.getLogger(__name__)


def served_app() -> FastAPI:
    """The service as a server process runs it."""
    return create_app(freeze_start_heap=True)


def bind_shared_port(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


@dataclass(frozen=True)
class OwnSocket:
    """Stands for a socket in ``Multiprocess(sockets=…)``: pickled into each worker it starts (and each it
    restarts), it arrives there as a socket of that worker's own."""

    host: str
    port: int

    def __reduce__(self) -> tuple[object, tuple[str, int]]:
        return bind_shared_port, (self.host, self.port)


def serve(*, host: str, port: int, workers: int, app: str = APP) -> None:
    """``app``: a factory's import path (the benchmarks serve a bare FastAPI app the same way)."""
    # Our AccessLog middleware replaces uvicorn's, which would print tokens and searched names.
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["lac_service"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config = uvicorn.Config(app, factory=True, host=host, port=port, workers=workers, access_log=False,
                            proxy_headers=True, log_config=log_config)
    if workers == 1:
        uvicorn.Server(config).run()
        return
    # Bound (not listening) here, so that a port already taken fails now, and stays ours between restarts.
    with bind_shared_port(host, port):
        log.info("LAC service on http://%s:%d, %d worker processes", host, port, workers)
        Multiprocess(config, sockets=[OwnSocket(host, port)]).run()  # type: ignore[list-item]
