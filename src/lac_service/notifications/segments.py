"""How many SMS segments a text costs, and how to keep French text in the cheap GSM-7 alphabet.

One character outside GSM 03.38 (``ê``, ``ç``, a typographic apostrophe) switches the whole message to
UCS-2, where a segment holds 67 characters instead of 153: a kind three-line message would cost five SMS.
So SMS bodies are folded to GSM-7 before they are stored (``ê`` → ``e``, ``’`` → ``'``), as Twilio's
"smart encoding" would do. A character with no Latin fallback (an emoji, a name in another script) becomes
``?``: with a 90-character link, no useful SMS fits in two UCS-2 segments (134 characters), and the only
free text in our SMS is a cabinet's name, which the link shows in full.
"""

import unicodedata
from dataclasses import dataclass

# GSM 03.38 basic table (ESC excluded) and the extension table, whose characters cost two septets.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

_FALLBACKS = {
    "’": "'", "‘": "'", "«": '"', "»": '"', "“": '"', "”": '"', "–": "-", "—": "-", "…": "...",
    "\u00a0": " ", "\u202f": " ", "œ": "oe", "Œ": "OE",
}


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def to_gsm7(text: str) -> str:
    """Replaces each character outside GSM-7 by its nearest GSM-7 spelling (accents dropped, typographic
    punctuation made plain), or by ``?`` when there is none."""
    out = []
    for c in text:
        if c in GSM7_BASIC or c in GSM7_EXTENSION:
            out.append(c)
        elif c in _FALLBACKS:
            out.append(_FALLBACKS[c])
        else:
            base = "".join(d for d in unicodedata.normalize("NFKD", c) if not unicodedata.combining(d))
            out.append(base if base and is_gsm7(base) else "?")
    return "".join(out)


def count_segments(text: str) -> SegmentCount:
    """Counts as the network does: a multi-part message loses room to its header, and neither an escape
    pair (GSM-7) nor a surrogate pair (UCS-2) is split across two parts."""
    if is_gsm7(text):
        widths = [2 if c in GSM7_EXTENSION else 1 for c in text]
        single, part, encoding = GSM7_SINGLE, GSM7_PART, "GSM-7"
    else:
        widths = [2 if ord(c) > 0xFFFF else 1 for c in text]
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "UCS-2"
    units = sum(widths)
    if units <= single:
        return SegmentCount(encoding, units, 1 if units else 0)
    segments, room = 1, part
    for width in widths:
        if width > room:
            segments, room = segments + 1, part
        room -= width
    return SegmentCount(encoding, units, segments)
