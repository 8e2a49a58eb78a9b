"""Secrets handed out in links and keys: random, shown once, stored only as a hash.

SHA-256 is enough here (not argon2): these are 256-bit random values, not passwords, so a slow hash would
only slow every API call without making a stolen hash any easier to reverse.
"""

import hashlib
import hmac
import secrets


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)
