"""``/healthz`` says the process answers; ``/readyz`` says it can serve: database reachable, schema current."""

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from lac_service.migrate import current_heads

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    detail: str | None = None


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> Health:  # no thread: it answers even when every one is busy
    return Health(status="ok")


@router.get(
    "/readyz", response_model=Health, summary="The database is reachable and migrated",
    responses={503: {"model": Health, "description": "Not ready: database down or migrations pending."}},
)
def readyz(request: Request) -> JSONResponse:
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            heads = current_heads(connection)
    except sa.exc.SQLAlchemyError:
        return JSONResponse(Health(status="unavailable", detail="database").model_dump(), status_code=503)
    if heads != request.app.state.expected_heads:
        return JSONResponse(Health(status="unavailable", detail="migrations").model_dump(), status_code=503)
    return JSONResponse(Health(status="ok").model_dump())
