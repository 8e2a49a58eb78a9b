"""``lac serve --workers N`` shares a burst of connections between its workers, and each works on at most
``LAC_THREADS`` requests at once.

A proxy opening its pool, or many people at once, connect within a millisecond. Sharing one listening socket,
the first worker to wake took most of them while the other idled; each worker now listens on its own
socket (``SO_REUSEPORT``) and the kernel spreads connections over them.
"""

import gc
import os
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from lac_service.main import create_app
from tests.conftest import make_settings
from tests.load import serve, service_env, sockets_on, stop

WORKERS, CONNECTIONS = 2, 64


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def test_a_burst_of_connections_is_shared_between_the_workers(tmp_path):
    server, url = serve(service_env(f"sqlite:///{tmp_path / 'serve.db'}"), workers=WORKERS)
    port = int(url.rsplit(":", 1)[1])
    clients: list[socket.socket] = []
    try:
        clients += [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
        for client in clients:  # each connection answered, and kept open, as a browser or a proxy would
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: lac\r\n\r\n")
        for client in clients:
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        accepted = sockets_on(port, "01")
        mine = {c.getsockname()[1] for c in clients}
        per_worker = Counter({
            pid: held for pid in _children(server.pid)
            if (held := sum(1 for inode in _socket_inodes(pid) if accepted.get(inode) in mine))
        })
    finally:
        for client in clients:
            client.close()
        stop(server)
    assert sum(per_worker.values()) == CONNECTIONS, per_worker
    assert len(per_worker) == WORKERS and min(per_worker.values()) >= CONNECTIONS // 4, (
        f"one worker took most connections: {per_worker}"
    )


def test_a_process_works_on_as_many_requests_at_once_as_its_threads(tmp_path):
    """Ten requests at once, three threads: three are worked on, the others wait their turn."""
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'lac.db'}", threads=3))
    lock, working, most = threading.Lock(), [0], [0]

    @app.get("/busy")
    def busy() -> None:
        with lock:
            working[0] += 1
            most[0] = max(most[0], working[0])
        time.sleep(0.1)
        with lock:
            working[0] -= 1

    with TestClient(app) as client, ThreadPoolExecutor(10) as pool:
        assert all(answer.status_code == 200 for answer in pool.map(lambda _: client.get("/busy"), range(10)))
    assert most[0] == 3


def test_a_server_process_keeps_what_start_up_loaded_out_of_the_collectors_reach(tmp_path):
    """The gazetteer and the mappers live as long as the process: a full collection walking them stopped every
    request for ~0.1 s. (A test's heap is not frozen: it holds whatever the test made.)"""
    url = f"sqlite:///{tmp_path / 'lac.db'}"
    with TestClient(create_app(make_settings(url))):
        assert gc.get_freeze_count() == 0
    try:
        with TestClient(create_app(make_settings(url), freeze_start_heap=True)):
            assert gc.get_freeze_count() > 100_000
    finally:
        gc.unfreeze()
