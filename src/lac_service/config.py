"""Settings read from the environment (prefix ``LAC_``), validated once at start-up.

Secrets have development defaults so that ``make run`` works with nothing configured; outside development
the service refuses to start while any of them keeps its default.
"""

from datetime import time, timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Request
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AnyHttpUrl, BaseModel, Field, SecretStr, StringConstraints, field_validator, model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-change-me"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class RequestDefaults(BaseModel):
    """Per-kind default of the furthest a patient is asked to travel (SPEC §3: 50 km for speech therapy)."""

    max_distance_km_medecin_traitant: float = Field(default=30.0, gt=0, le=500)
    max_distance_km_bilan_orthophonique: float = Field(default=50.0, gt=0, le=500)
    reconfirm_every_days: int = Field(default=90, ge=7, le=3650, description="A waiting patient is asked this long after registering or last confirming.")
    reconfirm_grace_days: int = Field(default=21, ge=3, le=365, description="No answer this long after asking: "
                                      "archived. Three days at least: the question gives the last whole day to "
                                      "answer, in the patient's calendar, and it must not be the day it arrives.")
    purge_after_days: int = Field(default=365, ge=30, le=3650, description="A closed request's personal data is erased this long after.")


class GeocoderSettings(BaseModel):
    """The national address base (BAN) is off by default: the service locates homes offline from the
    postal code and the city; turning BAN on adds street-level precision where the network allows."""

    ban_enabled: bool = False
    ban_domain: str = "data.geopf.fr/geocodage"
    ban_scheme: Literal["https", "http"] = "https"
    ban_timeout_s: float = Field(default=3.0, gt=0, le=30)
    ban_rate_per_s: float = Field(default=40.0, gt=0, le=50, description="BAN allows 50 requests/s.")
    ban_min_score: float = Field(default=0.5, ge=0, le=1)


DEFAULT_REDACT_AFTER_HOURS = 48


class NotificationSettings(BaseModel):
    """``local`` keeps messages in the database (shown on /outbox in development), so that the demo runs
    with no provider account; ``twilio`` and ``smtp`` send for real."""

    sms_backend: Literal["local", "twilio"] = "local"
    email_backend: Literal["local", "smtp"] = "local"
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_from: str = Field(default="", description="Sender: a Twilio number in E.164, or an alphanumeric id.")
    twilio_api_base_url: str | None = Field(default=None, description="Tests only: a local fake of Twilio.")
    twilio_redact_after_hours: int = Field(
        default=DEFAULT_REDACT_AFTER_HOURS, ge=0, le=2160, description="Twilio's log keeps each SMS's text, links included, until it is "
        "redacted: done once its delivery report is final, or this long after sending without one. 0: never.")
    twilio_status_callback_url: str | None = Field(
        default=None, description="Where Twilio reports deliveries: the public URL of /api/v1/twilio/status."
    )
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_timeout_s: float = Field(default=10.0, gt=0, le=120)
    email_from: str = "LAC <ne-pas-repondre@lac.example.fr>"
    bounce_address: str = Field(
        default="", description="The envelope sender (Return-Path): the mailbox that receives the reports of e-mails "
                                "that could not be delivered, read by `lac bounce`. Empty: the address of email_from."
    )
    max_attempts: int = Field(default=6, ge=1, le=50)
    backoff_base_s: float = Field(default=30.0, ge=0, le=3600, description="Doubles after each failure.")
    rate_per_s: float = Field(default=20.0, gt=0, le=1000, description="Provider rate limit, messages/second.")
    sending_timeout_s: float = Field(default=300.0, gt=0, description="A claim older than this is stuck.")
    batch_size: int = Field(default=50, ge=1, le=1000)
    concurrency: int = Field(default=8, ge=1, le=64)
    twilio_timeout_s: float = Field(default=10.0, gt=0, le=120)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120, description="One POST to a partner's webhook.")
    poll_interval_s: float = Field(default=1.0, gt=0, le=60, description="The worker's pause when nothing is due.")
    keep_days: int = Field(default=90, ge=1, le=3650, description="Then a settled message's recipient and text go.")
    coordinator_emails: list[str] = Field(
        default_factory=list, description="Told of every message that failed or whose fate is unknown, whatever its "
                                          "organisation (the operator); each organisation's coordinators are told of theirs."
    )

    @field_validator("coordinator_emails")
    @classmethod
    def _bare_addresses(cls, addresses: list[str]) -> list[str]:
        """Refused at start-up: a notice to a malformed address (``Astreinte <a@cpts.fr>``) cannot be queued."""
        try:
            return [validate_email(address, check_deliverability=False, allow_smtputf8=False).normalized
                    for address in addresses]
        except EmailNotValidError as error:
            raise ValueError(f"coordinator_emails: one bare address per entry ({error})") from None

    @model_validator(mode="after")
    def _claims_outlive_sends(self) -> "NotificationSettings":
        """A claim is judged stuck only once no send made under it can still be running; a shorter timeout
        would let a slow but alive dispatcher and the resolver both act on one message."""
        if self.sending_timeout_s <= max(self.twilio_timeout_s, self.smtp_timeout_s, self.webhook_timeout_s):
            raise ValueError("sending_timeout_s must exceed twilio_timeout_s, smtp_timeout_s and webhook_timeout_s")
        return self

    @property
    def bulk_per_s(self) -> float:
        """The pace of messages sent by the thousand (``outbox.IN_TURN``: an imported list told, the night's
        re-confirmation questions): half the provider's rate, so that the messages people wait for keep the other
        half."""
        return self.rate_per_s / 2


class JobSettings(BaseModel):
    """What ``lac worker`` runs besides sending: rounds at fixed local times (a missed time is caught up
    once, when the worker comes back, until the evening), offer expiry every few minutes, and a nightly re-scoring."""

    timezone: str = "Europe/Paris"
    match_at: list[time] = Field(default_factory=lambda: [time(8, 0)], description="Local times of the daily rounds; empty: none.")
    match_engine: Literal["greedy", "optimal"] = "greedy"
    rescore_at: time = time(3, 0)
    expire_every_s: float = Field(default=600.0, gt=0, le=86400)
    tick_s: float = Field(default=30.0, gt=0, le=3600, description="How often the worker looks at the clock.")

    @model_validator(mode="after")
    def _known_timezone(self) -> "JobSettings":
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, "Europe"
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        return self


class WebSettings(BaseModel):
    """The screens: limits against scripted submissions and guessing."""

    form_per_minute: int = Field(default=20, ge=1, le=10000, description="Public form submissions per address.")
    login_per_minute: int = Field(default=20, ge=1, le=10000, description="Login attempts per address.")
    token_page_per_minute: int = Field(default=120, ge=1, le=100000, description="Link pages per address.")


# Every SMS carries a link to the site: with an address this long at most, each fits in two messages, whatever
# the names and the kind (``tests/integration/test_notifications_templates.py`` renders them all with one).
MAX_SITE_LENGTH = 60


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAC_", env_nested_delimiter="__", extra="ignore")

    environment: Environment = Environment.development
    database_url: str = "sqlite:///./lac.db"
    database_echo: bool = False
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    public_base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    max_body_bytes: Annotated[int, Field(gt=0)] = 256 * 1024
    max_import_bytes: Annotated[int, Field(gt=0)] = 32 * 1024 * 1024
    idempotency_ttl_hours: Annotated[int, Field(gt=0)] = 24
    default_page_size: Annotated[int, Field(gt=0, le=200)] = 50
    offer_ttl_days: Annotated[int, Field(ge=1, le=90)] = 14
    default_organisation: str | None = Field(
        default=None, description="Slug of the organisation that receives public requests no territory claims."
    )
    cors_origins: list[Annotated[str, StringConstraints(pattern=r"^https?://[^/\s*]+$")]] = Field(
        default=[], description="Web origins (``https://app.partenaire.fr``) whose pages may call the API from a "
        "browser. Empty: none may.",
    )
    threads: Annotated[int, Field(ge=1, le=200)] = Field(
        default=8, description="Requests each server process works on at once (the others wait their turn). "
        "Their work is mostly Python, which runs one thread at a time: more threads only take turns faster, "
        "and cost more. Raise it when requests wait on the network (BAN turned on and slow).",
    )
    migrations_dir: str | None = None
    requests: RequestDefaults = RequestDefaults()
    geocoder: GeocoderSettings = GeocoderSettings()
    notifications: NotificationSettings = NotificationSettings()
    jobs: JobSettings = JobSettings()
    web: WebSettings = WebSettings()

    @field_validator("public_base_url")
    @classmethod
    def _short_enough_for_texts(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(url).rstrip("/")) > MAX_SITE_LENGTH:
            raise ValueError(f"LAC_PUBLIC_BASE_URL must be at most {MAX_SITE_LENGTH} characters: every SMS carries "
                             "a link to the site, and must fit in two messages")
        return url

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> "Settings":
        if self.environment is not Environment.development and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError("LAC_SECRET_KEY must be set outside development (it keys tokens and links)")
        return self

    @property
    def secure_cookies(self) -> bool:
        return self.public_base_url.scheme == "https"

    @property
    def secret(self) -> bytes:
        return self.secret_key.get_secret_value().encode()

    @property
    def idempotency_ttl(self) -> timedelta:
        return timedelta(hours=self.idempotency_ttl_hours)

    def max_distance_default(self, kind: str) -> float:
        return getattr(self.requests, f"max_distance_km_{kind}")


@cache
def get_settings() -> Settings:
    return Settings()


async def app_settings(request: Request) -> Settings:
    """The settings the app was built with (``create_app(settings)``), not the environment's."""
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(app_settings)]
