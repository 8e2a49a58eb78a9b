"""The image, checked without a Docker engine: the Dockerfile passes hadolint (installed from PyPI), runs as
a non-root user, has a health check, and leaves migrations to a separate one-off command."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"


def test_the_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_unprivileged_with_a_health_check_and_no_migration_at_start():
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    final_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")):]
    users = [line.split()[1] for line in final_stage if line.startswith("USER ")]
    assert users and users[-1] not in ("0", "root") and users[-1].isdigit(), "a numeric, non-root user"
    assert any(line.startswith("HEALTHCHECK ") and "/healthz" in " ".join(final_stage) for line in final_stage)
    command = next(line for line in reversed(final_stage) if line.startswith("CMD "))
    assert command == 'CMD ["lac", "serve"]', "serving does not migrate: `lac db upgrade` runs apart"
