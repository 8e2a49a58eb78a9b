"""The baseline of ``bench_http.py``: FastAPI alone, with no database, answering the same shapes — a JSON
registration validated by pydantic, and an HTML page of the size of the public form."""

from datetime import date
from itertools import count

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict

PAGE = "<!doctype html><html lang=\"fr\"><body>" + "<p>Liste d'attente commune</p>" * 300 + "</body></html>"


class Address(BaseModel):
    line: str
    postal_code: str
    city: str


class Location(BaseModel):
    lat: float
    lon: float


class Patient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_name: str
    last_name: str
    birth_date: date
    phone: str
    email: str | None = None
    address: Address
    location: Location | None = None


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    patient: Patient
    consent: bool


def create_app() -> FastAPI:
    app = FastAPI()
    ids = count(1)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/requests", status_code=201)
    def register(body: Registration) -> dict[str, object]:
        return {"id": next(ids), "kind": body.kind, "status": "waiting"}

    @app.get("/page", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    return app
