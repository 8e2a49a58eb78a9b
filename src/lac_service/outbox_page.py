"""``/outbox``: the messages of the ``local`` backend (and every other), newest first, for whoever runs the
service in development — so that ``make run`` shows what a patient or a practitioner would have received
without any provider account. Served only when ``LAC_ENVIRONMENT=development``, to an admin's API key,
given as a bearer token or, from a browser, as the password of the login prompt (HTTP Basic)."""

import base64
import binascii
from typing import Annotated

import jinja2
import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from lac_service.auth.models import Role
from lac_service.auth.service import find_api_key
from lac_service.config import AppSettings, Environment
from lac_service.db import DbSession
from lac_service.errors import NotFound
from lac_service.kit.clock import Now
from lac_service.notifications.models import RECEIVED, Notification

router = APIRouter(include_in_schema=False)

_PAGE = jinja2.Environment(autoescape=True).from_string("""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Messages envoyés et reçus (développement)</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:1rem;color:#1b1b1b}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #bbb;padding:.4rem;text-align:left;vertical-align:top}pre{white-space:pre-wrap;margin:0}</style>
</head><body><h1>Messages envoyés et reçus (développement)</h1>
<p>{{ total }} message(s) ; les {{ rows|length }} plus récents. Rien ne quitte la machine avec l'envoi « local ».</p>
<table><thead><tr><th scope="col">Créé le</th><th scope="col">Canal</th><th scope="col">Destinataire (ou expéditeur)</th>
<th scope="col">Message</th><th scope="col">État</th></tr></thead><tbody>
{% for m in rows %}<tr><td>{{ m.created_at.strftime("%d/%m/%Y %H:%M") }}</td><td>{{ m.channel }}</td><td>{% if m.delivery_status == received %}de {% endif %}{{ m.recipient }}</td>
<td>{% if m.subject %}<strong>{{ m.subject }}</strong><br>{% endif %}<pre>{{ m.body }}</pre></td>
<td>{{ m.status }}{% if m.delivery_status %} ({{ m.delivery_status }}){% endif %}</td></tr>
{% else %}<tr><td colspan="5">Aucun message.</td></tr>{% endfor %}
</tbody></table></body></html>""")


def _presented_key(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value, validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


@router.get("/outbox", response_class=HTMLResponse)
def outbox(
    request: Request, session: DbSession, settings: AppSettings, now: Now,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> HTMLResponse:
    if settings.environment is not Environment.development:
        raise NotFound()
    presented = _presented_key(request)
    api_key = find_api_key(session, presented, now=now) if presented else None
    if api_key is None or api_key.role is not Role.admin:
        # Basic, so that a browser shows its login prompt (any user name, the key as the password).
        return HTMLResponse(
            "<p>Connectez-vous avec une clé d'API administrateur comme mot de passe.</p>", status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="LAC outbox", charset="UTF-8"'},
        )
    total = session.scalar(sa.select(sa.func.count()).select_from(Notification)) or 0
    rows = session.scalars(sa.select(Notification).order_by(Notification.id.desc()).limit(limit)).all()
    return HTMLResponse(_PAGE.render(rows=rows, total=total, received=RECEIVED))
