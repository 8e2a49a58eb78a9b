"""Secrets handed out in links and keys: random, shown once, stored only as a hash.

SHA-256 is enough here (not argon2): these are 256-bit random values, not passwords, so a slow hash would
only slow every API call without making a stolen hash any easier to reverse.
"""

import base64
import hashlib
import hmac
import secrets


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def derive(secret: bytes, label: str) -> str:
    """A secret the service can rebuild from its own key and a stored, non-secret label (a link's nonce,
    a webhook's key id): nothing secret needs to be stored."""
    digest = hmac.new(secret, label.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
