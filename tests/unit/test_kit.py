"""Domain-free helpers: phone numbers, names, ages, tokens, departments, settings."""

from datetime import UTC, date, datetime, timedelta
from itertools import islice

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lac_service.config import Environment, Settings
from lac_service.kit.clock import PARIS, daytime_slots, local_zone
from lac_service.kit.dates import age_on
from lac_service.kit.phone import InvalidPhone, display_phone, to_e164
from lac_service.kit.text import fold, identity_key
from lac_service.kit.tokens import hash_token, new_token, token_matches


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("01 42 34 56 78", "+33142345678"),
        ("+33 (0)6 12 34 56 78", "+33612345678"),
        ("0262 12 34 56", "+262262123456"),
        ("0590 12 34 56", "+590590123456"),
        ("0594 12 34 56", "+594594123456"),
        ("+32 470 12 34 56", "+32470123456"),
        # Overseas lines whose national writing libphonenumber also counts as mainland: the department's.
        ("0596 30 12 34", "+596596301234"),
        ("0269 61 12 34", "+262269611234"),
        ("+33 5 96 30 12 34", "+33596301234"),  # written with a country code: kept
        ("08 06 12 34 56", "+33806123456"),  # 08 numbers are the whole plan's: the mainland's
        ("0800 01 23 45", "+33800012345"),
    ],
)
def test_phone_numbers_become_e164(raw, e164):
    assert to_e164(raw) == e164


@pytest.mark.parametrize("raw", ["", "12", "06 12 34", "0612345678901234", "not a number", "+33 1", "00 00 00 00 00"])
def test_invalid_phone_numbers_are_refused(raw):
    with pytest.raises(InvalidPhone):
        to_e164(raw)


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+33612345678", "06 12 34 56 78"),
        ("+262692123456", "0692 12 34 56"),  # dialled so from the mainland too
        ("+590590123456", "0590 12 34 56"),
        ("+596596301234", "0596 30 12 34"),  # a Martinique landline, as dialled in France
        ("+596800012345", "+596 800 01 23 45"),  # "0800 01 23 45" is the mainland's number
        ("+32470123456", "+32 470 12 34 56"),
        ("+687201234", "+687 20.12.34"),  # New Caledonia: another numbering plan
    ],
)
def test_stored_numbers_are_shown_as_people_dial_them_and_read_back_the_same(e164, shown):
    assert display_phone(e164) == shown
    assert to_e164(shown) == e164


@pytest.mark.parametrize("region", ["FR", "RE", "GP", "MQ", "GF", "YT", "PM", "BL", "MF", "NC", "PF", "WF", "BE", "CH",
                                    "DE", "ES", "IT", "LU", "MC", "AD", "GB"])
def test_every_kind_of_number_shown_reads_back_to_itself(region):
    """A form sent back unchanged keeps its numbers: an overseas department's 08 numbers, for one, are also
    mainland writings, and are shown in the international writing."""
    examples = [phonenumbers.example_number_for_type(region, kind) for kind in phonenumbers.PhoneNumberType.values()]
    for e164 in {phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164) for n in examples if n}:
        assert to_e164(display_phone(e164)) == e164, (e164, display_phone(e164))


def test_names_fold_accents_case_hyphens_and_apostrophes():
    assert fold("Éloïse-Marie  D'Arc") == fold("eloise marie darc") == "eloisemariedarc"
    assert identity_key("Zoé", "Lefèvre") == identity_key("ZOE", "le fevre")
    assert identity_key("Zoé", "Lefèvre") != identity_key("Lefèvre", "Zoé")


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (date(2000, 2, 29), date(2001, 2, 28), 0),
        (date(2000, 2, 29), date(2001, 3, 1), 1),
        (date(1950, 11, 22), date(2026, 11, 22), 76),
        (date(1950, 11, 23), date(2026, 11, 22), 75),
    ],
)
def test_age_counts_birthdays_reached(born, day, age):
    assert age_on(born, day) == age


def test_tokens_are_random_and_checked_against_their_hash():
    token = new_token()
    assert len(token) >= 43 and token != new_token()
    assert token_matches(token, hash_token(token))
    assert not token_matches(token[:-1], hash_token(token))


def test_default_secret_is_refused_outside_development():
    assert Settings(environment=Environment.development)
    for environment in (Environment.test, Environment.production):
        with pytest.raises(ValidationError, match="LAC_SECRET_KEY"):
            Settings(environment=environment)
    assert Settings(environment=Environment.production, secret_key="a-real-secret-from-the-vault")


def test_words_of_a_short_reply_ignore_case_accents_and_punctuation():
    from lac_service.kit.text import words

    assert words(" Arrêt ! ") == ["arret"]
    assert words("OUI, merci beaucoup") == ["oui", "merci", "beaucoup"]
    assert words("…") == []


_LOCAL = st.text(alphabet="abcXYZ019.+-_'!#~", min_size=1, max_size=70)
_LABEL = st.text(alphabet="abcXYZ019-", min_size=1, max_size=12)
_DOMAIN = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_LABEL, min_size=1, max_size=3),
                    st.sampled_from(["fr", "COM", "org", "test", "local", "c", "x1", "xn--bcher-kva", "museum"]))


@settings(max_examples=1500, deadline=None)
@given(local=_LOCAL, domain=_DOMAIN)
def test_the_plain_email_shortcut_agrees_with_email_validator(local, domain):
    from email_validator import EmailNotValidError, validate_email

    from lac_service.kit.fields import _plain_email

    address = f"{local}@{domain}"
    shortcut = _plain_email(address)
    try:
        expected = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        assert shortcut is None, address
    else:
        assert shortcut in (None, expected), address


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("moment", "zone", "due"), [
    (utc(2026, 11, 22, 2, 0), "59", utc(2026, 11, 22, 8, 0)),  # 03:00 in Lille: 09:00 there
    (utc(2026, 11, 22, 12, 30), "59", utc(2026, 11, 22, 12, 30)),  # daytime: at once
    (utc(2026, 11, 22, 19, 0), "59", utc(2026, 11, 23, 8, 0)),  # 20:00 sharp is evening
    (utc(2026, 7, 1, 2, 0), "59", utc(2026, 7, 1, 7, 0)),  # summer time
    (utc(2026, 11, 22, 2, 0), "974", utc(2026, 11, 22, 5, 0)),  # 06:00 in La Réunion
    (utc(2026, 11, 22, 2, 0), "971", utc(2026, 11, 22, 13, 0)),  # 22:00 the evening before in Guadeloupe
])
def test_a_message_nobody_waits_for_waits_for_nine_in_the_morning_where_they_live(moment, zone, due):
    assert next(daytime_slots(moment, local_zone(zone), every_s=1)) == due


def test_bulk_messages_are_spread_and_stop_for_the_night():
    slots = list(islice(daytime_slots(utc(2026, 11, 22, 18, 58), PARIS, every_s=60), 4))
    assert slots == [utc(2026, 11, 22, 18, 58), utc(2026, 11, 22, 18, 59), utc(2026, 11, 23, 8, 0), utc(2026, 11, 23, 8, 1)]
    day = list(islice(daytime_slots(utc(2026, 11, 22, 8, 0), PARIS, every_s=0.5), 200_000))
    assert all(b - a == timedelta(seconds=0.5) or (b.hour, a.hour) == (8, 18) for a, b in zip(day, day[1:]))
    assert day[-1].date() == date(2026, 11, 24), "11 hours a day at two a second: 79,200 a day"
