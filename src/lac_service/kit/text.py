"""Name normalisation for duplicate detection: "Éloïse-Marie  D'Arc" and "eloise marie darc" are one person."""

import unicodedata

# The key columns' width. Folding can lengthen a name ("ß" gives "ss", an Arabic ligature 18 letters), so keys
# are cut to it: two names alike over their first 200 folded letters are one key, which is harmless.
KEY_LENGTH = 201


def fold(text: str) -> str:
    return "".join(filter(str.isalnum, unicodedata.normalize("NFKD", text.casefold())))


def identity_key(first_name: str, last_name: str) -> str:
    return f"{fold(last_name)}|{fold(first_name)}"[:KEY_LENGTH]


def person_key(first_name: str, last_name: str) -> str:
    """The name's words in alphabetical order: "Durand Élodie" typed the wrong way round ("Élodie" as the
    last name) gives the same key. Used to flag, never to refuse: two people may share it."""
    return " ".join(sorted(words(f"{first_name} {last_name}")))[:KEY_LENGTH]


def words(text: str) -> list[str]:
    """Lower-case words without accents: what a short typed reply ("Arrêt !", "oui merci") says."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c)).split()
