"""``docs/security.md`` names a test for each protection: every file and test it names exists, so the threat
model cannot drift from what is proved."""

import re

from tests.conftest import REPO

DOC = (REPO / "docs" / "security.md").read_text()


def _references() -> list[tuple[str, str | None]]:
    """(file, test) for each `tests/…` span; `…::name` continues the file named just before."""
    found, current = [], None
    for span in re.findall(r"`([^`]+)`", DOC):
        if span.startswith("tests/"):
            current, _, name = span.partition("::")
            found.append((current, name or None))
        elif span.startswith("…::") and current:
            found.append((current, span.removeprefix("…::")))
    return found


def test_every_test_the_threat_model_names_exists():
    references = _references()
    assert len(references) > 30
    for path, name in references:
        source = REPO / path
        assert source.is_file(), path
        if name:
            assert re.search(rf"^def {re.escape(name)}\(", source.read_text(), re.MULTILINE), f"{path}::{name}"


def test_the_threat_model_covers_the_owasp_api_top_ten():
    for number in range(1, 11):
        assert f"**API{number} " in DOC
