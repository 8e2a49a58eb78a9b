"""Every page and route reached by a link's token: a random, truncated, expired or revoked token is a 404
that says nothing, and a near miss of a real token costs the same time as a random one."""

import statistics
import time
from datetime import timedelta

import pytest

from lac_service.auth.models import Role
from lac_service.kit.tokens import new_token
from lac_service.offers.service import KEPT_AFTER_DEADLINE
from tests.payloads import cabinet_body, request_body

PATIENT = "Bérénice"


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


@pytest.fixture
def links(client, make_key, org_a):
    """A patient's tracking link, the offer link of the batch she is in, and the cabinet's standing link."""
    coordinator = make_key(org_a, Role.coordinator)
    created = client.post("/api/v1/requests", json=request_body(first_name=PATIENT), headers=coordinator).json()
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator).json()
    run = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()
    standing = client.get(f"/api/v1/cabinets/{cabinet['id']}/link", headers=coordinator).json()["url"]
    return {
        "headers": coordinator, "request": created["id"], "cabinet": cabinet["id"],
        "suivi": _token(created["tracking_url"]), "o": _token(run["batches"][0]["offer_url"]),
        "praticien": _token(standing),
    }


def _uses(token: str) -> dict[str, list[tuple[str, str, dict | None]]]:
    """What a holder of each kind of link can do with it, through the API and the screens."""
    return {
        "o": [("GET", f"/api/v1/offers/{token}", None), ("GET", f"/o/{token}", None),
              ("POST", f"/api/v1/offers/{token}/responses", {"request_id": 1, "decision": "accept"})],
        "praticien": [("GET", f"/api/v1/practitioner/{token}", None), ("GET", f"/praticien/{token}", None),
                      ("PUT", f"/api/v1/practitioner/{token}/participation", {"paused": True}),
                      ("POST", f"/api/v1/practitioner/{token}/batch-request", None)],
        "suivi": [("GET", f"/suivi/{token}", None)],
    }


def _assert_dead(client, kind: str, token: str) -> None:
    for method, path, body in _uses(token)[kind]:
        answer = client.request(method, path, json=body)
        assert answer.status_code == 404, (path, answer.status_code)
        assert PATIENT not in answer.text


def _works(client, kind: str, token: str) -> bool:
    method, path, _ = _uses(token)[kind][0]
    return client.request(method, path).status_code == 200


@pytest.mark.parametrize("kind", ["o", "praticien", "suivi"])
def test_random_and_truncated_tokens_are_404(client, links, kind):
    real = links[kind]
    assert _works(client, kind, real)
    for forged in (new_token(32), real[:-1], real[:16], real[:-1] + ("A" if real[-1] != "A" else "B")):
        _assert_dead(client, kind, forged)
    assert _works(client, kind, real), "nothing was changed by the forged tries"


def test_an_expired_offer_link_is_404(client, clock, links):
    """Past its deadline (14 days) it answers nothing; 30 days later it shows nothing either."""
    clock["now"] += timedelta(days=15)
    refused = client.post(f"/api/v1/offers/{links['o']}/responses", json={"request_id": 1, "decision": "accept"})
    assert refused.status_code == 404
    clock["now"] += KEPT_AFTER_DEADLINE
    _assert_dead(client, "o", links["o"])


def test_a_revoked_standing_link_is_404_when_replayed(client, links):
    client.delete(f"/api/v1/cabinets/{links['cabinet']}/link", headers=links["headers"])
    _assert_dead(client, "praticien", links["praticien"])
    fresh = _token(client.get(f"/api/v1/cabinets/{links['cabinet']}/link", headers=links["headers"]).json()["url"])
    assert fresh != links["praticien"] and _works(client, "praticien", fresh)


def test_an_erased_patients_tracking_link_is_404_when_replayed(client, links):
    assert client.delete(f"/api/v1/requests/{links['request']}", headers=links["headers"]).status_code == 204
    _assert_dead(client, "suivi", links["suivi"])


def _near_miss(real: str, i: int) -> str:
    """The real token with its last character changed (never to itself)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return real[:-1] + alphabet[(alphabet.index(real[-1]) + 1 + i % 63) % 64]


def test_a_near_miss_costs_the_same_time_as_a_random_token(app, client, links):
    """Tokens are looked up by their SHA-256, so sharing a prefix with a real token buys nothing. Timed
    interleaved, compared by median with a wide margin: a prefix lookup then a plain comparison of the rest
    would show as a lasting gap, noise does not."""
    settings = app.state.settings
    app.state.settings = settings.model_copy(
        update={"web": settings.web.model_copy(update={"token_page_per_minute": 100000})}
    )
    real = links["o"]
    samples: dict[str, list[float]] = {"near": [], "random": []}
    for i in range(300):
        for label in ("near", "random") if i % 2 else ("random", "near"):
            token = _near_miss(real, i) if label == "near" else new_token(32)
            started = time.perf_counter()
            answer = client.get(f"/api/v1/offers/{token}")
            samples[label].append(time.perf_counter() - started)
            assert answer.status_code == 404
    app.state.settings = settings
    ratio = statistics.median(samples["near"]) / statistics.median(samples["random"])
    assert 0.67 < ratio < 1.5, ratio
