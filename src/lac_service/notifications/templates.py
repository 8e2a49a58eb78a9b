"""Messages in plain, kind French, rendered once at enqueue time (``templates/{channel}/{name}.txt``).

Rendering at enqueue, not at send, means the outbox shows exactly what was (or will be) sent, and a
template change never alters a message already promised. Text only, so autoescape is off; a missing value
is an error (``StrictUndefined``) raised in the caller's transaction rather than a blank in an SMS.

A webhook has no template: its body is the event as JSON (``{"event": name, …context}``), for a machine.

An email template's first line is its subject, then a blank line, then the body. SMS bodies are folded to
GSM-7 (see ``segments``) and must fit in two segments (a cabinet's name is cut at 50 characters; the link
shows it in full): no diagnosis and no patient name ever goes in one, since an SMS shows on a locked screen.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from functools import cache
from pathlib import Path

import jinja2

from lac_service.kit.clock import PARIS
from lac_service.kit.phone import display_phone
from lac_service.notifications.models import Channel
from lac_service.notifications.segments import to_gsm7

TEMPLATE_DIR = Path(__file__).parent / "templates"

KIND_LABELS = {"medecin_traitant": "médecin traitant", "bilan_orthophonique": "bilan orthophonique"}
_WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)


class UnknownTemplate(ValueError):
    pass


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str


def date_fr(value: datetime, zone: tzinfo = PARIS) -> str:
    """``lundi 23 novembre à 18h00``, in the reader's time (metropolitan unless told), whatever the
    server's zone."""
    local = value.astimezone(zone)
    return f"{day_long_fr(local, zone)} à {clock_fr(local)}"


def clock_fr(value: time | datetime) -> str:
    """``08h00``: how every page and message writes a time of day (forms take ``08:00`` too)."""
    return f"{value:%H}h{value:%M}"


def and_fr(words: Sequence[str]) -> str:
    """``a, b et c``."""
    return " et ".join(filter(None, (", ".join(words[:-1]), *words[-1:])))


def clocks_fr(values: Sequence[time]) -> str:
    """``08h00, 12h00 et 18h00``."""
    return and_fr([clock_fr(value) for value in values])


def day_long_fr(value: datetime, zone: tzinfo = PARIS) -> str:
    """``lundi 23 novembre``: a day, where its hour says nothing (from the day a cabinet is due again)."""
    local = value.astimezone(zone)
    day = "1er" if local.day == 1 else str(local.day)
    return f"{_WEEKDAYS[local.weekday()]} {day} {_MONTHS[local.month - 1]}"


def kind_label(kind: object) -> str:
    return KIND_LABELS[str(kind)]


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # the templates ship with the code: no file check at each of a list's 100,000 messages
    )
    env.filters["date_fr"] = date_fr
    env.filters["kind_label"] = kind_label
    env.filters["phone_fr"] = display_phone
    return env


def available(channel: Channel) -> list[str]:
    return sorted(p.stem for p in (TEMPLATE_DIR / channel.value).glob("*.txt"))


def render(channel: Channel, name: str, context: dict[str, object]) -> Rendered:
    if channel is Channel.webhook:
        return Rendered(subject=None, body=json.dumps({"event": name, **context}, ensure_ascii=False, sort_keys=True))
    try:
        template = _environment().get_template(f"{channel.value}/{name}.txt")
    except jinja2.TemplateNotFound:
        raise UnknownTemplate(f"no {channel.value} template named {name!r}") from None
    text = template.render(**context).strip()
    if channel is Channel.sms:
        return Rendered(subject=None, body=to_gsm7(" ".join(text.split())))
    subject, _, body = text.partition("\n")
    return Rendered(subject=subject.strip(), body=body.strip() + "\n")
