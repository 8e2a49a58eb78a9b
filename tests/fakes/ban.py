"""A local stand-in for the national address base (BAN, Géoplateforme): same path, same GeoJSON answer.

``mode`` makes it answer normally, fail with 500, refuse the query (400, as BAN does for a query it cannot
read), or be slower than any sensible timeout.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeBan:
    def __init__(self) -> None:
        self.mode = "ok"
        self.queries: list[str] = []
        self.answer: dict[str, object] = {"lat": 50.63975, "lon": 3.05921, "postcode": "59000", "type": "housenumber"}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                url = urlparse(self.path)
                if url.path != "/geocodage/search":
                    self.send_error(404)
                    return
                fake.queries.append(parse_qs(url.query)["q"][0])
                if fake.mode == "slow":
                    time.sleep(2)
                if fake.mode in ("error", "refused"):
                    self.send_error(500 if fake.mode == "error" else 400)
                    return
                body = json.dumps(fake._collection()).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.domain = f"127.0.0.1:{self._server.server_port}/geocodage"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _collection(self) -> dict[str, object]:
        a = self.answer
        feature = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [a["lon"], a["lat"]]},
            "properties": {
                "label": "12 Rue Esquermoise 59000 Lille", "score": 0.97, "housenumber": "12",
                "id": "59350_2870_00012", "type": a["type"], "name": "12 Rue Esquermoise",
                "postcode": a["postcode"], "citycode": "59350", "city": "Lille",
                "context": "59, Nord, Hauts-de-France", "street": "Rue Esquermoise",
            },
        }
        return {"type": "FeatureCollection", "version": "draft", "features": [feature], "query": self.queries[-1]}

    def __enter__(self) -> "FakeBan":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
