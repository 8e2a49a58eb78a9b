"""Load on loopback: the service started as real processes (``lac serve``, ``lac dispatch``), and wrk
(Debian's package, which ``make test`` and ``make bench`` install) sending requests scripted in Lua.

Every script gets the same footer: it counts the answers by status in each wrk thread and prints them with
the latency percentiles, which ``wrk`` parses into a ``WrkResult``.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.fakes.smtp import free_port

REPO = Path(__file__).resolve().parents[1]

_FOOTER = """
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("LATENCY p50=%d p99=%d\\n", latency:percentile(50), latency:percentile(99)))
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("STATUS %d %d\\n", status, count))
    end
  end
  local e = summary.errors
  io.write(string.format("SUMMARY requests=%d duration_us=%d errors=%d\\n", summary.requests, summary.duration,
                         e.connect + e.read + e.write + e.timeout))
end
"""

# Builds unique people from a number: wrk threads each count from their own id's range.
LUA_PEOPLE = """
local function letters(n)
  local s = ""
  repeat
    s = string.char(97 + n % 26) .. s
    n = math.floor(n / 26)
  until n == 0
  return "P" .. s
end

local counter = 0
function next_person()
  counter = counter + 1
  local n = BASE + id * 1000000 + counter
  return letters(n), string.format("06%08d", n)
end
"""

_INTAKE = LUA_PEOPLE + """
function request()
  local name, phone = next_person()
  local email = EMAIL and string.format(',"email":"%s@exemple.fr"', string.lower(name)) or ""
  local body = string.format('{"kind":"medecin_traitant","patient":{"first_name":"%s","last_name":"Charge",'
    .. '"birth_date":"1980-01-01","phone":"%s"%s,"address":{"line":"1 rue de la Gare",'
    .. '"postal_code":"59000","city":"Lille"},"location":{"lat":50.63,"lon":3.06}},"consent":true}',
    name, phone, email)
  return wrk.format("POST", "/api/v1/requests", HEADERS, body)
end
"""


def intake_script(key: str | None, *, email: bool = False) -> str:
    """wrk registering a new person at each request, with ``key`` (None: as the public form does)."""
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {key}"} if key else {})
    table = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    return f"BASE = 0\nEMAIL = {'true' if email else 'false'}\nHEADERS = {{{table}}}\n" + _INTAKE


@dataclass(frozen=True)
class WrkResult:
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    statuses: Counter[int]
    socket_errors: int

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def line(self) -> str:
        return (f"{self.per_second:,.0f} req/s, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, "
                f"statuses {dict(sorted(self.statuses.items()))}, socket errors {self.socket_errors}")


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is missing: `make test` and `make bench` install it (Debian package wrk)")
    return found


def wrk(url: str, lua: str, *, connections: int = 64, duration_s: int = 10, threads: int = 2) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua + _FOOTER)
    try:
        done = subprocess.run(
            [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--timeout", "10s", "-s",
             script.name, url],
            capture_output=True, text=True, timeout=duration_s + 60, check=False,
        )
    finally:
        os.unlink(script.name)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    latency = re.search(r"LATENCY p50=(\d+) p99=(\d+)", out)
    summary = re.search(r"SUMMARY requests=(\d+) duration_us=(\d+) errors=(\d+)", out)
    assert latency and summary, out + done.stderr
    statuses: Counter[int] = Counter()
    for status, count in re.findall(r"STATUS (\d+) (\d+)", out):
        statuses[int(status)] += int(count)
    requests, duration_us = int(summary[1]), int(summary[2])
    return WrkResult(requests, requests / (duration_us / 1e6), int(latency[1]) / 1000, int(latency[2]) / 1000,
                     statuses, int(summary[3]))


def service_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a service process: no LAC_* of the caller's, limits raised (every request comes
    from one address here), and the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAC_")}
    env.update({
        "LAC_ENVIRONMENT": "test", "LAC_DATABASE_URL": database_url, "LAC_SECRET_KEY": "load-secret-key",
        "LAC_WEB__FORM_PER_MINUTE": "10000", "LAC_WEB__TOKEN_PAGE_PER_MINUTE": "100000",
        **settings,
    })
    return env


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Its log goes to a file (``stop`` reads it): a pipe nobody reads would fill and stall the process."""
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log)
    process.log = log  # type: ignore[attr-defined]
    return process


def _close_log(process: subprocess.Popen[bytes]) -> str:
    with process.log as log:  # type: ignore[attr-defined]
        log.seek(0)
        return str(log.read().decode(errors="replace"))


def sockets_on(port: int, state: str) -> dict[str, int]:
    """Inode of each socket on local ``port`` in ``state`` (01 established, 0A listening) → its peer's port."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == state and int(fields[1].split(":")[1], 16) == port:
            found[fields[9]] = int(fields[2].split(":")[1], 16)
    return found


def serve(env: dict[str, str], *, workers: int, app: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """``lac serve`` (or ``app``, a factory, served the same way) on a free port, once every worker listens
    (each on its own socket, once started: load sent before would all go to the first); returns its URL."""
    port = free_port()
    if app is None:
        command = [sys.executable, "-m", "lac_service.cli", "serve", "--port", str(port), "--workers", str(workers)]
    else:  # served as ``lac serve`` serves the service, for a fair comparison
        command = [sys.executable, "-c", f"from lac_service.serving import serve; "
                   f"serve(host='127.0.0.1', port={port}, workers={workers}, app={app!r})"]
    process = start(command, env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, _close_log(process)[-3000:]
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200 and len(sockets_on(port, "0A")) >= workers:
                return process, url
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> str:
    """SIGTERM, then what it logged."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return _close_log(process)
