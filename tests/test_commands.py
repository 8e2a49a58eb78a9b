"""The ``lac`` command and ``make run``, run as an operator would, on a database of their own."""

import json
import os
import re
import sqlite3
import signal
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.orm import Session

from lac_service.kit.clock import utcnow
from tests.conftest import REPO
from tests.fakes.smtp import free_port

LAC = [sys.executable, "-m", "lac_service.cli"]


@pytest.fixture
def env(tmp_path):
    return os.environ | {"LAC_DATABASE_URL": f"sqlite:///{tmp_path / 'ops.db'}", "LAC_ENVIRONMENT": "development"}


def lac(env, *args, input=None):
    return subprocess.run(
        [*LAC, *args], env=env, input=input, capture_output=True, text=True, timeout=60, check=False
    )


def test_bootstrap_an_organisation_with_a_key_that_works(env):
    assert lac(env, "db", "upgrade").returncode == 0
    created = lac(env, "org", "create", "cpts-flandre", "--name", "CPTS Flandre")
    assert created.returncode == 0, created.stderr
    again = lac(env, "org", "create", "cpts-flandre", "--name", "CPTS Flandre")
    assert again.returncode == 1
    assert "existe déjà" in again.stderr
    key = lac(env, "apikey", "create", "--org", "cpts-flandre", "--role", "coordinator")
    assert key.returncode == 0
    secret = key.stdout.strip()
    assert re.fullmatch(r"lac_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", secret)
    assert "plus jamais affichée" in key.stderr
    unknown = lac(env, "apikey", "create", "--org", "nowhere", "--role", "partner")
    assert "introuvable" in unknown.stderr

    user = lac(
        env, "user", "create", "--org", "cpts-flandre", "--email", "Coord@CPTS-Flandre.fr", "--name", "Anne Coord",
        "--role", "coordinator", "--password-stdin", input="un mot de passe assez long\n",
    )
    assert user.returncode == 0, user.stderr
    short = lac(
        env, "user", "create", "--org", "cpts-flandre", "--email", "b@cpts.fr", "--name", "B", "--role",
        "secretary", "--password-stdin", input="court\n",
    )
    assert "12 caractères" in short.stderr

    from fastapi.testclient import TestClient

    from lac_service.config import Settings
    from lac_service.main import create_app

    with TestClient(create_app(Settings(database_url=env["LAC_DATABASE_URL"]))) as client:
        answer = client.get("/api/v1/cabinets", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200


def test_a_password_asked_is_typed_twice_and_two_different_change_nothing(env):
    """Without a terminal (``start_new_session``), the prompts read what is typed from standard input."""
    assert lac(env, "db", "upgrade").returncode == 0
    assert lac(env, "org", "create", "cpts-flandre", "--name", "CPTS Flandre").returncode == 0

    def create(typed: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*LAC, "user", "create", "--org", "cpts-flandre", "--email", "anne@cpts-flandre.fr", "--name", "Anne",
             "--role", "coordinator"], env=env, input=typed, capture_output=True, text=True, timeout=60, check=False,
            start_new_session=True)

    differ = create("un mot de passe assez long\nun mot de passe assez lonG\n")
    assert differ.returncode == 1 and "Les deux saisies diffèrent : rien n'est changé." in differ.stderr
    assert "Le même, une seconde fois" in differ.stderr, "the second prompt"
    database = sqlite3.connect(env["LAC_DATABASE_URL"].removeprefix("sqlite:///"))
    assert database.execute("SELECT count(*) FROM users").fetchone() == (0,)
    assert create("un mot de passe assez long\n" * 2).returncode == 0
    assert database.execute("SELECT email FROM users").fetchall() == [("anne@cpts-flandre.fr",)]
    database.close()


def test_keys_are_listed_rotated_and_revoked(env):
    from fastapi.testclient import TestClient

    from lac_service.config import Settings
    from lac_service.main import create_app

    lac(env, "db", "upgrade")
    lac(env, "org", "create", "cpts-flandre", "--name", "CPTS Flandre")
    first = lac(env, "apikey", "create", "--org", "cpts-flandre", "--role", "partner", "--name", "logiciel").stdout.strip()
    prefix = first.split("_")[1]
    rotated = lac(env, "apikey", "rotate", prefix, "--overlap-days", "7")
    assert rotated.returncode == 0, rotated.stderr
    second = rotated.stdout.strip()
    assert second != first and "fonctionne encore 7 jour(s)" in rotated.stderr
    listed = lac(env, "apikey", "list", "--org", "cpts-flandre").stdout.splitlines()
    assert len(listed) == 2
    assert listed[0].startswith(f"{prefix}\tpartner\tlogiciel\t") and "active jusqu’au" in listed[0]
    assert listed[1].endswith("\tactive")
    revoked = lac(env, "apikey", "revoke", second)
    assert revoked.returncode == 0 and "révoquée" in revoked.stdout
    refused = lac(env, "apikey", "rotate", second)
    assert refused.returncode == 1 and "déjà révoquée" in refused.stderr
    with TestClient(create_app(Settings(database_url=env["LAC_DATABASE_URL"]))) as client:
        assert client.get("/api/v1/requests", headers={"Authorization": f"Bearer {first}"}).status_code == 200
        assert client.get("/api/v1/requests", headers={"Authorization": f"Bearer {second}"}).status_code == 401


def test_demo_loads_once(env):
    lac(env, "db", "upgrade")
    first = lac(env, "demo", "--if-empty")
    assert "lac_" in first.stdout
    second = lac(env, "demo", "--if-empty")
    assert "rien n'est ajouté" in second.stdout
    assert lac(env, "org", "create", "cpts-flandre", "--name", "CPTS Flandre").returncode == 0
    matched = lac(env, "match")  # two organisations: a round for each, on each one's dashboard
    assert re.match(r"Tours nos (\d+) et (?!\1)\d+ : \d+ demande\(s\) en attente", matched.stdout), matched.stdout
    alone = lac(env, "match", "--org", "cpts-flandre")
    assert re.match(r"Tour n° \d+ : 0 demande\(s\) en attente, 0 cabinet\(s\) dus\.", alone.stdout), alone.stdout


def test_each_command_of_the_demo_day_runs_on_its_own(env):
    """Each command imports only what it uses: one that writes still finds every table its rows point to."""
    assert lac(env, "db", "upgrade").returncode == 0 and lac(env, "demo").returncode == 0
    database = env["LAC_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE requests SET priority_points = 1")  # stale scores, as after a new policy
    rescored = lac(env, "rescore")
    assert rescored.returncode == 0, rescored.stderr
    assert re.fullmatch(r"Scores mis à jour : [1-9]\d* demande\(s\)\.\n", rescored.stdout)
    for command in (("match",), ("expire-offers",), ("reconfirm",), ("purge",),
                    ("apikey", "list", "--org", "cpts-demo")):
        done = lac(env, *command)
        assert done.returncode == 0 and not done.stderr, (command, done.stderr)


def test_worker_once_runs_the_days_round_and_sends_its_messages(env):
    """On the demo: the scheduled round offers batches by email (local backend: kept in the database). Its time
    is this minute, whatever the hour the test runs (a round missed is caught up in its own evening at the latest),
    and midnight in case the day turns before the worker starts."""
    minute = f"{utcnow().astimezone(ZoneInfo('Europe/Paris')):%H:%M}"
    env = env | {"LAC_JOBS__MATCH_AT": json.dumps(sorted({"00:00", minute}))}
    assert lac(env, "db", "upgrade").returncode == 0
    assert lac(env, "demo").returncode == 0
    first = lac(env, "worker", "--once")
    assert first.returncode == 0, first.stderr
    assert re.search(r"round:[1-9]", first.stderr), first.stderr
    assert re.search(r"dispatch: [1-9]\d* sent", first.stderr), first.stderr
    database = env["LAC_DATABASE_URL"].removeprefix("sqlite:///")
    offers = "SELECT status, count(*) FROM notifications WHERE template = 'batch_offer' GROUP BY status"
    with sqlite3.connect(database) as connection:
        sent = connection.execute(offers).fetchall()
    assert [status for status, _ in sent] == ["sent"], "the round's offers went at once"
    second = lac(env, "worker", "--once")
    assert "round:" not in second.stderr, "the day's round is not run twice"
    with sqlite3.connect(database) as connection:
        assert connection.execute(offers).fetchall() == sent, "nor its messages"


def test_bounce_reads_a_report_from_standard_input_and_asks_to_be_called_again_when_the_database_is_down(env):
    """As a Postfix ``pipe`` transport or fetchmail's ``--mda`` runs it: exit 0 is "done with this message"
    (read, or not one of ours), 75 is "keep it and try again later"."""
    import sqlalchemy as sa

    from lac_service.db import create_db_engine
    from lac_service.notifications.models import Channel, Notification, NotificationStatus
    from lac_service.notifications.outbox import enqueue
    from tests.fakes.bounce import delivery_report

    assert lac(env, "db", "upgrade").returncode == 0
    message_id = "<lac-1-5f0c2a9b7d31@lac.cpts-exemple.fr>"
    engine = create_db_engine(env["LAC_DATABASE_URL"])
    with Session(engine) as session:
        sent = enqueue(session, channel=Channel.email, recipient="elodie.durand@exemple.fr", template="tracking_link",
                       context={"kind": "medecin_traitant", "link": "https://lac.cpts-exemple.fr/suivi/t"},
                       idempotency_key="k", now=utcnow())
        sent.status, sent.provider_id = NotificationStatus.sent, message_id
        session.commit()
        sent_id = sent.id
    original = EmailMessage()
    original["To"], original["Message-ID"] = "elodie.durand@exemple.fr", message_id
    report = delivery_report(original).decode()

    read = lac(env, "bounce", input=report)
    assert read.returncode == 0 and read.stdout == f"Message n° {sent_id} : non remis (smtp:5.1.1), la coordination " \
                                                   "est prévenue.\n"
    with engine.connect() as connection:
        assert connection.scalar(sa.select(Notification.delivery_status)) == "bounced"
    assert lac(env, "bounce", input="Bonjour, je suis absente.\n").stdout.endswith("n'est pas un rapport de remise : ignoré.\n")

    down = lac(env | {"LAC_DATABASE_URL": f"postgresql+psycopg://lac@127.0.0.1:{free_port()}/lac"}, "bounce",
               input=report)
    assert down.returncode == 75 and "Base de données injoignable" in down.stderr


def test_openapi_check_fails_on_a_stale_file(env, tmp_path):
    stale = tmp_path / "openapi.json"
    stale.write_text("{}")
    assert lac(env, "openapi", "--check", "--out", str(stale)).returncode != 0
    assert lac(env, "openapi", "--out", str(stale)).returncode == 0
    assert lac(env, "openapi", "--check", "--out", str(stale)).returncode == 0


def test_help_lists_every_command(env):
    help_text = lac(env, "--help").stdout
    for command in ("db", "org", "apikey", "user", "demo", "rescore", "match", "worker", "dispatch", "openapi", "serve"):
        assert command in help_text


def test_production_refuses_the_default_secret(env):
    refused = lac(env | {"LAC_ENVIRONMENT": "production"}, "db", "upgrade")
    assert refused.returncode != 0
    assert "LAC_SECRET_KEY" in refused.stderr


def test_make_run_serves_health_and_demo_data_within_a_minute(env):
    port = free_port()
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail("make run did not serve /healthz within a minute:\n" + "".join(output))
        key = re.search(r"lac_[0-9a-f]{12}_\S+", "".join(output))
        assert key, "".join(output)
        listed = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/requests", headers={"Authorization": f"Bearer {key.group(0)}"}
        )
        assert listed.status_code == 200
        assert listed.json()["total"] == 40
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["status"] == "ok"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        process.stdout.close()


def test_a_login_is_disabled_at_once_enabled_again_and_given_a_new_password(env):
    from fastapi.testclient import TestClient

    from lac_service.config import Settings
    from lac_service.main import create_app
    from tests.api.test_web_pages import log_in

    lac(env, "db", "upgrade")
    lac(env, "org", "create", "cpts-flandre", "--name", "CPTS Flandre")
    email, old, new = "secretaire@cpts-flandre.fr", "un mot de passe assez long", "une autre phrase assez longue"
    lac(env, "user", "create", "--org", "cpts-flandre", "--email", email, "--name", "Sophie", "--role", "secretary",
        "--password-stdin", input=old + "\n")
    with TestClient(create_app(Settings(database_url=env["LAC_DATABASE_URL"]))) as client:
        assert log_in(client, email, old).status_code == 303
        assert client.get("/equipe", follow_redirects=False).status_code == 200
        cookies = dict(client.cookies)
        disabled = lac(env, "user", "disable", "--email", "Secretaire@CPTS-Flandre.fr")
        assert disabled.returncode == 0 and "sessions sont fermées" in disabled.stdout
        assert client.get("/equipe", follow_redirects=False).status_code == 303, "the open session ends at once"
        assert log_in(client, email, old).status_code == 401
        assert "désactivé" in lac(env, "user", "list", "--org", "cpts-flandre").stdout

        assert lac(env, "user", "enable", "--email", email).returncode == 0
        client.cookies.update(cookies)
        assert client.get("/equipe", follow_redirects=False).status_code == 303, "re-enabled, not its old sessions"
        short = lac(env, "user", "set-password", "--email", email, "--password-stdin", input="court\n")
        assert short.returncode == 1 and "12 caractères" in short.stderr
        assert log_in(client, email, old).status_code == 303
        assert lac(env, "user", "set-password", "--email", email, "--password-stdin", input=new + "\n").returncode == 0
        assert client.get("/equipe", follow_redirects=False).status_code == 303, "a new password ends the sessions"
        assert log_in(client, email, old).status_code == 401
        assert log_in(client, email, new).status_code == 303
    unknown = lac(env, "user", "disable", "--email", "personne@cpts-flandre.fr")
    assert unknown.returncode == 1 and "Aucun utilisateur" in unknown.stderr
