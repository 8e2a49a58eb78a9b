"""Valid request bodies to start from; each test changes one thing."""

from copy import deepcopy
from typing import Any

_REQUEST: dict[str, Any] = {
    "kind": "medecin_traitant",
    "patient": {
        "first_name": "Élodie",
        "last_name": "Durand-Lefèvre",
        "birth_date": "1958-03-14",
        "phone": "06 12 34 56 78",
        "email": "elodie.durand@exemple.fr",
        "address": {"line": "12 rue Esquermoise", "postal_code": "59000", "city": "Lille"},
        "location": {"lat": 50.6394, "lon": 3.0598},
    },
    "criteria": {"ald": True},
    "consent": True,
}

_CABINET: dict[str, Any] = {
    "name": "Maison de santé Wazemmes",
    "kinds": ["medecin_traitant"],
    "address": {"line": "3 place de la Nouvelle Aventure", "postal_code": "59000", "city": "Lille"},
    "location": {"lat": 50.6285, "lon": 3.0485},
    "radius_km": 10,
    "batch_size": 8,
    "cadence_days": 42,
    "channels": ["sms", "email"],
    "phones": ["06 20 12 34 56"],
    "emails": ["accueil@msp-wazemmes.fr"],
}


def request_body(**patient: Any) -> dict[str, Any]:
    body = deepcopy(_REQUEST)
    body["patient"].update(patient)
    return body


def cabinet_body(**changes: Any) -> dict[str, Any]:
    body = deepcopy(_CABINET)
    body.update(changes)
    return body
