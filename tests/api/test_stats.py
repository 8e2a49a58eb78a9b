"""Indicators on a history built through the API and the services with a fake clock: every figure checked
against a count made by hand below, and an organisation never sees another's."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from lac_service.auth.models import Role
from lac_service.intake.models import PatientRequest, Status
from lac_service.intake.ranking import rescore
from lac_service.intake.service import SYSTEM, confirm_waiting, set_status
from lac_service.kit.clock import request_time
from lac_service.offers.models import ItemStatus
from lac_service.offers.service import expire_offers
from lac_service.stats.indicators import acceptance
from tests.payloads import cabinet_body, request_body

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)      # Alice (ALD, born 1950), Bruno, Chloé (speech therapy)
T1 = datetime(2026, 4, 10, 9, 0, tzinfo=UTC)     # Denis (born 1955-06-01)
ROUND = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)   # GP cabinet: Alice, Bruno, Denis; speech cabinet: Chloé
ANSWER = datetime(2026, 5, 3, 9, 0, tzinfo=UTC)  # Alice and Denis accepted, Bruno declined (too far)
EXPIRY = datetime(2026, 5, 20, 9, 0, tzinfo=UTC)  # Chloé's offer expired: back to the queue
WITHDRAWAL = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)  # Bruno moved
ERASURE = datetime(2026, 7, 2, 9, 0, tzinfo=UTC)  # Emma, registered the day before, erased
LATE = datetime(2026, 11, 15, 9, 0, tzinfo=UTC)  # Fanny registers; offered on 20 November, not answered yet
TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
PERIOD = {"start": "2026-01-01", "end": "2026-11-22"}  # 326 days


@pytest.fixture
def history(app, client, db, make_key, org_a, org_b):
    moment = {"now": T0}
    app.dependency_overrides[request_time] = lambda: moment["now"]
    secretary, coordinator = make_key(org_a, Role.secretary), make_key(org_a, Role.coordinator)

    def register(first_name, phone, birth_date, *, kind="medecin_traitant", ald=False, headers=secretary):
        body = request_body(first_name=first_name, phone=phone, birth_date=birth_date, email=None)
        body |= {"kind": kind, "criteria": {"ald": ald}}
        answer = client.post("/api/v1/requests", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    gp = client.post("/api/v1/cabinets", json=cabinet_body(name="MSP Wazemmes", batch_size=10, cadence_days=30), headers=coordinator).json()
    speech = client.post("/api/v1/cabinets", json=cabinet_body(name="Orthophonie Lille", kinds=["bilan_orthophonique"],
                                                               batch_size=4, cadence_days=60),
                         headers=coordinator).json()
    ids = {
        "alice": register("Alice", "0611111111", "1950-01-01", ald=True),
        "bruno": register("Bruno", "0622222222", "1980-05-05"),
        "chloe": register("Chloé", "0633333333", "2019-01-01", kind="bilan_orthophonique"),
    }
    b_headers = make_key(org_b, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(name="Cabinet de B"), headers=b_headers)
    other = register("Bérénice", "0644444444", "1945-02-02", ald=True, headers=b_headers)
    moment["now"] = T1
    ids["denis"] = register("Denis", "0655555555", "1955-06-01")

    moment["now"] = ROUND
    run = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()
    tokens = {b["cabinet"]: b["offer_url"].rsplit("/", 1)[1] for b in run["batches"]}
    b_run = client.post("/api/v1/matching/runs", json={}, headers=b_headers).json()

    def bands() -> dict[str, str]:
        return {name: client.get(f"/api/v1/requests/{i}", headers=secretary).json()["priority"]["band"]
                for name, i in ids.items()}

    offered_bands = bands()
    moment["now"] = ANSWER
    for name, decision in (("alice", "accept"), ("bruno", "decline"), ("denis", "accept")):
        answer = client.post(f"/api/v1/offers/{tokens['MSP Wazemmes']}/responses",
                             json={"request_id": ids[name], "decision": decision, "reason": "too_far"})
        assert answer.status_code == 200, answer.text
    b_token = b_run["batches"][0]["offer_url"].rsplit("/", 1)[1]
    client.post(f"/api/v1/offers/{b_token}/responses", json={"request_id": other, "decision": "accept"})
    assert expire_offers(db, now=EXPIRY) == 1
    db.commit()
    moment["now"] = WITHDRAWAL
    client.post(f"/api/v1/requests/{ids['bruno']}/withdraw", json={"reason": "moved"}, headers=secretary)
    moment["now"] = ERASURE.replace(day=1)
    emma = register("Emma", "0666666666", "1990-09-09")
    moment["now"] = ERASURE
    assert client.delete(f"/api/v1/requests/{emma}", headers=secretary).status_code == 204
    moment["now"] = LATE
    ids["fanny"] = register("Fanny", "0677777777", "1985-03-03")
    moment["now"] = LATE.replace(day=20)  # a GP round: Chloé, whose offer lapsed in May, keeps waiting
    assert client.post("/api/v1/matching/runs", json={"kind": "medecin_traitant"},
                       headers=coordinator).json()["requests_offered"] == 1
    moment["now"] = TODAY
    rescore(db, now=TODAY)  # the nightly refresh: the months waited since count
    db.commit()
    return {"coordinator": coordinator, "b": b_headers, "ids": ids, "gp": gp["id"], "speech": speech["id"],
            "bands": bands(), "offered_bands": offered_bands, "admin": make_key(org_a, Role.admin),
            "secretary": secretary}


def test_every_figure_matches_the_count_by_hand(client, history):
    stats = client.get("/api/v1/stats", params=PERIOD, headers=history["coordinator"]).json()
    assert stats["organisation"] == "cpts-a"
    assert stats["by_status"] == {  # Chloé waits again, Fanny is being offered; Emma, erased, stays withdrawn
        "medecin_traitant": {"waiting": 0, "offered": 1, "matched": 2, "withdrawn": 2, "archived": 0},
        "bilan_orthophonique": {"waiting": 1, "offered": 0, "matched": 0, "withdrawn": 0, "archived": 0},
    }
    flows = {(f["month"], f["kind"]): {k: v for k, v in f.items() if k not in ("month", "kind") and v} for f in stats["flows"]}
    assert flows == {
        ("2026-03", "bilan_orthophonique"): {"registered": 1},
        ("2026-03", "medecin_traitant"): {"registered": 2},
        ("2026-04", "medecin_traitant"): {"registered": 1},
        ("2026-05", "medecin_traitant"): {"matched": 2},
        ("2026-06", "medecin_traitant"): {"withdrawn": 1},
        ("2026-07", "medecin_traitant"): {"registered": 1, "erased": 1},
        ("2026-11", "medecin_traitant"): {"registered": 1},
    }
    by_band = {"high": 0, "medium": 0, "low": 0}
    for name in ("chloe", "fanny"):  # Chloé back in the queue, Fanny being offered: both still wait
        by_band[history["bands"][name]] += 1
    # Chloé has waited since 2 March (265 days), Fanny since 15 November (7 days): those still looking.
    assert history["bands"]["chloe"] == "high" and history["bands"]["fanny"] != "high"
    waited = {band: {"count": 0, "median_days": None, "p90_days": None} for band in ("medium", "low")}
    waited |= {"high": {"count": 1, "median_days": 265.0, "p90_days": 265.0},
               history["bands"]["fanny"]: {"count": 1, "median_days": 7.0, "p90_days": 7.0}}
    assert stats["waiting"] == {"total": 2, "by_band": by_band, "by_department": {"59": 2},
                                "waited": waited | {"all": {"count": 2, "median_days": 136.0, "p90_days": 265.0}}}
    # Alice waited 62 days (2 March → 3 May), Denis 23 (10 April → 3 May).
    assert stats["wait_to_match"]["all"] == {"count": 2, "median_days": 42.5, "p90_days": 62.0}
    by_band = {history["bands"]["alice"]: [62.0], history["bands"]["denis"]: [23.0]}
    if history["bands"]["alice"] == history["bands"]["denis"]:
        by_band = {history["bands"]["alice"]: [23.0, 62.0]}
    for band, waits in by_band.items():
        assert stats["wait_to_match"][band]["count"] == len(waits)
        assert stats["wait_to_match"][band]["p90_days"] == max(waits)
    assert stats["offers"] == {"offered": 5, "pending": 1, "accepted": 2, "declined": 1, "expired": 1, "cancelled": 0,
                               "decline_reasons": {"too_far": 1}}
    cabinets = {c["name"]: c for c in stats["cabinets"]}
    # Both cabinets joined on 2 March: 266 days of the period (2 March → 22 November).
    assert cabinets["MSP Wazemmes"] == {"cabinet_id": history["gp"], "name": "MSP Wazemmes", "offered": 4,
                                        "accepted": 2, "acceptance_rate": 0.667, "capacity_declared": 10 * (266 // 30),
                                        "people_accepted": 2}
    assert cabinets["Orthophonie Lille"] | {"cabinet_id": 0} == {
        "cabinet_id": 0, "name": "Orthophonie Lille", "offered": 1, "accepted": 0, "acceptance_rate": 0.0,
        "capacity_declared": 4 * (266 // 60), "people_accepted": 0}
    # Alice (ALD, born 1950) and Denis (born 1955: 71 in 2026, though 70 on the day of the match).
    assert stats["matched_priority"] == {"matched": 2, "ald": 1, "ald_share": 0.5, "aged_70_plus": 2,
                                         "aged_70_plus_share": 1.0}
    assert stats["resolution_rate"] == 0.5, "2 matched of 4 gone out (matched 2, withdrawn 1, erased 1)"
    assert stats["acceptance_rate"] == 0.5, "2 accepted of 4 answered (2 accepted, 1 declined, 1 expired; 1 pending)"
    # May: Alice and Denis accepted, Bruno declined, Chloé expired; November: Fanny not answered yet.
    assert stats["acceptance_by_month"] == {"2026-05": 0.5, "2026-11": None}
    answers = {"alice": 1, "denis": 1, "bruno": 0, "chloe": 0}
    offered = history["offered_bands"]
    assert (offered["chloe"], history["bands"]["chloe"]) == ("medium", "high"), "Chloé rose while waiting again"
    by_band = {band: [answers[n] for n in answers if offered[n] == band] for band in ("high", "medium", "low")}
    assert stats["acceptance_by_band"] == {b: round(sum(v) / len(v), 3) if v else None for b, v in by_band.items()}
    assert stats["wait_to_match_by_month"] == {"2026-05": {"count": 2, "median_days": 42.5, "p90_days": 62.0}}


def test_a_matched_patients_corrected_phone_changes_no_figure_already_given(client, history):
    """Denis was matched in May at the priority he had then; his number corrected in November must not score him
    again with six more months "waited", and move him to another band of the wait-to-match figures."""
    denis = f"/api/v1/requests/{history['ids']['denis']}"
    before = client.get("/api/v1/stats", params=PERIOD, headers=history["coordinator"]).json()
    priority = client.get(denis, headers=history["secretary"]).json()["priority"]
    corrected = client.patch(denis, json={"patient": {"phone": "0655555556"}}, headers=history["secretary"])
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["patient"]["phone"] == "+33655555556" and corrected.json()["priority"] == priority
    after = client.get("/api/v1/stats", params=PERIOD, headers=history["coordinator"]).json()
    assert after["wait_to_match"] == before["wait_to_match"]


def test_a_matched_patients_corrected_criteria_are_scored_as_on_the_day_of_the_match(client, history):
    """His ALD, forgotten at registration, is added after the match: it counts, as the policy of the match had
    it; the months waited stay those waited until then, and the reasons still add up to the points."""
    denis = f"/api/v1/requests/{history['ids']['denis']}"
    before = client.get(denis, headers=history["secretary"]).json()["priority"]
    corrected = client.patch(denis, json={"criteria": {"ald": True}}, headers=history["secretary"])
    assert corrected.status_code == 200, corrected.text
    after = corrected.json()["priority"]
    assert after["points"] > before["points"] and sum(r["points"] for r in after["reasons"]) == after["points"]
    waited = [[r for r in p["reasons"] if r["code"] == "waited"] for p in (before, after)]
    assert waited[0] == waited[1], "the wait stopped at the match"


def test_filters_by_kind_and_period(client, history):
    speech = client.get("/api/v1/stats", params=PERIOD | {"kind": "bilan_orthophonique"},
                        headers=history["coordinator"]).json()
    assert [(f["month"], f["registered"]) for f in speech["flows"]] == [("2026-03", 1)]
    assert list(speech["by_status"]) == ["bilan_orthophonique"] and speech["by_status"]["bilan_orthophonique"]["waiting"] == 1
    assert (speech["offers"]["offered"], speech["offers"]["expired"]) == (1, 1)
    assert speech["wait_to_match"]["all"]["count"] == 0 and speech["resolution_rate"] is None
    may = client.get("/api/v1/stats", params={"start": "2026-05-01", "end": "2026-05-31"},
                     headers=history["coordinator"]).json()
    assert [(f["month"], f["matched"], f["registered"]) for f in may["flows"]] == [("2026-05", 2, 0)]
    assert may["cabinets"][0]["capacity_declared"] == 10 * (31 // 30)
    default = client.get("/api/v1/stats", headers=history["coordinator"]).json()
    assert (default["start"], default["end"]) == ("2025-11-23", "2026-11-22")
    assert may["by_status"] == default["by_status"], "the list as it stands: the period does not apply"


def test_a_cabinet_that_asks_for_its_batches_declares_no_capacity(client, history):
    browse = cabinet_body(name="Cabinet sans envoi", channels=[], batch_size=3, cadence_days=7)
    assert client.post("/api/v1/cabinets", json=browse, headers=history["coordinator"]).status_code == 201
    stats = client.get("/api/v1/stats", params=PERIOD, headers=history["coordinator"]).json()
    declared = {c["name"]: c["capacity_declared"] for c in stats["cabinets"]}
    assert declared["Cabinet sans envoi"] is None and declared["MSP Wazemmes"] == 10 * (266 // 30)
    lines = client.get("/api/v1/stats.csv", params=PERIOD, headers=history["coordinator"]).text.splitlines()
    assert "capacite_declaree_cabinet;Cabinet sans envoi;;" in lines, "an empty cell, not a zero"


def test_an_organisation_never_sees_another_and_an_admin_chooses(client, history):
    b = client.get("/api/v1/stats", params=PERIOD, headers=history["b"]).json()
    assert b["organisation"] == "cpts-b"
    assert [(f["month"], f["registered"], f["matched"]) for f in b["flows"]] == [("2026-03", 1, 0), ("2026-05", 0, 1)]
    assert [c["name"] for c in b["cabinets"]] == ["Cabinet de B"] and b["waiting"]["total"] == 0
    assert b["by_status"]["medecin_traitant"]["matched"] == 1 and sum(b["by_status"]["bilan_orthophonique"].values()) == 0
    refused = client.get("/api/v1/stats", params={"organisation": "cpts-b"}, headers=history["coordinator"])
    assert refused.status_code == 403
    assert client.get("/api/v1/stats", headers=history["secretary"]).status_code == 403
    everyone = client.get("/api/v1/stats", params=PERIOD, headers=history["admin"]).json()
    assert everyone["organisation"] is None
    assert sum(f["registered"] for f in everyone["flows"]) == 6 + 1
    assert everyone["by_status"]["medecin_traitant"]["matched"] == 2 + 1
    only_b = client.get("/api/v1/stats", params=PERIOD | {"organisation": "cpts-b"}, headers=history["admin"]).json()
    assert only_b["flows"] == b["flows"]


def test_the_csv_says_the_same_in_a_french_spreadsheets_format(client, history):
    answer = client.get("/api/v1/stats.csv", params=PERIOD, headers=history["coordinator"])
    assert answer.headers["content-type"].startswith("text/csv")
    lines = answer.text.lstrip("\ufeff").splitlines()
    assert lines[0] == "indicateur;detail;type;valeur"
    assert "demandes_matched;2026-05;medecin_traitant;2" in lines
    assert "demandes_par_statut;withdrawn;medecin_traitant;2" in lines and "demandes_par_statut;waiting;bilan_orthophonique;1" in lines
    assert "taux_resolution;;;0,5" in lines and "attente_mediane_jours;all;;42,5" in lines
    assert "refus_par_motif;too_far;;1" in lines
    assert "attente_en_cours_mediane_jours;all;;136,0" in lines and "attente_en_cours_p90_jours;all;;265,0" in lines
    assert "attente_mediane_jours_par_mois;2026-05;;42,5" in lines and "taux_acceptation_par_mois;2026-05;;0,5" in lines
    assert "taux_acceptation_par_mois;2026-11;;" in lines, "no answer yet: an empty cell, not a zero"


@pytest.mark.parametrize(("params", "field"), [
    ({"start": "2026-06-01", "end": "2026-05-01"}, "start"),
    ({"end": "9999-12-31"}, "end"),  # "no end" to some software: a period's edges must stay dates
    ({"end": "0001-01-01"}, "end"),
    ({"start": "9999-12-30", "end": "9999-12-31"}, "start"),
    ({"start": "1999-12-31"}, "start"),
    ({"start": "2010-01-01", "end": "2026-05-01"}, "start"),
    ({"start": "pas une date"}, "start"),
    ({"kind": "kinesitherapie"}, "kind"),
])
def test_a_bad_filter_is_refused_with_its_field(client, make_key, org_a, params, field):
    answer = client.get("/api/v1/stats", params=params, headers=make_key(org_a, Role.coordinator))
    assert answer.status_code == 422 and answer.json()["field"] == field


def test_a_cancelled_item_is_no_answer():
    """Cancelled (the patient left, the batch closed early): neither accepted nor refused by the cabinet."""
    items = [SimpleNamespace(status=s) for s in (ItemStatus.accepted, ItemStatus.declined, ItemStatus.cancelled)]
    assert acceptance(items) == 0.5
    assert acceptance([SimpleNamespace(status=ItemStatus.cancelled)]) is None


def test_a_request_back_from_the_archive_and_a_merged_duplicate_each_count_once(app, client, db, make_key, org_a):
    """Out once, when a request leaves for good: archived in April and back days later, Alice was matched in May,
    and so was Paul, registered twice then merged. Two people in, two matched: every request resolved."""
    moment = {"now": T0}
    app.dependency_overrides[request_time] = lambda: moment["now"]
    secretary, coordinator = make_key(org_a, Role.secretary), make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(name="MSP Wazemmes", batch_size=10, cadence_days=30),
                headers=coordinator)

    def register(first_name, last_name, phone):
        body = request_body(first_name=first_name, last_name=last_name, phone=phone, birth_date="1970-01-01", email=None)
        answer = client.post("/api/v1/requests", json=body, headers=secretary)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    alice, paul, twin = register("Alice", "Durand", "0611111111"), register("Paul", "Martin", "0622222222"), \
        register("Martin", "Paul", "0633333333")
    assert client.post(f"/api/v1/requests/{paul}/merge", json={"duplicate_id": twin}, headers=secretary).status_code == 200
    request = db.get(PatientRequest, alice)
    set_status(db, request, Status.archived, actor=SYSTEM, now=T1, reason="not_confirmed")
    confirm_waiting(db, request, actor=SYSTEM, now=T1 + timedelta(days=4))
    db.commit()
    moment["now"] = ROUND
    run = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()
    token = run["batches"][0]["offer_url"].rsplit("/", 1)[1]
    moment["now"] = ANSWER
    for request_id in (alice, paul):
        answer = client.post(f"/api/v1/offers/{token}/responses", json={"request_id": request_id, "decision": "accept"})
        assert answer.status_code == 200, answer.text
    moment["now"] = TODAY
    stats = client.get("/api/v1/stats", params=PERIOD, headers=coordinator).json()
    flows = {f["month"]: {k: v for k, v in f.items() if k not in ("month", "kind") and v} for f in stats["flows"]}
    assert flows == {"2026-03": {"registered": 2}, "2026-05": {"matched": 2}}
    assert stats["resolution_rate"] == 1.0


def test_a_removed_cabinet_keeps_its_figures_for_the_time_it_took_part(client, history):
    """Its offers still count in the total, so its row must too; its capacity stops the day it left, and a
    cabinet of the other kind is no row of a kind's figures."""
    removed = client.delete(f"/api/v1/cabinets/{history['gp']}", headers=history["coordinator"])
    assert removed.status_code == 204, removed.text
    stats = client.get("/api/v1/stats", params=PERIOD, headers=history["coordinator"]).json()
    cabinets = {c["name"]: c for c in stats["cabinets"]}
    assert (cabinets["MSP Wazemmes"]["offered"], cabinets["MSP Wazemmes"]["accepted"]) == (4, 2)
    assert sum(c["accepted"] for c in stats["cabinets"]) == stats["offers"]["accepted"]
    # Removed on 22 November, the last day: 2 March → 22 November, as before.
    assert cabinets["MSP Wazemmes"]["capacity_declared"] == 10 * (266 // 30)
    before = client.get("/api/v1/stats", params={"start": "2026-01-01", "end": "2026-03-31"},
                        headers=history["coordinator"]).json()
    assert {c["name"]: c["capacity_declared"] for c in before["cabinets"]} == {
        "MSP Wazemmes": 10 * (30 // 30), "Orthophonie Lille": 4 * (30 // 60)}, "from 2 March: 30 days of the quarter"
    speech = client.get("/api/v1/stats", params=PERIOD | {"kind": "bilan_orthophonique"},
                        headers=history["coordinator"]).json()
    assert [c["name"] for c in speech["cabinets"]] == ["Orthophonie Lille"]
    after = client.get("/api/v1/stats", params={"start": "2026-11-23", "end": "2026-12-31"},
                       headers=history["coordinator"]).json()
    assert "MSP Wazemmes" not in [c["name"] for c in after["cabinets"]], "gone before the period"


def test_days_and_months_are_the_organisations_own(client, db, clock, make_key, org_a, org_b):
    """Counted in UTC, a registration at 00:30 on New Year's Day in Lille fell in December, and one at 22:00 on
    30 November in Fort-de-France (an organisation rounding in Martinique's time) in December."""
    lille, fort_de_france = make_key(org_a, Role.coordinator), make_key(org_b, Role.coordinator)
    org_b.timezone = "America/Martinique"
    db.commit()
    clock["now"] = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    body = request_body(first_name="Josette", phone="0696123456", email=None)
    assert client.post("/api/v1/requests", json=body, headers=fort_de_france).status_code == 201
    clock["now"] = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert client.post("/api/v1/requests", json=request_body(email=None), headers=lille).status_code == 201
    clock["now"] = datetime(2027, 1, 2, 9, 0, tzinfo=UTC)
    january = client.get("/api/v1/stats", params={"start": "2027-01-01", "end": "2027-01-31"}, headers=lille).json()
    assert [(f["month"], f["registered"]) for f in january["flows"]] == [("2027-01", 1)]
    november = client.get("/api/v1/stats", params={"start": "2026-11-01", "end": "2026-11-30"},
                          headers=fort_de_france).json()
    assert [(f["month"], f["registered"]) for f in november["flows"]] == [("2026-11", 1)]
