"""The ``lac`` command: bootstrap and operations (SPEC §4). ``lac --help`` lists the commands.

Each command imports what it uses: the whole app takes seconds to import, and ``lac db upgrade``, ``lac apikey
create`` or a cron's ``lac expire-offers`` need a fraction of it.
"""

import argparse
from collections import Counter
from datetime import timedelta
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lac_service.auth.models import Role
from lac_service.config import Settings, get_settings
from lac_service.errors import AppError, InvalidInput
from lac_service.kinds import Kind
from lac_service.kit.clock import utcnow

OPENAPI_PATH = Path("openapi/openapi.json")


def _session(settings: Settings):  # type: ignore[no-untyped-def]
    """Every table is declared first: a write checks the tables a row points to (a request, its cabinet)."""
    from lac_service import all_models  # noqa: F401
    from lac_service.db import create_db_engine, create_session_factory, session_scope

    return session_scope(create_session_factory(create_db_engine(settings.database_url)))


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service import migrate
    from lac_service.db import create_db_engine

    migrate.upgrade(settings, create_db_engine(settings.database_url))
    print("Base de données à jour.")


def _read_territory(path: Path) -> dict[str, Any]:
    """A GeoJSON file, or a text file of postal codes separated by spaces, commas, semicolons or lines."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".geojson", ".json"):
        try:
            return {"geojson": json.loads(text), "postal_codes": None, "communes": None}
        except json.JSONDecodeError as error:
            raise SystemExit(f"Erreur : {path} n'est pas du JSON valide (ligne {error.lineno}).") from None
    from lac_service.geography.territories import listed_codes

    return {"geojson": None, "postal_codes": listed_codes(text), "communes": None}


def cmd_org_create(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.auth.service import create_organisation
    from lac_service.organisations.service import set_territory

    territory = _read_territory(args.territory) if args.territory else None
    now = utcnow()
    with _session(settings) as session:
        organisation = create_organisation(session, slug=args.slug, name=args.name, now=now)
        if territory is not None:
            set_territory(session, organisation, now=now, **territory)
        print(f"Organisation « {organisation.slug} » créée (id {organisation.id}).")


def cmd_apikey_create(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.auth.service import create_api_key, get_organisation_by_slug

    with _session(settings) as session:
        organisation = get_organisation_by_slug(session, args.org)
        issued = create_api_key(
            session, organisation=organisation, role=Role(args.role), name=args.name or args.role, now=utcnow()
        )
    print(issued.secret)
    print("Conservez cette clé : elle ne sera plus jamais affichée.", file=sys.stderr)


def cmd_apikey_list(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.auth.service import get_organisation_by_slug, list_api_keys

    now = utcnow()
    with _session(settings) as session:
        for key in list_api_keys(session, get_organisation_by_slug(session, args.org)):
            state = "active"
            if key.revoked_at is not None:
                until = "active jusqu’au" if key.works_at(now) else "révoquée le"
                state = f"{until} {key.revoked_at:%Y-%m-%d %H:%M} UTC"
            print(f"{key.prefix}\t{key.role.value}\t{key.name}\tcréée le {key.created_at:%Y-%m-%d}\t{state}")


def cmd_apikey_revoke(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.auth.service import get_api_key, revoke_api_key

    with _session(settings) as session:
        api_key = get_api_key(session, args.key)
        revoke_api_key(session, api_key, at=utcnow())
        print(f"Clé {api_key.prefix} révoquée : elle ne fonctionne plus.")


def cmd_apikey_rotate(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.auth.service import get_api_key, rotate_api_key

    overlap = timedelta(days=args.overlap_days)
    with _session(settings) as session:
        old = get_api_key(session, args.key)
        issued = rotate_api_key(session, old, now=utcnow(), overlap=overlap)
        print(issued.secret)
    print(f"Conservez cette clé : elle ne sera plus jamais affichée. L'ancienne ({old.prefix}) fonctionne encore "
          f"{args.overlap_days} jour(s).", file=sys.stderr)


def _password(args: argparse.Namespace) -> str:
    """Typed twice when asked, unseen: a slip would set a password nobody knows."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Mot de passe : ")
    if getpass.getpass("Le même, une seconde fois : ") != password:
        raise InvalidInput("Les deux saisies diffèrent : rien n'est changé.")
    return password


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.auth.service import create_user, get_organisation_by_slug

    password = _password(args)
    with _session(settings) as session:
        organisation = get_organisation_by_slug(session, args.org)
        user = create_user(
            session, organisation=organisation, email=args.email, full_name=args.name, role=Role(args.role),
            password=password, now=utcnow(),
        )
        print(f"Utilisateur {user.email} créé.")


def cmd_user_list(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.auth.service import get_organisation_by_slug, list_users

    with _session(settings) as session:
        for user in list_users(session, get_organisation_by_slug(session, args.org)):
            state = "actif" if user.is_active else "désactivé"
            print(f"{user.email}\t{user.full_name}\t{user.role.value}\t{state}")


def cmd_user_set_active(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.auth.service import get_user, set_active

    with _session(settings) as session:
        user = get_user(session, args.email)
        set_active(session, user, active=args.active)
        print(f"Utilisateur {user.email} réactivé." if args.active else
              f"Utilisateur {user.email} désactivé : ses sessions sont fermées.")


def cmd_user_set_password(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.auth.service import get_user, set_password

    password = _password(args)
    with _session(settings) as session:
        user = get_user(session, args.email)
        set_password(session, user, password)
        print(f"Mot de passe de {user.email} changé : ses sessions sont fermées.")


def cmd_demo(args: argparse.Namespace, settings: Settings) -> None:
    import sqlalchemy as sa

    from lac_service.auth.models import Organisation
    from lac_service.demo import DEMO_PASSWORD, DEMO_USERS, load_demo

    with _session(settings) as session:
        if args.if_empty and session.scalar(sa.select(sa.func.count()).select_from(Organisation)):
            print("Des données existent déjà : rien n'est ajouté.")
            return
        issued = load_demo(session, settings=settings, now=utcnow())
    print("Données de démonstration chargées (organisation « cpts-demo »).")
    print(f"Clé d'API administrateur de démonstration : {issued.secret}")
    for email in DEMO_USERS:
        print(f"Connexion de l'équipe (/equipe) : {email} / {DEMO_PASSWORD}")


def cmd_rescore(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.intake.ranking import rescore

    with _session(settings) as session:
        changed = rescore(session, now=utcnow(), kind=Kind(args.kind) if args.kind else None)
    print(f"Scores mis à jour : {changed} demande(s).")


def cmd_match(args: argparse.Namespace, settings: Settings) -> None:
    import sqlalchemy as sa

    from lac_service.auth.service import get_organisation_by_slug
    from lac_service.cabinets.models import Cabinet
    from lac_service.links import Links
    from lac_service.matching.service import run_round
    from lac_service.notifications.templates import and_fr

    with _session(settings) as session:
        organisation_id = get_organisation_by_slug(session, args.org).id if args.org else None
        result = run_round(
            session, organisation_id=organisation_id, kind=Kind(args.kind) if args.kind else None,
            engine_name=args.engine, now=utcnow(), actor="cli", offer_ttl=timedelta(days=settings.offer_ttl_days),
            links=Links.from_settings(settings), dry_run=args.dry_run,
        )
        names = dict(session.execute(sa.select(Cabinet.id, Cabinet.name)).all())
    numbers = [str(r.id) for r in result.rounds]  # one per organisation
    title = ("Simulation (rien n'est proposé)" if args.dry_run else "Aucune organisation" if not numbers
             else f"Tour n° {numbers[0]}" if len(numbers) == 1
             else f"Tours nos {and_fr(numbers)}")
    print(f"{title} : {result.requests_considered} demande(s) en attente, {result.cabinets_due} cabinet(s) dus.")
    for batch in result.batches:
        ids = ", ".join(str(r) for r in batch.request_ids)
        print(f"- {names[batch.cabinet_id]} (n° {batch.cabinet_id}) : {batch.people} personne(s) — demandes {ids}")
    for reason, count in sorted(Counter(result.unmatched.values()).items()):
        print(f"  sans proposition ({reason}) : {count}")


def cmd_import(args: argparse.Namespace, settings: Settings) -> None:
    """All or nothing: with a wrong row, the lines to fix are printed, nothing is written, exit status 1."""
    from lac_service.auth.service import get_organisation_by_slug
    from lac_service.imports.files import UnreadableFile
    from lac_service.imports.service import Importer, import_cabinets, import_requests
    from lac_service.links import Links

    if (args.kind or args.notify) and args.what == "cabinets":
        raise SystemExit("Erreur : --kind et --notify ne valent que pour une liste de demandes.")
    try:
        content = args.file.read_bytes()
    except OSError as error:
        raise SystemExit(f"Erreur : {args.file} ne peut pas être lu ({error.strerror}).") from None
    now = utcnow()
    with _session(settings) as session:
        organisation = get_organisation_by_slug(session, args.org)
        importer = Importer(organisation.id, "cli", organisation.id)
        try:
            if args.what == "requests":
                report = import_requests(
                    session, content, importer=importer, links=Links.from_settings(settings), now=now,
                    dry_run=args.dry_run, max_distance_km=settings.max_distance_default, kind=args.kind,
                    notify_per_s=settings.notifications.bulk_per_s if args.notify else None,
                )
            else:
                report = import_cabinets(session, content, importer=importer, now=now, dry_run=args.dry_run)
        except UnreadableFile as error:
            raise SystemExit(f"Erreur : {error}") from None
    for error in report.errors:
        print(f"ligne {error.line}" + (f", colonne « {error.column} »" if error.column else "") + f" : {error.message}")
    for duplicate in report.duplicates:
        where = (f"la demande n° {duplicate.existing_request_id}" if duplicate.existing_request_id
                 else f"la ligne {duplicate.same_as_line}")
        print(f"ligne {duplicate.line} : doublon de {where}, écartée")
    if report.errors:
        raise SystemExit(report.summary("ligne(s)", "importée(s)"))
    print(report.summary("ligne(s)", "importée(s)"))


def cmd_reconfirm(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.jobs import reconfirm_stale

    with _session(settings) as session:
        done = reconfirm_stale(session, settings, now=utcnow())
    print(f"Re-confirmation : {done.asked} patient(s) interrogé(s), {done.archived} demande(s) archivée(s) sans réponse.")


def cmd_purge(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.jobs import retention

    with _session(settings) as session:
        done = retention(session, settings, now=utcnow())
    print(f"Purge : {done.purged} demande(s) clôturée(s) effacée(s), {done.blanked} message(s) ancien(s) vidé(s), "
          f"{done.forgotten} réponse(s) gardée(s) pour les renvois (Idempotency-Key) effacée(s), "
          f"{done.uncached} adresse(s) localisée(s) par la BAN oubliée(s).")


def cmd_expire_offers(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.offers.service import expire_offers

    with _session(settings) as session:
        expired = expire_offers(session, now=utcnow())
    print(f"Propositions échues ou fermées : {expired} patient(s) remis en attente.")


def cmd_match_file(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.matching.files import MatchFileError, match_files

    try:
        summary = match_files(args.requests, args.cabinets, args.out, engine=args.engine)
    except MatchFileError as error:
        raise SystemExit(f"Erreur : {error}") from None
    print(
        f"{summary.matched} demande(s) attribuée(s) sur {summary.requests} ({summary.people_matched} personne(s)), "
        f"{summary.cabinets} cabinet(s), moteur {summary.engine} → {args.out}"
    )
    for reason, count in summary.unmatched.items():
        print(f"  sans attribution ({reason}) : {count}")


def cmd_dispatch(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.notifications import worker as notification_worker

    notification_worker.main([] if args.loop else ["--once"])


# sysexits.h: what a mail system (Postfix's pipe, fetchmail's MDA) reads as "keep the message, try later".
EX_TEMPFAIL = 75
_LARGEST_REPORT = 10 * 1024 * 1024  # our messages are a few kilobytes; a report returns one at most


def cmd_bounce(args: argparse.Namespace, settings: Settings) -> None:
    import sqlalchemy.exc

    from lac_service.notifications.bounces import record_bounce

    raw = sys.stdin.buffer.read(_LARGEST_REPORT + 1)
    if len(raw) > _LARGEST_REPORT:
        print("Message de plus de 10 Mo : ce n'est pas un rapport de remise d'un message du service, ignoré.")
        return
    try:
        with _session(settings) as session:
            recorded = record_bounce(session, raw, settings=settings.notifications, now=utcnow())
    except sqlalchemy.exc.OperationalError:
        print("Base de données injoignable : le rapport sera relu plus tard.", file=sys.stderr)
        raise SystemExit(EX_TEMPFAIL) from None
    print(recorded)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.jobs import run_worker
    from lac_service.notifications import worker as notification_worker

    run_worker(settings, once=args.once, stop=notification_worker.stop_on_signals())


def cmd_openapi(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service.main import create_app

    document = json.dumps(create_app(settings).openapi(), indent=2, ensure_ascii=False) + "\n"
    if args.check:
        if not args.out.exists() or args.out.read_text() != document:
            raise SystemExit(f"{args.out} is out of date: run `lac openapi`.")
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(document)
    print(f"{args.out} écrit.")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    from lac_service import serving

    serving.serve(host=args.host, port=args.port, workers=args.workers)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lac", description="Exploitation du service LAC.")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply the migrations (SQLite or PostgreSQL)").set_defaults(run=cmd_db_upgrade)

    org = commands.add_parser("org", help="organisations").add_subparsers(dest="org_command", required=True)
    org_create = org.add_parser("create", help="create an organisation (a CPTS, the regional platform)")
    org_create.add_argument("slug")
    org_create.add_argument("--name", required=True)
    org_create.add_argument(
        "--territory", type=Path, help="FILE.geojson (Polygon/MultiPolygon) or a text file of postal codes"
    )
    org_create.set_defaults(run=cmd_org_create)

    apikey = commands.add_parser("apikey", help="API keys").add_subparsers(dest="apikey_command", required=True)
    apikey_create = apikey.add_parser("create", help="create a key; it is printed once")
    apikey_create.add_argument("--org", required=True)
    apikey_create.add_argument("--role", required=True, choices=[r.value for r in Role])
    apikey_create.add_argument("--name")
    apikey_create.set_defaults(run=cmd_apikey_create)
    apikey_list = apikey.add_parser("list", help="an organisation's keys: prefix, role, name, state")
    apikey_list.add_argument("--org", required=True)
    apikey_list.set_defaults(run=cmd_apikey_list)
    apikey_revoke = apikey.add_parser("revoke", help="stop a key at once")
    apikey_revoke.add_argument("key", help="its prefix (from `list`) or the whole key")
    apikey_revoke.set_defaults(run=cmd_apikey_revoke)
    apikey_rotate = apikey.add_parser("rotate", help="issue a replacement; the old key works for the overlap")
    apikey_rotate.add_argument("key", help="its prefix (from `list`) or the whole key")
    apikey_rotate.add_argument("--overlap-days", type=int, choices=range(0, 31), default=7, metavar="0-30")
    apikey_rotate.set_defaults(run=cmd_apikey_rotate)

    user = commands.add_parser("user", help="screen logins").add_subparsers(dest="user_command", required=True)
    user_create = user.add_parser("create", help="create a login (password asked, or read from stdin)")
    user_create.add_argument("--org", required=True)
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--name", required=True)
    user_create.add_argument("--role", required=True, choices=[r.value for r in Role])
    user_create.add_argument("--password-stdin", action="store_true")
    user_create.set_defaults(run=cmd_user_create)
    user_list = user.add_parser("list", help="an organisation's logins, and whether each is active")
    user_list.add_argument("--org", required=True)
    user_list.set_defaults(run=cmd_user_list)
    for name, active, text in (("disable", False, "stop a login at once (a colleague who left): its sessions end"),
                               ("enable", True, "let a disabled login in again")):
        toggle = user.add_parser(name, help=text)
        toggle.add_argument("--email", required=True)
        toggle.set_defaults(run=cmd_user_set_active, active=active)
    user_password = user.add_parser("set-password", help="a new password (asked, or read from stdin); sessions end")
    user_password.add_argument("--email", required=True)
    user_password.add_argument("--password-stdin", action="store_true")
    user_password.set_defaults(run=cmd_user_set_password)

    demo = commands.add_parser("demo", help="load demo data")
    demo.add_argument("--if-empty", action="store_true", help="only when there is no organisation yet")
    demo.set_defaults(run=cmd_demo)

    rescore_parser = commands.add_parser(
        "rescore", help="refresh the priority of every waiting request (daily, and after an upgrade)"
    )
    rescore_parser.add_argument("--kind", choices=[k.value for k in Kind])
    rescore_parser.set_defaults(run=cmd_rescore)

    match = commands.add_parser("match", help="run a matching round (prints the batches and unmatched reasons)")
    match.add_argument("--kind", choices=[k.value for k in Kind])
    match.add_argument("--engine", choices=["greedy", "optimal"], default="greedy")
    match.add_argument("--org", help="one organisation's slug (default: every organisation)")
    match.add_argument("--dry-run", action="store_true", help="compute the batches, offer nothing")
    match.set_defaults(run=cmd_match)

    import_ = commands.add_parser("import", help="import a waiting list or cabinets from a CSV file (all or nothing)")
    import_.add_argument("what", choices=["requests", "cabinets"])
    import_.add_argument("file", type=Path, help="CSV, UTF-8 or Windows-1252, ';' or ',' separated")
    import_.add_argument("--org", required=True, help="the organisation's slug")
    import_.add_argument("--dry-run", action="store_true", help="report every bad line; write nothing")
    import_.add_argument("--kind", type=Kind, choices=list(Kind),
                         help="requests only: the type of rows that give none (the file may then have no 'type' "
                              "column)")
    import_.add_argument("--notify", action="store_true",
                         help="requests only: tell each patient imported, by SMS or e-mail, with their tracking link")
    import_.set_defaults(run=cmd_import)
    commands.add_parser(
        "reconfirm", help="ask waiting patients whether they still wait; archive those who did not answer (nightly)"
    ).set_defaults(run=cmd_reconfirm)
    commands.add_parser(
        "purge", help="erase the personal data of requests closed for longer than the retention period (nightly)"
    ).set_defaults(run=cmd_purge)
    commands.add_parser("expire-offers", help="send the pending patients of offers past their deadline, or closed, back to the queue") \
        .set_defaults(run=cmd_expire_offers)

    match_file = commands.add_parser("match-file", help="run the engine alone on CSV files (audit, benchmark)")
    match_file.add_argument("requests", type=Path, help="id,lat,lon,kind,priority,max_distance_km[,people]")
    match_file.add_argument("cabinets", type=Path, help="id,lat,lon,kind,radius_km,capacity")
    match_file.add_argument("--out", type=Path, required=True, help="request_id,cabinet_id,distance_km")
    match_file.add_argument("--engine", choices=["greedy", "optimal"], default="greedy")
    match_file.set_defaults(run=cmd_match_file)

    dispatch = commands.add_parser("dispatch", help="send the notifications that are due (once, or --loop)")
    dispatch.add_argument("--loop", action="store_true", help="keep polling until SIGTERM (the worker)")
    dispatch.set_defaults(run=cmd_dispatch)

    commands.add_parser(
        "bounce", help="read a mail server's report of an undelivered e-mail from standard input (a Postfix pipe, "
                       "fetchmail's --mda): the message is marked undelivered and its coordinators told"
    ).set_defaults(run=cmd_bounce)

    worker = commands.add_parser(
        "worker", help="the background process: scheduled rounds, offer expiry, re-scoring, and sending"
    )
    worker.add_argument("--once", action="store_true", help="run what is due once, then exit (cron)")
    worker.set_defaults(run=cmd_worker)

    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--out", type=Path, default=OPENAPI_PATH)
    openapi.add_argument("--check", action="store_true", help="fail if the file differs from the code")
    openapi.set_defaults(run=cmd_openapi)

    serve = commands.add_parser("serve", help="start the API")
    serve.add_argument("--host", default=os.environ.get("LAC_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("LAC_PORT", "8000")))
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace, Settings], None] = args.run
    try:
        run(args, get_settings())
    except AppError as exc:
        raise SystemExit(f"Erreur : {exc.detail}") from None


if __name__ == "__main__":
    main()
