"""Links are rebuilt from a nonce and the secret key; the database alone rebuilds none."""

import re

from lac_service.kit.tokens import hash_token
from lac_service.links import LinkKind, Links

LINKS = Links("https://lac.example.fr", b"secret")


def test_a_link_rebuilt_from_its_nonce_is_the_same_link():
    issued = LINKS.issue(LinkKind.offer)
    assert LINKS.rebuild(LinkKind.offer, issued.nonce) == issued
    assert issued.token_hash == hash_token(issued.token)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", issued.token)
    assert LINKS.url(LinkKind.offer, issued.token) == f"https://lac.example.fr/o/{issued.token}"


def test_the_token_depends_on_the_nonce_the_kind_and_the_key():
    issued = LINKS.issue(LinkKind.tracking)
    assert issued.token not in issued.nonce and issued.nonce not in issued.token
    assert LINKS.issue(LinkKind.tracking).token != issued.token
    assert LINKS.rebuild(LinkKind.offer, issued.nonce).token != issued.token, "an offer token never opens a tracking page"
    assert Links("https://lac.example.fr", b"other").rebuild(LinkKind.tracking, issued.nonce).token != issued.token
