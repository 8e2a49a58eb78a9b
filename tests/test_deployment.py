"""The image and the compose file, checked without a Docker engine: the Dockerfile passes hadolint (from
PyPI), runs as a non-root user, has a health check, and leaves migrations to a separate one-off command; the
compose file passes the Compose Specification's schema (vendored by check-jsonschema) and runs the
migrations once, before the API and the worker, with no secret written in it."""

import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "docker-compose.yml"
BIN = Path(sys.executable).parent


def test_the_dockerfile_passes_hadolint():
    result = subprocess.run([str(BIN / "hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
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


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_compose_file_passes_the_compose_specification(tmp_path):
    result = _check_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("service_completed_successfully", "service_finished"))
    assert _check_compose(broken).returncode == 1, "the check would catch a mistake"


def test_the_compose_file_migrates_once_before_serving_and_holds_no_secret():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert set(services) == {"db", "migrate", "api", "worker", "proxy"}
    assert services["db"]["image"].startswith("postgis/postgis:")
    assert services["migrate"]["command"] == ["lac", "db", "upgrade"] and services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    lac = [services[name] for name in ("migrate", "api", "worker")]
    assert len({service["image"] for service in lac}) == 1, "one image for the three"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["api"]["command"][:2] == ["lac", "serve"] and services["worker"]["command"] == ["lac", "worker"]
    assert services["worker"]["healthcheck"] == {"disable": True}
    assert [name for name, service in services.items() if "ports" in service] == ["proxy"]
    for service in lac:
        environment = service["environment"]
        assert environment["LAC_ENVIRONMENT"] == "production"
        assert environment["LAC_SECRET_KEY"].startswith("${LAC_SECRET_KEY:?")
        assert "${POSTGRES_PASSWORD:?" in environment["LAC_DATABASE_URL"]
    assert services["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
