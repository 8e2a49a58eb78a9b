"""What the outbox keeps of a message once it is settled: the person got the link, the row keeps its path without
the token, so that a copy of the database opens no link (the service rebuilds one from its nonce when it must be
sent again). The ``local`` backend keeps its links: there the row is the delivered message, read on /outbox."""

import re

import sqlalchemy as sa

from lac_service.auth.models import Role
from lac_service.notifications.models import Notification, NotificationStatus
from lac_service.notifications.smtp_email import SmtpEmailBackend
from lac_service.notifications.twilio_sms import TwilioSmsBackend
from tests.conftest import NOW, dispatch
from tests.integration.test_notifications_dispatch import provider_settings
from tests.payloads import cabinet_body, request_body

SITE = "http://127.0.0.1:8000"
LINK = re.compile(re.escape(SITE) + r"/(suivi|o|praticien)/([A-Za-z0-9_-]{16,})")


def stored(db) -> list[Notification]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return list(db.scalars(sa.select(Notification).order_by(Notification.id)))


def test_a_copy_of_the_database_opens_no_link_that_was_sent_or_refused(client, db, make_key, org_a, clock, twilio,
                                                                       smtp):
    headers = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(), headers=headers)
    client.post("/api/v1/requests", json=request_body(), headers=headers)
    twilio.reject["+33611223344"] = 21211
    client.post("/api/v1/requests", json=request_body(first_name="Bruno", phone="06 11 22 33 44", email=None),
                headers=headers)
    assert client.post("/api/v1/matching/runs", json={}, headers=headers).json()["batches"]
    settings = provider_settings(twilio, smtp)
    dispatch(db, NOW, sms=TwilioSmsBackend(settings), email=SmtpEmailBackend(settings))

    delivered = "\n".join([m["body"] for m in twilio.received] + [m.get_content() for m in smtp.messages])
    links = {match.group() for match in LINK.finditer(delivered)}
    assert {LINK.match(link).group(1) for link in links} == {"suivi", "o"}, "tracking pages and the batch's offer"
    for link in links:
        assert client.get(link.removeprefix(SITE)).status_code == 200, "the person's link opens"

    rows = stored(db)
    assert {row.status for row in rows} == {NotificationStatus.sent, NotificationStatus.failed}
    assert not [row.id for row in rows if LINK.search(row.body)], "no row keeps a token"
    (refused,) = [row for row in rows if row.status is NotificationStatus.failed]
    assert refused.body.endswith(f"{SITE}/suivi/…"), "nothing will send it again either"
    assert sum(f"{SITE}/o/…" in row.body for row in rows) == 2, "the batch, by SMS and by e-mail"


def test_the_local_backend_keeps_its_links_for_the_outbox_page(client, db, make_key, org_a, clock):
    client.post("/api/v1/requests", json=request_body(), headers=make_key(org_a, Role.secretary))
    dispatch(db, NOW)
    rows = stored(db)
    assert len(rows) == 2 and all(row.status is NotificationStatus.sent and LINK.search(row.body) for row in rows)
