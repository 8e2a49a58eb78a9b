"""``/api/v1/twilio/…``: the webhooks Twilio calls. Every call must carry a valid ``X-Twilio-Signature``
(Twilio's ``RequestValidator``, over the public URL Twilio called and the posted fields): a forged or
unsigned call answers 403 and changes nothing. The public URL is ``LAC_PUBLIC_BASE_URL`` plus the path,
since behind a TLS-terminating proxy the service does not see the address Twilio used."""

import re
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES, Forbidden, InvalidInput, ServiceNotConfigured
from lac_service.kit.clock import Now
from lac_service.links import AppLinks
from lac_service.notifications.models import Notification
from lac_service.notifications.outcomes import record_report
from lac_service.replies.service import receive

router = APIRouter(prefix="/api/v1/twilio", tags=["twilio"], responses=ERROR_RESPONSES)


async def signed_form(request: Request, settings: AppSettings) -> dict[str, str]:
    token = settings.notifications.twilio_auth_token.get_secret_value()
    if not token:
        raise ServiceNotConfigured("Twilio n'est pas configuré sur ce service.")
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    url = str(settings.public_base_url).rstrip("/") + request.url.path
    if request.url.query:
        url += f"?{request.url.query}"
    if not RequestValidator(token).validate(url, fields, request.headers.get("X-Twilio-Signature", "")):
        raise Forbidden("Signature Twilio absente ou invalide.")
    return fields


SignedForm = Annotated[dict[str, str], Depends(signed_form)]
_TWIML = {200: {"content": {"text/xml": {}}, "description": "An empty TwiML answer: the reply is sent on its own."}}
_SID = re.compile(r"[A-Za-z0-9]{2,64}")  # Twilio's are two letters and 32 hexadecimal digits
_MAX_SENDER = 64


@router.post("/messages", summary="An SMS received: a patient's reply, or a practitioner's (Twilio webhook)", responses=_TWIML)
def inbound_message(fields: SignedForm, session: DbSession, links: AppLinks, now: Now) -> Response:
    """``OUI`` keeps a request of the sender's, ``RETRAIT`` (or ``STOP``) withdraws it (which one:
    ``replies.service``). The answer is queued as every message is, not given as TwiML (an empty
    ``<Response/>``): sent by the dispatcher, retried, and redacted at Twilio (the SMS received is deleted there).
    The same ``MessageSid`` twice (Twilio calling again, a replayed call) changes nothing the second time."""
    sid, sender = fields.get("MessageSid", ""), fields.get("From", "")
    if not _SID.fullmatch(sid):
        raise InvalidInput("Identifiant de message Twilio absent ou invalide.", field="MessageSid")
    if not sender or len(sender) > _MAX_SENDER:
        raise InvalidInput("Expéditeur absent ou invalide.", field="From")
    receive(session, provider_id=sid, phone=sender, text=fields.get("Body", ""), links=links, now=now)
    return Response(content=str(MessagingResponse()), media_type="text/xml")


@router.post("/status", status_code=204, summary="A delivery report of a sent SMS (Twilio status callback)")
def delivery_status(fields: SignedForm, session: DbSession, settings: AppSettings, now: Now) -> Response:
    """Recorded on the message (``delivery_status``); one reported ``failed`` or ``undelivered`` is told to the
    coordinators, as one the provider refused at once is: nobody else would know the person never got it.
    Reports may come out of order: a final one stands. Reports for unknown messages are ignored."""
    sid, status = fields.get("MessageSid", ""), fields.get("MessageStatus", "")[:32]
    message = session.scalar(sa.select(Notification).where(Notification.provider_id == sid)) if sid and status else None
    if message is not None:
        code = f"twilio:{fields.get('ErrorCode') or status}"[:64]
        record_report(session, message, status, code, settings=settings.notifications, now=now)
    return Response(status_code=204)
