"""Name normalisation for duplicate detection: "Éloïse-Marie  D'Arc" and "eloise marie darc" are one person."""

import unicodedata


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum())


def identity_key(first_name: str, last_name: str) -> str:
    return f"{fold(last_name)}|{fold(first_name)}"
