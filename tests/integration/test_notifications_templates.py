"""Every SMS fits in two segments with the longest realistic values, and the segment counter counts as the
network does. No database involved."""

from datetime import UTC, datetime

import pytest

from lac_service.config import MAX_SITE_LENGTH
from lac_service.kit.clock import PARIS, local_zone
from lac_service.notifications.models import Channel
from lac_service.notifications.segments import count_segments, is_gsm7, to_gsm7
from lac_service.notifications.templates import TEMPLATE_DIR, UnknownTemplate, available, date_fr, render
from lac_service.replies.service import CALL, CONFIRMED_SEVERAL, NOTHING_FOUND, REPLIES, SEVERAL, TO_CABINET
from tests.conftest import make_settings

SITE = "https://liste-attente-commune.cpts-du-pays-de-montbeliard.fr"  # as long as LAC_PUBLIC_BASE_URL may be
LONG_LINK = SITE + "/suivi/" + "x" * 43  # and a 43-character token
LONGEST = {
    "kind": "bilan_orthophonique",
    "kinds": ["medecin_traitant", "bilan_orthophonique"],
    "link": LONG_LINK,
    "answer_by": "30/09",
    "count": 120,
    "deadline": datetime(2026, 9, 30, 21, 59, tzinfo=UTC),  # "mercredi 30 septembre à 23h59"
    "zone": PARIS,
    "cabinet_name": "Maison de santé pluriprofessionnelle universitaire Saint-Exupéry-des-Marronniers",
    "cabinet_phone": "+41860123456789",  # shown "+41 860 12 345 67 89", the longest writing a cabinet may have
    "organisation": "Communauté professionnelle territoriale de santé du Grand Besançon",
    "text": max((text.format(kind="bilan orthophonique et de médecin traitant",  # the answer to an SMS received
                             call=CALL.format(phone="+41 860 12 345 67 89"))
                 for text in (*REPLIES.values(), CONFIRMED_SEVERAL, SEVERAL, NOTHING_FOUND, TO_CABINET)), key=len),
}
AWKWARD_NAMES = [
    "Cabinet d’orthophonie Hélène Lefèvre-Brûlé & Cœur",  # typographic apostrophe, ê, û, œ
    "Centre Nguyễn Thị Ánh",  # Vietnamese diacritics
    "Cabinet محمد",  # no Latin fallback
    "Cabinet du Soleil ☀️",  # an emoji with a variation selector
    "Cabinet {Ortho} [Nord] ~ 100% €",  # GSM-7 extension characters count twice
]


def test_the_site_address_is_as_long_as_the_settings_allow_and_no_longer():
    assert len(SITE) == MAX_SITE_LENGTH
    make_settings("sqlite://", public_base_url=SITE + "/")
    with pytest.raises(ValueError, match=f"at most {MAX_SITE_LENGTH} characters"):
        make_settings("sqlite://", public_base_url=SITE + "x")


def test_segments_are_counted_as_the_network_does():
    assert count_segments("a" * 160) == count_segments("a" * 160)
    assert count_segments("a" * 160).segments == 1
    assert count_segments("a" * 161).segments == 2
    assert count_segments("a" * 306).segments == 2
    assert count_segments("a" * 307).segments == 3
    assert count_segments("€" * 80).units == 160 and count_segments("€" * 80).segments == 1
    # An escape pair is never split: 152 septets then "€" does not fit the first part's 153.
    assert count_segments("a" * 152 + "€" + "a" * 152).segments == 3
    assert count_segments("ê" * 70) == count_segments("ê" * 70)
    assert (count_segments("ê" * 70).encoding, count_segments("ê" * 70).segments) == ("UCS-2", 1)
    assert count_segments("ê" * 71).segments == 2 and count_segments("ê" * 134).segments == 2
    assert count_segments("ê" * 135).segments == 3
    assert count_segments("😊" * 35).units == 70 and count_segments("😊" * 35).segments == 1
    assert count_segments("é à è ù ì ò É Ç Ä Ö Ñ Ü ä ö ñ ü ß").encoding == "GSM-7"


def test_french_text_is_folded_into_gsm7():
    assert to_gsm7("Être à l’écoute — « ça » œuvre") == "Etre à l'écoute - \" ca \" oeuvre"
    assert to_gsm7("محمد 😊") == "???? ?"
    assert is_gsm7(to_gsm7("".join(AWKWARD_NAMES)))


@pytest.mark.parametrize("name", available(Channel.sms))
def test_every_sms_fits_two_gsm7_segments_with_the_longest_values(name):
    for phone in ("", LONGEST["cabinet_phone"]):
        body = render(Channel.sms, name, {**LONGEST, "cabinet_phone": phone}).body
        counted = count_segments(body)
        assert (counted.encoding, counted.segments) == ("GSM-7", 2) or counted.segments == 1, (name, counted, body)
        assert counted.units <= 306


@pytest.mark.parametrize("name", available(Channel.sms))
def test_the_sms_texts_themselves_need_no_folding(name):
    """The templates are written in GSM-7 French (no ê, ç, ’): only a value can need folding."""
    plain = {**LONGEST, "cabinet_name": "Cabinet des Tilleuls", "link": "https://x.fr/s/t"}
    template = (TEMPLATE_DIR / "sms" / f"{name}.txt").read_text()
    assert is_gsm7(template.replace("{{", "").replace("}}", "")), name
    assert is_gsm7(render(Channel.sms, name, plain).body)


@pytest.mark.parametrize("cabinet_name", AWKWARD_NAMES)
def test_a_match_sms_with_any_cabinet_name_stays_in_two_gsm7_segments(cabinet_name):
    body = render(Channel.sms, "match", {**LONGEST, "cabinet_name": cabinet_name}).body
    counted = count_segments(body)
    assert counted.encoding == "GSM-7" and counted.segments <= 2, (counted, body)


def test_an_sms_to_a_cabinet_names_no_patient_and_no_condition():
    """batch_offer renders from count, kinds, deadline, its zone and link only (StrictUndefined would fail on
    any other name), so it cannot carry a patient's name or diagnosis."""
    context = {k: LONGEST[k] for k in ("count", "kinds", "deadline", "zone", "link")}
    body = render(Channel.sms, "batch_offer", context).body
    assert body.startswith("Liste d'attente commune : 120 personnes attendent un médecin traitant ou un bilan "
                           "orthophonique")
    alone = render(Channel.sms, "batch_offer", {**context, "kinds": ["bilan_orthophonique"]}).body
    assert "attendent un bilan orthophonique près" in alone
    assert "mercredi 30 septembre à 23h59" in body
    assert "1 personne attend un" in render(Channel.sms, "batch_offer", {**context, "count": 1}).body


def test_every_email_renders_with_a_subject_and_the_link():
    context = {**LONGEST, "notification_id": 7, "channel_label": "SMS", "template": "match", "outcome": "failed",
               "attempts": 6, "error_code": "twilio:21211", "resource": "request:12"}
    for name in available(Channel.email):
        rendered = render(Channel.email, name, context)
        assert rendered.subject and "\n" not in rendered.subject and rendered.body.startswith("Bonjour,")
        assert name == "delivery_failure" or LONG_LINK in rendered.body


def test_a_missing_value_or_template_is_an_error_not_a_blank():
    with pytest.raises(Exception, match="link"):
        render(Channel.sms, "reconfirmation", {"kind": "medecin_traitant", "answer_by": "12/03"})
    with pytest.raises(UnknownTemplate):
        render(Channel.sms, "delivery_failure", {})


def test_dates_are_written_in_french_in_paris_time_unless_the_reader_lives_overseas():
    assert date_fr(datetime(2026, 12, 1, 8, 5, tzinfo=UTC)) == "mardi 1er décembre à 09h05"
    assert date_fr(datetime(2026, 7, 14, 16, 0, tzinfo=UTC)) == "mardi 14 juillet à 18h00"
    deadline = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)
    assert date_fr(deadline, local_zone("97200")) == "mardi 1er décembre à 18h00", "Fort-de-France, UTC-4"
    assert date_fr(deadline, local_zone("97400")) == "mercredi 2 décembre à 02h00", "Saint-Denis, UTC+4"
    assert date_fr(deadline, local_zone("97300")) == "mardi 1er décembre à 19h00", "Cayenne, UTC-3"
    assert date_fr(deadline, local_zone("97600")) == "mercredi 2 décembre à 01h00", "Mamoudzou, UTC+3"
    assert date_fr(deadline, local_zone("97133")) == date_fr(deadline, local_zone("97100")), "Saint-Barthélemy"
    assert date_fr(deadline, local_zone("20000")) == date_fr(deadline), "Ajaccio is metropolitan"


def test_the_match_message_gives_the_cabinets_number_as_people_dial_it():
    for channel in (Channel.sms, Channel.email):
        body = render(channel, "match", {**LONGEST, "cabinet_phone": "+33381123456"}).body
        assert "Appelez-le au 03 81 12 34 56" in body and "+33381123456" not in body, channel
