"""French phone numbers in any usual writing, stored in E.164.

Numbers are read as French first; a number that is not valid for metropolitan France is tried against the
overseas departments, so "0692 12 34 56" (Réunion) becomes +262692123456 and not an invalid +33 number.
"""

import phonenumbers

_REGIONS = ("FR", "RE", "GP", "MQ", "GF", "YT", "PM", "BL", "MF", "NC", "PF", "WF")


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
