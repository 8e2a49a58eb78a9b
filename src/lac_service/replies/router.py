"""``/api/v1/twilio/…``: the webhooks Twilio calls. Every call must carry a valid ``X-Twilio-Signature``
(Twilio's ``RequestValidator``, over the public URL Twilio called and the posted fields): a forged or
unsigned call answers 403 and changes nothing. The public URL is ``LAC_PUBLIC_BASE_URL`` plus the path,
since behind a TLS-terminating proxy the service does not see the address Twilio used."""

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES, Forbidden, ServiceNotConfigured
from lac_service.kit.clock import Now
from lac_service.notifications.models import Notification
from lac_service.notifications.outcomes import record_report
from lac_service.replies.service import handle_reply

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
_TWIML = {200: {"content": {"text/xml": {}}, "description": "TwiML: the reply Twilio sends back to the patient."}}


@router.post("/messages", summary="An SMS received from a patient (Twilio webhook)", responses=_TWIML)
def inbound_message(fields: SignedForm, session: DbSession, now: Now) -> Response:
    """``OUI`` keeps a request of the sender's, ``STOP`` withdraws it (which one: ``replies.service``); the
    answer is the SMS reply."""
    outcome = handle_reply(session, phone=fields.get("From", ""), text=fields.get("Body", ""), now=now)
    reply = MessagingResponse()
    reply.message(outcome.reply)
    return Response(content=str(reply), media_type="text/xml")


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
