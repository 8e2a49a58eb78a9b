"""Name normalisation for duplicate detection: "Éloïse-Marie  D'Arc" and "eloise marie darc" are one person."""

import unicodedata


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum())


def identity_key(first_name: str, last_name: str) -> str:
    return f"{fold(last_name)}|{fold(first_name)}"


def words(text: str) -> list[str]:
    """Lower-case words without accents: what a short typed reply ("Arrêt !", "oui merci") says."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c)).split()
