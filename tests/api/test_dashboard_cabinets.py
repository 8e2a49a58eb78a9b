"""The dashboard's cabinets, page by page: a regional platform has hundreds, and none may go missing."""

from lac_service.auth.models import Role
from lac_service.cabinets.schemas import CabinetCreate
from lac_service.cabinets.service import create_cabinet
from lac_service.geography.geocoder import Located
from lac_service.web.dashboard import CABINETS_PER_PAGE
from tests.api.test_web_pages import _cabinet_form, log_in, staff  # noqa: F401  (staff: a fixture)
from tests.conftest import NOW
from tests.payloads import cabinet_body


def test_every_cabinet_is_on_a_page_of_the_dashboard(client, db, org_a, staff):  # noqa: F811
    count = CABINETS_PER_PAGE + 1
    for n in range(count):
        create_cabinet(db, organisation_id=org_a.id, now=NOW, place=Located(50.63, 3.06, "exact", "59"),
                       data=CabinetCreate.model_validate(cabinet_body(name=f"Cabinet n° {n:03d}", channels=[])))
    db.commit()
    log_in(client, staff(Role.coordinator, "coordination@cpts-a.fr"))
    first = client.get("/equipe/tableau").text
    assert f"{count} cabinets, page 1 sur 2." in first and "Cabinets suivants" in first
    assert "Cabinet n° 000" in first and f"Cabinet n° {count - 1:03d}" not in first
    second = client.get("/equipe/tableau?cabinets=2").text
    assert f"Cabinet n° {count - 1:03d}" in second and "Cabinet n° 000" not in second
    assert "Cabinets précédents" in second and "Cabinets suivants" not in second
    assert "page 1 sur 2" in client.get("/equipe/tableau?cabinets=-4").text, "a page out of range is the nearest"
    past = client.get("/equipe/tableau?cabinets=9").text
    assert "page 2 sur 2" in past and f"Cabinet n° {count - 1:03d}" in past
    chosen = client.get("/equipe/tableau?type=bilan_orthophonique&du=2026-01-01&au=2026-06-30").text
    assert 'href="?type=bilan_orthophonique&amp;du=2026-01-01&amp;au=2026-06-30&amp;cabinets=2#cabinets-title"' in chosen, \
        "the next page keeps the indicators chosen"


def test_a_cabinet_texting_a_landline_since_before_the_rule_is_flagged_until_corrected(client, db, org_a, staff):  # noqa: F811
    """Saved when a landline could still get its batches by SMS: each batch fails, so the coordination must find it."""
    cabinet = create_cabinet(db, organisation_id=org_a.id, now=NOW, place=Located(50.63, 3.06, "exact", "59"),
                             data=CabinetCreate.model_validate(cabinet_body(channels=["sms"], emails=[])))
    cabinet.phones = ["+33320123456"]  # as it was saved before
    db.commit()
    log_in(client, staff(Role.coordinator, "coordination@cpts-a.fr"))
    assert "Ses SMS au 03 20 12 34 56 échouent : c'est un fixe" in client.get("/equipe/tableau").text
    page = client.get(f"/equipe/cabinets/{cabinet.id}").text
    assert '<a href="#phones">Le 03 20 12 34 56 ne reçoit pas de SMS : donnez un numéro de portable' in page, \
        "said on opening, next to the field to correct"
    corrected = client.post(f"/equipe/cabinets/{cabinet.id}",
                            data=_cabinet_form(page, **{"channels.sms": "on", "phones": "06 20 12 34 56"}))
    assert corrected.status_code == 200 and "Les réglages du cabinet sont enregistrés." in corrected.text
    assert "un fixe" not in client.get("/equipe/tableau").text
    assert "ne reçoit pas de SMS" not in client.get(f"/equipe/cabinets/{cabinet.id}").text
