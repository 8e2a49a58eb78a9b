"""The two demands the service handles (SPEC §3); every package speaks of them."""

from enum import StrEnum


class Kind(StrEnum):
    medecin_traitant = "medecin_traitant"
    bilan_orthophonique = "bilan_orthophonique"
