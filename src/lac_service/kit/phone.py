"""French phone numbers in any usual writing, stored in E.164, shown as people write them.

Numbers are read as French first; a number that is not valid for metropolitan France is tried against the
overseas departments, so "0692 12 34 56" (Réunion) becomes +262692123456 and not an invalid +33 number, and
so does one the mainland's ranges overlap ("0596 30 12 34", a Martinique landline).
"""

import phonenumbers

_REGIONS = ("FR", "RE", "GP", "MQ", "GF", "YT", "PM", "BL", "MF", "NC", "PF", "WF")
_DIALLED_WITH_0 = frozenset({"FR", "RE", "GP", "MQ", "GF", "YT", "BL", "MF"})  # one numbering plan with France's
_OVERSEAS = tuple(region for region in _REGIONS if region in _DIALLED_WITH_0 - {"FR"})
_FIXED = phonenumbers.PhoneNumberType.FIXED_LINE
_MOBILES = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})
_LINES = _MOBILES | {_FIXED}


class InvalidPhone(ValueError):
    pass


def to_e164(raw: str) -> str:
    """A national writing that is both a mainland number and an overseas department's line or mobile
    ("0596 30 12 34") is the department's: those prefixes are its own in France's one numbering plan, which
    libphonenumber's mainland ranges merely overlap. A number written with its country code keeps it."""
    international = raw.strip().startswith(("+", "00"))
    for region in _REGIONS:
        number = _parse(raw, region)
        if phonenumbers.is_valid_number(number):
            if region == "FR" and not international and phonenumbers.number_type(number) == _FIXED:  # the overlap
                number = next((n for n in (_parse(raw, r) for r in _OVERSEAS) if _local_line(n)), number)
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if international:
            break
    raise InvalidPhone(raw)


def _local_line(number: phonenumbers.PhoneNumber) -> bool:
    """A department's own line or mobile. Not an 08 or 09 number: those belong to the whole plan, and
    libphonenumber types some of them as lines of Guadeloupe or Réunion."""
    return (phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in _LINES
            and phonenumbers.national_significant_number(number)[0] not in "89")


def _parse(raw: str, region: str) -> phonenumbers.PhoneNumber:
    try:
        return phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(raw) from exc


def takes_sms(e164: str) -> bool:
    """A mobile (or a number its plan does not tell from one): a landline never gets a text message, and
    sending it one only fails later, at the operator."""
    return phonenumbers.number_type(phonenumbers.parse(e164)) in _MOBILES


def display_phone(e164: str | None) -> str:
    """A stored number as people dial it: "06 12 34 56 78" in France and its overseas departments (where
    "0692 12 34 56" is dialled from the mainland too), the international writing otherwise (the Pacific, a
    neighbouring country, or an overseas 08 or 09 number, whose national writing is the mainland's). Whatever it
    shows reads back to the same number. No number, no text."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(number) in _DIALLED_WITH_0:
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        try:  # a form sent back unchanged must keep the number: an overseas "0800 …" would read as the mainland's
            if to_e164(national) == e164.replace(" ", ""):
                return national
        except InvalidPhone:
            pass
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
