"""A coordinator replaces a practitioner's link gone astray, or removes a cabinet, from its page: confirmed
first; the batch links stop working at once and the patients waiting for an answer go back to the queue;
nobody else can."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lac_service.auth.models import Role
from lac_service.intake.models import PatientRequest, Status
from lac_service.kit.clock import utcnow
from lac_service.offers.service import expire_offers
from tests.api.test_web_pages import csrf, log_in, offered, staff  # noqa: F401  (fixtures)


@pytest.fixture
def cabinet_page(client, offered, staff):  # noqa: F811
    """The offered cabinet's page, a coordinator logged in."""
    log_in(client, staff(Role.coordinator, "coordination@cpts-a.fr"))
    return f"/equipe/cabinets/{offered['cabinet_id']}"


def _remove(client, path: str, **fields: str):
    return client.post(f"{path}/retrait", data={"csrf_token": csrf(client.get(path).text), **fields},
                       follow_redirects=False)


def test_a_removal_not_confirmed_changes_nothing(client, offered, cabinet_page):
    refused = _remove(client, cabinet_page)
    assert refused.status_code == 422 and "Cochez la case pour confirmer le retrait du cabinet." in refused.text
    assert 'href="#confirm"' in refused.text
    assert client.get(offered["path"]).status_code == 200, "its batch is still open"
    assert f'href="{cabinet_page}"' in client.get("/equipe/tableau").text


def test_a_removed_cabinet_closes_its_batches_and_its_patients_return_to_the_queue(client, db, offered, cabinet_page):
    removed = _remove(client, cabinet_page, confirm="on")
    assert removed.status_code == 303 and removed.headers["location"] == "/equipe/tableau?cabinet_retire=1"
    dashboard = client.get(removed.headers["location"]).text
    assert "Le cabinet est retiré" in dashboard and f'href="{cabinet_page}"' not in dashboard, "no longer listed"
    assert client.get(offered["path"]).status_code == 404, "its batch link no longer works"
    assert client.get(cabinet_page).status_code == 404
    expire_offers(db, now=utcnow())
    db.commit()
    assert db.scalar(sa.select(PatientRequest.status).where(PatientRequest.id == offered["request_id"])) is Status.waiting


ACTIONS = pytest.mark.parametrize("action", [("retrait", "confirm"), ("lien", "confirm_link")])


@ACTIONS
def test_a_secretary_can_neither_remove_a_cabinet_nor_replace_its_link(client, offered, staff, action):  # noqa: F811
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    page = client.get("/equipe")
    refused = client.post(f"/equipe/cabinets/{offered['cabinet_id']}/{action[0]}",
                          data={"csrf_token": csrf(page.text), action[1]: "on"})
    assert refused.status_code == 403
    assert client.get(offered["path"]).status_code == 200


@ACTIONS
def test_a_foreign_cabinet_is_not_found(client, offered, staff, make_org, action):  # noqa: F811
    other = make_org("cpts-b")
    log_in(client, staff(Role.coordinator, "coordination@cpts-b.fr", organisation=other))
    page = client.get("/equipe/tableau")
    refused = client.post(f"/equipe/cabinets/{offered['cabinet_id']}/{action[0]}",
                          data={"csrf_token": csrf(page.text), action[1]: "on"})
    assert refused.status_code == 404
    assert client.get(offered["path"]).status_code == 200


def _standing_link(page: str) -> str:
    return re.search(r'Page du praticien \(à lui transmettre\) : <a href="http://127\.0\.0\.1:8000([^"]+)"', page)[1]


def test_a_coordinator_replaces_a_practitioners_link_gone_astray(client, offered, cabinet_page, clock):
    old = _standing_link(client.get(cabinet_page).text)
    clock["now"] += timedelta(hours=1)
    refused = client.post(f"{cabinet_page}/lien", data={"csrf_token": csrf(client.get(cabinet_page).text)})
    assert refused.status_code == 422 and "Cochez la case pour confirmer le remplacement du lien." in refused.text
    assert client.get(old).status_code == 200, "not confirmed: nothing changed"

    replaced = client.post(f"{cabinet_page}/lien", data={"csrf_token": csrf(client.get(cabinet_page).text),
                                                          "confirm_link": "on"}, follow_redirects=False)
    assert replaced.status_code == 303 and replaced.headers["location"] == f"{cabinet_page}?lien=1"
    page = client.get(replaced.headers["location"]).text
    assert "L&#39;ancien lien du praticien et ceux des propositions qu&#39;il listait ne fonctionnent plus" in page
    new = _standing_link(page)
    assert new != old and client.get(new).status_code == 200
    assert client.get(old).status_code == 404 and client.get(offered["path"]).status_code == 404
