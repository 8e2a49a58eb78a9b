"""Creating organisations, users and API keys, and recognising a key when it comes back."""

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session, undefer_group

from lac_service.auth.logins import hash_password
from lac_service.auth.models import ApiKey, Organisation, Role, StaffSession, User
from lac_service.errors import Conflict, InvalidInput, NotFound
from lac_service.kit.fields import EmailAddress
from lac_service.kit.tokens import hash_token, new_token, token_matches

_KEY_PATTERN = re.compile(r"^lac_([0-9a-f]{12})_([A-Za-z0-9_-]{20,})$")
_SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str  # shown once, never stored


def create_organisation(session: Session, *, slug: str, name: str, now: datetime) -> Organisation:
    if not _SLUG_PATTERN.match(slug):
        raise InvalidInput("Identifiant d'organisation invalide (minuscules, chiffres et tirets).", field="slug")
    if session.scalar(sa.select(Organisation.id).where(Organisation.slug == slug)) is not None:
        raise Conflict(f"L'organisation « {slug} » existe déjà.", field="slug")
    organisation = Organisation(slug=slug, name=name, created_at=now)
    session.add(organisation)
    session.flush()
    return organisation


def get_organisation_by_slug(session: Session, slug: str, *, territory: bool = False) -> Organisation:
    """``territory``: with its (deferred) territory, in the same query."""
    query = sa.select(Organisation).where(Organisation.slug == slug)
    organisation = session.scalar(query.options(undefer_group("territory")) if territory else query)
    if organisation is None:
        raise NotFound(f"Organisation « {slug} » introuvable.", field="organisation")
    return organisation


def create_api_key(
    session: Session, *, organisation: Organisation, role: Role, name: str, now: datetime
) -> IssuedKey:
    prefix = secrets.token_hex(6)
    secret = f"lac_{prefix}_{new_token(32)}"
    api_key = ApiKey(
        organisation_id=organisation.id, name=name, role=role, prefix=prefix, key_hash=hash_token(secret),
        created_at=now,
    )
    session.add(api_key)
    session.flush()
    return IssuedKey(api_key=api_key, secret=secret)


def _by_prefix(session: Session, prefix: str) -> ApiKey | None:
    return session.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix))


def find_api_key(session: Session, presented: str, *, now: datetime) -> ApiKey | None:
    match = _KEY_PATTERN.match(presented)
    if match is None:
        return None
    api_key = _by_prefix(session, match.group(1))
    if api_key is None or not token_matches(presented, api_key.key_hash) or not api_key.works_at(now):
        return None
    return api_key


def get_api_key(session: Session, key_or_prefix: str) -> ApiKey:
    """By its prefix (as ``lac apikey list`` shows it) or the whole key."""
    match = _KEY_PATTERN.match(key_or_prefix)
    prefix = match.group(1) if match else key_or_prefix
    api_key = _by_prefix(session, prefix)
    if api_key is None:
        raise NotFound(f"Clé « {prefix[:16]} » introuvable.", field="key")
    return api_key


def list_api_keys(session: Session, organisation: Organisation) -> Sequence[ApiKey]:
    return session.scalars(
        sa.select(ApiKey).where(ApiKey.organisation_id == organisation.id).order_by(ApiKey.created_at, ApiKey.id)
    ).all()


def revoke_api_key(session: Session, api_key: ApiKey, *, at: datetime) -> None:
    """The key stops working at ``at`` (now, or the end of a rotation's overlap); never later than already set."""
    if api_key.revoked_at is None or at < api_key.revoked_at:
        api_key.revoked_at = at
    session.flush()


def rotate_api_key(session: Session, api_key: ApiKey, *, now: datetime, overlap: timedelta) -> IssuedKey:
    """A new key of the same organisation, role and name; the old one keeps working for ``overlap``, so the
    partner can deploy the new one without an outage."""
    if not api_key.works_at(now):
        raise Conflict("Cette clé est déjà révoquée : créez-en une nouvelle.", field="key")
    organisation = session.get_one(Organisation, api_key.organisation_id)
    issued = create_api_key(session, organisation=organisation, role=api_key.role, name=api_key.name, now=now)
    revoke_api_key(session, api_key, at=now + overlap)
    return issued


def create_user(
    session: Session, *, organisation: Organisation, email: str, full_name: str, role: Role, password: str,
    now: datetime,
) -> User:
    _check_password(password)
    try:  # it receives the notices of failed messages: a malformed one could not be queued
        email = TypeAdapter(EmailAddress).validate_python(email).lower()
    except ValidationError as error:
        raise InvalidInput(str(error.errors()[0]["msg"]), field="email") from None
    if session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise Conflict("Un utilisateur existe déjà avec cette adresse.", field="email")
    user = User(
        organisation_id=organisation.id, email=email, full_name=full_name, role=role,
        password_hash=hash_password(password), created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def _check_password(password: str) -> None:
    if len(password) < 12:
        raise InvalidInput("Le mot de passe doit faire au moins 12 caractères.", field="password")


def list_users(session: Session, organisation: Organisation) -> Sequence[User]:
    return session.scalars(sa.select(User).where(User.organisation_id == organisation.id).order_by(User.email)).all()


def get_user(session: Session, email: str) -> User:
    user = session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"Aucun utilisateur avec l'adresse « {email} ».", field="email")
    return user


def _end_sessions(session: Session, user: User) -> None:
    session.execute(sa.delete(StaffSession).where(StaffSession.user_id == user.id))


def set_active(session: Session, user: User, *, active: bool) -> None:
    """A login disabled stops at once, its open sessions closed: a colleague who left reads nothing more, even
    from a browser still logged in. Re-enabled, it logs in again."""
    user.is_active = active
    if not active:
        _end_sessions(session, user)
    session.flush()


def set_password(session: Session, user: User, password: str) -> None:
    """A new password (forgotten, or perhaps seen): the sessions opened with the old one end, and a lockout
    after wrong attempts is lifted."""
    _check_password(password)
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    _end_sessions(session, user)
    session.flush()
