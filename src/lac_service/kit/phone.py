"""French phone numbers in any usual writing, stored in E.164, shown as people write them.

Numbers are read as French first; a number that is not valid for metropolitan France is tried against the
overseas departments, so "0692 12 34 56" (Réunion) becomes +262692123456 and not an invalid +33 number.
"""

import phonenumbers

_REGIONS = ("FR", "RE", "GP", "MQ", "GF", "YT", "PM", "BL", "MF", "NC", "PF", "WF")
_DIALLED_WITH_0 = frozenset({"FR", "RE", "GP", "MQ", "GF", "YT", "BL", "MF"})  # one numbering plan with France's


class InvalidPhone(ValueError):
    pass


def to_e164(raw: str) -> str:
    for region in _REGIONS:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException as exc:
            raise InvalidPhone(raw) from exc
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if raw.strip().startswith(("+", "00")):
            break
    raise InvalidPhone(raw)


def display_phone(e164: str | None) -> str:
    """A stored number as people dial it: "06 12 34 56 78" in France and its overseas departments (where
    "0692 12 34 56" is dialled from the mainland too), the international writing otherwise (the Pacific, a
    neighbouring country, or an overseas number whose national writing is also a mainland one). Whatever it
    shows reads back to the same number. No number, no text."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(number) in _DIALLED_WITH_0:
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        try:  # a form sent back unchanged must keep the number: "0596 30 12 34" would read as a mainland one
            if to_e164(national) == e164.replace(" ", ""):
                return national
        except InvalidPhone:
            pass
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
