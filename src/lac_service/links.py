"""Links sent to people: ``/suivi/…`` for a patient, ``/o/…`` for a batch offer, ``/praticien/…`` for a
cabinet's standing page.

A link's token is an HMAC of a random per-row nonce under the service's secret key, and only the token's
SHA-256 is stored and looked up; a message's text keeps its links only until it is sent (``without_tokens``).
A copy of the database therefore opens no link already sent, while the service can rebuild one to send it
again (a match message pointing to the tracking page, a lost link re-sent by a secretary). After a change of
secret key a rebuilt link is a new one and the old one stops working.
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Path

from lac_service.config import AppSettings, Settings
from lac_service.kit.tokens import derive, hash_token, new_token


class LinkKind(StrEnum):
    """The value is the path under the site's root."""

    tracking = "suivi"
    offer = "o"
    practitioner = "praticien"


@dataclass(frozen=True)
class Issued:
    nonce: str
    token: str
    token_hash: str


@dataclass(frozen=True)
class Links:
    site_url: str
    secret: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> "Links":
        return cls(str(settings.public_base_url).rstrip("/"), settings.secret_key.get_secret_value().encode())

    def issue(self, kind: LinkKind) -> Issued:
        return self.rebuild(kind, new_token(16))

    def rebuild(self, kind: LinkKind, nonce: str) -> Issued:
        token = derive(self.secret, f"{kind.value}:{nonce}")
        return Issued(nonce=nonce, token=token, token_hash=hash_token(token))

    def url(self, kind: LinkKind, token: str) -> str:
        return f"{self.site_url}/{kind.value}/{token}"


_TOKEN_IN_LINK = re.compile("/(" + "|".join(kind.value for kind in LinkKind) + r")/[A-Za-z0-9_-]{16,}")


def without_tokens(text: str) -> str:
    """A sent message's text as the outbox keeps it: each link's path without its token."""
    return _TOKEN_IN_LINK.sub(r"/\1/…", text)


async def _links(settings: AppSettings) -> Links:
    return Links.from_settings(settings)


AppLinks = Annotated[Links, Depends(_links)]
# A link's token in a path: anything else is refused before any lookup.
LinkToken = Annotated[str, Path(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
