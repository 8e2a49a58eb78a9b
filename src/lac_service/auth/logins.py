"""Staff logins for the screens: argon2 passwords, server-side sessions, a lockout against guessing.

After ``MAX_FAILURES`` wrong passwords in a row the account is locked for ``LOCK``; the answer to a wrong
e-mail, a wrong password and a locked account is the same, and an unknown e-mail still costs one argon2
check, so the login form tells nothing about who has an account.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy.orm import Session, sessionmaker

from lac_service.auth.models import StaffSession, User
from lac_service.db import read_scope
from lac_service.kit.tokens import hash_token, new_token

MAX_FAILURES = 5
LOCK = timedelta(minutes=15)
IDLE = timedelta(hours=4)
LIFETIME = timedelta(hours=12)
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """What an unknown e-mail is checked against, at the same cost: made by the app's start (``warm``), not by
    every import (a ``lac`` command needs none)."""
    return _hasher.hash("not a password of anyone")


def warm() -> None:
    _dummy_hash()


@dataclass(frozen=True)
class Opened:
    user: User
    token: str  # the cookie's value; only its hash is stored


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(sessions: sessionmaker[Session], *, email: str, password: str) -> str | None:
    """argon2 (about 0.1 s) against the stored hash, read before in a transaction that only reads, so that no
    lock is held while it runs; the hash the password matched, None when it matched none. An unknown e-mail
    costs the same check."""
    with read_scope(sessions) as session:
        stored = session.scalar(sa.select(User.password_hash).where(User.email == email.strip().lower()))
    try:
        return stored if _hasher.verify(stored or _dummy_hash(), password) and stored is not None else None
    except VerificationError:
        return None


def log_in(session: Session, *, email: str, verified: str | None, now: datetime) -> Opened | None:
    """``verified``: the hash ``check_password`` matched, just before; a password changed meanwhile (seen by
    someone, so replaced) opens nothing. None when refused; the failure is counted in the caller's
    transaction, which must commit."""
    user = session.scalar(sa.select(User).where(User.email == email.strip().lower()).with_for_update(of=User))
    password_ok = user is not None and verified is not None and user.password_hash == verified
    locked = user is not None and user.locked_until is not None and user.locked_until > now
    if user is None or not user.is_active or locked or not password_ok:
        if user is not None and not locked and not password_ok:
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILURES:
                user.locked_until, user.failed_logins = now + LOCK, 0
        return None
    user.failed_logins, user.locked_until = 0, None
    token = new_token(32)
    session.add(StaffSession(user_id=user.id, token_hash=hash_token(token), created_at=now, last_seen_at=now,
                             expires_at=now + LIFETIME))
    session.flush()
    return Opened(user, token)


def find_session(session: Session, token: str, *, now: datetime) -> StaffSession | None:
    """The live session of that cookie, its idle clock restarted; None when ended, idle or unknown."""
    found = session.scalar(sa.select(StaffSession).where(StaffSession.token_hash == hash_token(token)))
    if found is None or found.expires_at <= now or found.last_seen_at + IDLE <= now or not found.user.is_active:
        return None
    found.last_seen_at = now
    return found


def log_out(session: Session, token: str) -> None:
    session.execute(sa.delete(StaffSession).where(StaffSession.token_hash == hash_token(token)))


def forget_ended(session: Session, *, now: datetime) -> int:
    """Nightly: sessions past their lifetime or idle for good."""
    result = session.execute(
        sa.delete(StaffSession).where(sa.or_(StaffSession.expires_at <= now, StaffSession.last_seen_at <= now - IDLE))
    )
    return result.rowcount or 0  # type: ignore[attr-defined]
