"""The `paincoach` command: database, services and the local chat."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, Annotated

import typer

from paincoach.settings import SettingsError, get_settings

app = typer.Typer(help="PainCoach: a conversational coach for people living with chronic pain.")
db_app = typer.Typer(help="The app database.")
app.add_typer(db_app, name="db")
modules_app = typer.Typer(help="Scripted self-management modules and programmes.")
app.add_typer(modules_app, name="modules")
users_app = typer.Typer(help="Console accounts: providers, researchers and administrators.")
app.add_typer(users_app, name="users")
enrol_app = typer.Typer(help="Enrolment codes and invite links that tie patients to a provider.")
app.add_typer(enrol_app, name="enrol")
export_app = typer.Typer(help="Research data exports, each with its data dictionary.")
app.add_typer(export_app, name="export")
retention_app = typer.Typer(help="Data retention and the erasure of unconsented conversations.")
app.add_typer(retention_app, name="retention")


def _settings():  # type: ignore[no-untyped-def]
    try:
        return get_settings()
    except SettingsError as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(2) from None


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the migrations (creates the SQLite file under var/ if needed)."""
    from alembic.util import CommandError
    from sqlalchemy.exc import OperationalError

    from paincoach.db import migrate
    from paincoach.stack import ensure_postgres_database

    settings = _settings()
    try:
        ensure_postgres_database(settings.database_url)
        migrate.upgrade(settings.database_url, revision)
    except OperationalError as error:
        raise _fail(f"Cannot reach the database at DATABASE_URL: {error.orig}") from None
    except CommandError as error:
        raise _fail(f"Cannot upgrade to {revision!r}: {error}") from None
    typer.echo(f"Database at {revision}.")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. base.")] = "-1",
) -> None:
    """Revert migrations."""
    from alembic.util import CommandError

    from paincoach.db import migrate

    try:
        migrate.downgrade(_settings().database_url, revision)
    except CommandError as error:
        raise _fail(f"Cannot downgrade to {revision!r}: {error}") from None
    typer.echo(f"Database at {revision}.")


@db_app.command("erase-pending")
def db_erase_pending() -> None:
    """Finish erasures whose conversation history is still in the tracker store."""
    from paincoach.db.store import CoachStore

    settings = _settings()
    store = CoachStore(settings.database_url)
    pending = store.pending_erasures()
    for pseudonym in pending:
        store.erase_tracker(pseudonym, settings.tracker_store_url)
    typer.echo(f"Erased the conversation history of {len(pending)} participant(s).")


@app.command()
def backup(
    out: Annotated[
        Path | None,
        typer.Option(help="New folder for the backup (default: BACKUP_DIR/<UTC time>)."),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(min=1, help="Then delete all but the newest N backups beside it."),
    ] = None,
) -> None:
    """Copy the app database and Rasa's tracker store, consistently, while the stack runs."""
    from datetime import UTC

    from paincoach.db.backup import backup as take_backup
    from paincoach.db.backup import describe, prune

    settings = _settings()
    folder = out or settings.backup_dir / datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    with _backup_errors("Cannot write the backup"):
        manifest = take_backup(
            folder, settings.database_url, settings.tracker_store_url, settings.pg_bin_dir
        )
        removed = prune(folder.parent, keep) if keep else []
    typer.echo(f"Backup written to {folder}:")
    for line in describe(manifest, folder):
        typer.echo(f"  {line}")
    if removed:
        typer.echo(f"Deleted {len(removed)} older backup(s), keeping the newest {keep}.")


@app.command()
def restore(
    folder: Annotated[Path, typer.Argument(help="A folder `paincoach backup` wrote.")],
    force: Annotated[
        bool, typer.Option(help="Replace databases that are not empty (stop the stack first).")
    ] = False,
) -> None:
    """Put a backup back into DATABASE_URL and TRACKER_STORE_URL, and check every table."""
    from paincoach.db.backup import describe
    from paincoach.db.backup import restore as put_back

    settings = _settings()
    with _backup_errors("Cannot restore"):
        manifest = put_back(
            folder, settings.database_url, settings.tracker_store_url, force, settings.pg_bin_dir
        )
    typer.echo(f"Restored the backup of {manifest.created_at}; every table has its rows:")
    for line in describe(manifest, folder):
        typer.echo(f"  {line}")
    typer.echo("Start the stack as usual; it applies any newer migrations.")


@contextlib.contextmanager
def _backup_errors(doing: str) -> Iterator[None]:
    """A backup's or restore's failure as one line: its own explanation, or what the
    operating system refused."""
    from paincoach.db.backup import BackupError

    try:
        yield
    except BackupError as error:
        raise _fail(str(error)) from None
    except OSError as error:
        raise _fail(f"{doing}: {error.strerror or error}.") from None


def _run_until_signal(stack) -> None:  # type: ignore[no-untyped-def]
    """Supervise until Ctrl-C or SIGTERM (exit 0), or until a service crashed too often and
    the supervisor stopped everything (exit 1, so systemd or another supervisor takes over)."""
    stop = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set() and not stack.supervisor.gave_up.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)

    try:
        asyncio.run(wait())
    finally:
        stack.stop()
    if stack.supervisor.failure:
        raise _fail(f"Stopped: {stack.supervisor.failure}. Logs are in {stack.log_dir}.")


@app.command()
def serve() -> None:
    """Start Rasa and the action server on 127.0.0.1 until Ctrl-C or SIGTERM."""
    from paincoach.stack import Stack, StackError

    stack = Stack(_settings())
    typer.echo("Starting Rasa and the action server (logs in var/log/)...")
    try:
        stack.start()
    except StackError as error:
        raise _fail(str(error)) from None
    typer.echo(f"Ready: Rasa at {stack.rasa_url}. Ctrl-C stops everything.")
    _run_until_signal(stack)


@app.command()
def up() -> None:
    """Start Rasa, the action server and the Telegram gateway until Ctrl-C or SIGTERM.

    With TELEGRAM_BOT_TOKEN set it serves real Telegram (polling, or a webhook when PUBLIC_URL
    is set); without it, the local Bot API stand-in plays Telegram.
    """
    from paincoach.stack import Stack, StackError

    settings = _settings()
    stack = Stack(settings, telegram=True)
    typer.echo("Starting Rasa, the action server and the gateway (logs in var/log/)...")
    try:
        stack.start()
    except StackError as error:
        raise _fail(str(error)) from None
    where = "real Telegram" if not stack.uses_standin else f"the stand-in at {stack.standin_url}"
    typer.echo(f"Ready: the coach is on {where}. Ctrl-C stops everything.")
    _run_until_signal(stack)


@app.command()
def status(
    run_dir: Annotated[
        Path | None,
        typer.Option(help="Where `paincoach up` keeps its state (default: var/run)."),
    ] = None,
) -> None:
    """Each service's state, uptime, restarts and health, and the scheduler's last tick.
    Exits 0 only when everything is running and healthy."""
    from paincoach.settings import VAR_DIR
    from paincoach.status import render, stack_status

    report = stack_status(run_dir or VAR_DIR / "run")
    typer.echo(render(report))
    if not report.healthy:
        raise typer.Exit(1)


@app.command()
def chat() -> None:
    """Start everything against the local stand-in and chat as a Telegram user."""
    from paincoach.chat import DEMO_CHAT_ID
    from paincoach.chat import chat as run_chat
    from paincoach.console.demo import prepare_demo
    from paincoach.stack import Stack, StackError

    settings = _settings().model_copy(update={"telegram_bot_token": ""})
    stack = Stack(settings, telegram=True)
    typer.echo(
        "Starting Rasa, the action server, the gateway, the console and the Telegram stand-in..."
    )
    try:
        stack.start()
    except StackError as error:
        raise _fail(str(error)) from None
    try:
        demo = prepare_demo(settings, DEMO_CHAT_ID)
        typer.echo(f"Provider console: {settings.console_url}  (log in as {demo.email})")
        if demo.password:
            typer.echo(f"  Demo password, shown this once: {demo.password}")
        else:
            typer.echo(
                "  Its password was shown on the first run; set a new one with "
                f"`paincoach users password {demo.email}`."
            )
        asyncio.run(run_chat(stack.standin_url, start_code=demo.start_code))
    except KeyboardInterrupt:
        typer.echo("\nBye.")
    finally:
        stack.stop()


@app.command()
def gateway() -> None:
    """Run the Telegram gateway and its scheduler in the foreground (Rasa must be running)."""
    import os
    from pathlib import Path

    from telegram import Update

    from paincoach.gateway.app import (
        WEBHOOK_PATH,
        build_application,
        make_rasa_client,
        webhook_secret,
    )
    from paincoach.logs import configure_logging
    from paincoach.safety import ModelUnavailable, load_model
    from paincoach.stack import rasa_token

    settings = _settings()
    if not settings.telegram_bot_token:
        raise _fail("TELEGRAM_BOT_TOKEN is not set. Get one from @BotFather (see the README).")
    try:
        load_model(settings.safety_model_path)  # no patient is answered without it
    except ModelUnavailable as error:
        raise _fail(str(error)) from None
    configure_logging()
    ready = os.environ.get("PAINCOACH_READY_FILE")
    tick = os.environ.get("PAINCOACH_TICK_FILE")
    application = build_application(
        settings,
        make_rasa_client(settings, settings.rasa_url, rasa_token(settings)),
        ready_file=Path(ready) if ready else None,
        tick_file=Path(tick) if tick else None,
    )
    if settings.public_url:
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=WEBHOOK_PATH,
            secret_token=webhook_secret(settings),
            webhook_url=f"{settings.public_url.rstrip('/')}/{WEBHOOK_PATH}",
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)


@modules_app.command("validate")
def modules_validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Module files or folders (default: modules/).")
    ] = None,
) -> None:
    """Check module and programme files; print every problem as file:line: explanation."""
    from paincoach.modules import load
    from paincoach.modules.catalogue import MODULES_DIR

    catalogue = load(paths or [MODULES_DIR])
    for problem in catalogue.problems:
        typer.echo(str(problem))
    if catalogue.problems:
        raise _fail(f"{len(catalogue.problems)} problem(s) found.")
    typer.echo(
        f"OK: {len(catalogue.modules)} module(s) and {len(catalogue.programmes)} programme(s)."
    )


@modules_app.command("list")
def modules_list() -> None:
    """The modules and programmes in modules/."""
    from paincoach.modules import load

    catalogue = load()
    for module in catalogue.modules.values():
        typer.echo(f"{module.id:<36} {module.minutes:>3} min  {module.title}")
    for programme in catalogue.programmes.values():
        count = len(programme.modules)
        typer.echo(
            f"{programme.id:<36} programme: {count} modules, one every {programme.every_days} days"
        )
    if catalogue.problems:
        raise _fail(f"{len(catalogue.problems)} problem(s): run `paincoach modules validate`.")


@modules_app.command("show")
def modules_show(
    module_id: Annotated[str, typer.Argument(help="A module or programme id.")],
) -> None:
    """A module's steps as the patient will see them, or a programme's schedule."""
    from paincoach.modules import load
    from paincoach.modules.preview import describe_module, describe_programme

    catalogue = load()
    if module_id in catalogue.modules:
        typer.echo(describe_module(catalogue.modules[module_id]))
    elif module_id in catalogue.programmes:
        typer.echo(describe_programme(catalogue.programmes[module_id], catalogue.modules))
    else:
        known = ", ".join([*catalogue.modules, *catalogue.programmes]) or "none"
        raise _fail(f"No module or programme '{module_id}'. Known: {known}.")


# Enrolment codes and pushes -------------------------------------------------------------

PUSH_TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M")


def _database_unusable(error: Exception) -> typer.Exit:
    return _fail(
        f"Cannot use the database at DATABASE_URL ({type(error).__name__}); is it running, "
        "and has `paincoach db upgrade` been run?"
    )


def _provider_id(database_url: str, email: str) -> int:
    """The id of the active provider account with this email, or a one-line failure."""
    from sqlalchemy import select

    from paincoach.db.engine import session_scope
    from paincoach.db.models import ConsoleUser

    address = email.strip().lower()
    with session_scope(database_url) as session:
        user = session.scalar(select(ConsoleUser).where(ConsoleUser.email == address))
    if user is None:
        raise _fail(
            f"There is no console account for '{email.strip()}'. Add one with "
            f"`paincoach users add {email.strip() or 'EMAIL'} --role provider`."
        )
    if user.role not in ("provider", "admin"):
        raise _fail(f"{user.email} is a {user.role} account; only providers have patients.")
    if user.disabled_at is not None:
        raise _fail(f"The account {user.email} is disabled.")
    return user.id


@enrol_app.command("create")
def enrol_create(
    provider: Annotated[str, typer.Option(help="The provider's console email.")],
    arm: Annotated[str | None, typer.Option(help="Study arm the patients join.")] = None,
    uses: Annotated[int, typer.Option(help="How many patients may use the code.")] = 1,
    expires_days: Annotated[
        int | None,
        typer.Option(help="Days the code stays valid (default: ENROLMENT_CODE_DAYS)."),
    ] = None,
) -> None:
    """Create an enrolment code; print it and its invite link (https://t.me/BOT?start=CODE)."""
    from sqlalchemy.exc import SQLAlchemyError

    from paincoach import enrolment

    settings = _settings()
    try:
        provider_id = _provider_id(settings.database_url, provider)
        code = enrolment.create_code(
            provider_id, arm=arm, uses=uses, expires_days=expires_days, url=settings.database_url
        )
    except enrolment.EnrolmentError as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        raise _database_unusable(error) from None
    arm_note = f", study arm {code.study_arm}" if code.study_arm else ""
    typer.echo(f"Code: {code.code}")
    typer.echo(
        f"For {code.max_uses} patient(s){arm_note}; valid until "
        f"{code.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    try:
        username = asyncio.run(enrolment.bot_username(settings))
    except enrolment.BotUnreachable as error:
        typer.echo(
            f"Invite link: not available now. {error} Once the bot runs (`make up`), the link "
            f"is https://t.me/<bot username>?start={code.code}"
        )
        return
    typer.echo(f"Invite link: {enrolment.invite_link(code.code, username)}")


@enrol_app.command("list")
def enrol_list(
    provider: Annotated[str, typer.Option(help="The provider's console email.")],
) -> None:
    """The provider's enrolment codes, newest first, with their uses and state."""
    from sqlalchemy.exc import SQLAlchemyError

    from paincoach import enrolment

    settings = _settings()
    try:
        codes = enrolment.codes_for(
            _provider_id(settings.database_url, provider), url=settings.database_url
        )
    except SQLAlchemyError as error:
        raise _database_unusable(error) from None
    for code in codes:
        state = code.status().value.replace("_", " ")
        arm = f"  arm {code.study_arm}" if code.study_arm else ""
        typer.echo(
            f"{code.code}  {code.uses}/{code.max_uses} used  until "
            f"{code.expires_at:%Y-%m-%d}  {state}{arm}"
        )
    if not codes:
        typer.echo("No codes yet. Create one with `paincoach enrol create --provider EMAIL`.")


def _push_time(at: str | None) -> datetime | None:
    if at is None:
        return None
    for layout in PUSH_TIME_FORMATS:
        try:
            return datetime.strptime(at.strip(), layout)
        except ValueError:
            continue
    raise _fail(f"--at must be a date and time like 2026-03-01T09:30 (got '{at[:40]}').")


@modules_app.command("push")
def modules_push(
    target: Annotated[str, typer.Argument(help="A module id or a programme id.")],
    to: Annotated[
        list[str] | None,
        typer.Option(
            "--to", help="Patient pseudonyms: --to p-1 p-2, --to p-1 --to p-2, or p-1,p-2."
        ),
    ] = None,
    more: Annotated[
        list[str] | None, typer.Argument(help="More pseudonyms after --to.", show_default=False)
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help="YYYY-MM-DDTHH:MM on each patient's own clock (default: now)."),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            help="Push as this provider (only their patients); default: each "
            "patient's own provider."
        ),
    ] = None,
) -> None:
    """Push a module, or a programme (its modules every N days), to patients; prints the plan."""
    from sqlalchemy.exc import SQLAlchemyError

    from paincoach.modules.push import PushError, PushStore

    settings = _settings()
    if not to:
        raise _fail("Name the patients with --to PSEUDONYM (one or more).")
    pseudonyms = [p.strip() for item in [*to, *(more or [])] for p in item.split(",")]
    when = _push_time(at)
    try:
        provider_id = _provider_id(settings.database_url, provider) if provider else None
        planned = PushStore(settings.database_url).push(target, pseudonyms, provider_id, when)
    except PushError as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        raise _database_unusable(error) from None
    for push in planned:
        typer.echo(
            f"{push.due_local:%Y-%m-%d %H:%M} {push.timezone:<20} {push.pseudonym:<20} "
            f"{push.module_id}  (job {push.job_id})"
        )
    patients = len({p.pseudonym for p in planned})
    typer.echo(f"Scheduled {len(planned)} module release(s) for {patients} patient(s).")


@modules_app.command("scheduled")
def modules_scheduled(
    provider: Annotated[str, typer.Option(help="The provider's console email.")],
) -> None:
    """The provider's pushes still waiting to be sent, soonest first."""
    from sqlalchemy.exc import SQLAlchemyError

    from paincoach.modules.push import PushStore

    settings = _settings()
    try:
        waiting = PushStore(settings.database_url).scheduled(
            _provider_id(settings.database_url, provider)
        )
    except SQLAlchemyError as error:
        raise _database_unusable(error) from None
    for push in waiting:
        typer.echo(
            f"job {push.job_id:<6} {push.due_local:%Y-%m-%d %H:%M} {push.timezone:<20} "
            f"{push.pseudonym:<20} {push.module_id}"
        )
    if not waiting:
        typer.echo("Nothing scheduled.")


@modules_app.command("cancel")
def modules_cancel(
    job: Annotated[int, typer.Argument(help="The job number `modules scheduled` shows.")],
    provider: Annotated[str, typer.Option(help="The provider's console email.")],
) -> None:
    """Cancel one of the provider's pushes that has not been sent yet."""
    from sqlalchemy.exc import SQLAlchemyError

    from paincoach.modules.push import PushStore

    settings = _settings()
    try:
        cancelled = PushStore(settings.database_url).cancel(
            job, _provider_id(settings.database_url, provider)
        )
    except SQLAlchemyError as error:
        raise _database_unusable(error) from None
    if not cancelled:
        raise _fail(f"No waiting push with job number {job} for {provider.strip()}.")
    typer.echo(f"Cancelled job {job}.")


# Console accounts and the console itself ------------------------------------------------


def _accounts():  # type: ignore[no-untyped-def]
    from paincoach.console.accounts import Accounts

    return Accounts(_settings())


def _read_password() -> str:
    """Twice, hidden, on a terminal; otherwise one line from standard input (for scripts)."""
    import sys

    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\r\n")


def _database_problem(error: Exception) -> typer.Exit:
    return _fail(
        "Cannot use the console accounts in the database at DATABASE_URL "
        f"({type(error).__name__}); run `paincoach db upgrade` first."
    )


def _audit_account_change(action: str, target: str, detail: str | None = None) -> None:
    """Account changes made on the command line go in the audit log too, by the system user."""
    import getpass

    from paincoach.console import audit

    try:
        who = getpass.getuser()
    except (OSError, KeyError):
        who = "unknown"
    audit.record(_settings().database_url, action, actor_email=f"cli:{who}", target=target,
                 address="command line", detail=detail)  # fmt: skip


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="The person's email address; their login.")],
    role: Annotated[str, typer.Option(help="admin, provider or researcher.")],
) -> None:
    """Add a console account; the password is asked twice (or read from standard input)."""
    from sqlalchemy.exc import SQLAlchemyError

    from paincoach.console.accounts import (
        AccountError,
        check_password,
        check_role,
        normalise_email,
    )

    try:
        address = normalise_email(email)
        check_role(role)
        password = _read_password()
        check_password(password)
        _accounts().add_user(address, role, password)
        _audit_account_change("account_add", address, f"role {role}")
    except AccountError as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        raise _database_problem(error) from None
    typer.echo(f"Added {address} ({role}).")


@users_app.command("list")
def users_list() -> None:
    """Every console account with its role and whether it is active."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        users = _accounts().users()
    except SQLAlchemyError as error:
        raise _database_problem(error) from None
    for user in users:
        state = f"disabled {user.disabled_at:%Y-%m-%d}" if user.disabled_at else "active"
        telegram = ", Telegram linked" if user.telegram_chat_id is not None else ""
        typer.echo(f"{user.email:<40} {user.role:<11} {state}{telegram}")
    if not users:
        typer.echo("No accounts yet. Add one with `paincoach users add EMAIL --role provider`.")


@users_app.command("disable")
def users_disable(
    email: Annotated[str, typer.Argument(help="The account to disable.")],
) -> None:
    """Disable an account: it cannot log in any more, and its open sessions end now."""
    from sqlalchemy.exc import SQLAlchemyError

    from paincoach.console.accounts import AccountError

    try:
        user = _accounts().disable_user(email)
        _audit_account_change("account_disable", user.email)
    except AccountError as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        raise _database_problem(error) from None
    typer.echo(f"Disabled {user.email}; its sessions have ended.")


@users_app.command("password")
def users_password(
    email: Annotated[str, typer.Argument(help="The account whose password to set.")],
) -> None:
    """Set a new password (asked twice, or read from standard input); open sessions end."""
    from sqlalchemy.exc import SQLAlchemyError

    from paincoach.console.accounts import AccountError, check_password

    try:
        accounts = _accounts()
        if accounts.by_email(email) is None:
            raise AccountError(f"There is no account for {email.strip()}.")
        password = _read_password()
        check_password(password)
        user = accounts.set_password(email, password)
        _audit_account_change("password_set", user.email)
    except AccountError as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        raise _database_problem(error) from None
    typer.echo(f"New password set for {user.email}; its sessions have ended.")


@app.command()
def console() -> None:
    """Serve the provider console on CONSOLE_HOST:CONSOLE_PORT (127.0.0.1:8000 by default)."""
    import uvicorn

    from paincoach.console.app import create_app

    settings = _settings()
    typer.echo(f"Provider console at {settings.console_url}")
    uvicorn.run(
        create_app(settings),
        host=settings.console_host,
        port=settings.console_port,
        proxy_headers=True,  # the client address behind a local reverse proxy, for rate limits
        log_level="warning",
    )


# Research exports and data retention -----------------------------------------------------

EXPORT_HELP = {
    "transcripts": "Every turn of every conversation: messages, intents, actions, safety hits.",
    "checkins": "Daily check-ins in long format: one row per participant per local day.",
    "coping": "Coping exercise sessions with tension before and after.",
    "modules": "Module progress: one row per participant and module.",
    "module_answers": "Answers given in modules, one row per answer.",
    "goals": "Weekly activity goals and their reviews.",
    "safety": "Safety events (crisis and medical red flags) of consenting participants.",
    "engagement": "Engagement per participant: messages, active days, adherence, modules.",
}


def _day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _fail(f"{option} must be a date like 2026-03-01 (got '{value[:40]}').") from None


def _export(
    kind: str, fmt: str, out: Path, since: str | None, until: str | None, arm: str | None
) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from paincoach.research.exports import ExportError, Window, dictionary_paths, export_to_file

    settings = _settings()
    try:
        window = Window(_day("--since", since), _day("--until", until), arm)
        rows = export_to_file(kind, fmt.lower(), out, settings, window)
    except ExportError as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        raise _database_unusable(error) from None
    json_path, markdown_path = dictionary_paths(out)
    typer.echo(f"Wrote {rows} row(s) to {out}; data dictionary in {json_path.name} and "
               f"{markdown_path.name}.")  # fmt: skip


def _export_command(kind: str) -> None:
    def command(
        out: Annotated[
            Path, typer.Option(help="The file to write; its data dictionary goes beside it.")
        ],
        fmt: Annotated[str, typer.Option("--format", help="csv, jsonl or parquet.")] = "csv",
        since: Annotated[
            str | None, typer.Option(help="First day (YYYY-MM-DD, participant's calendar).")
        ] = None,
        until: Annotated[str | None, typer.Option(help="Last day, included (YYYY-MM-DD).")] = None,
        arm: Annotated[str | None, typer.Option(help="Only this study arm.")] = None,
    ) -> None:
        _export(kind, fmt, out, since, until, arm)

    command.__doc__ = EXPORT_HELP[kind]
    export_app.command(kind)(command)


for _kind in EXPORT_HELP:
    _export_command(_kind)


@export_app.command("dictionary")
def export_dictionary(
    out: Annotated[Path, typer.Option(help="Folder for data-dictionary.json and .md.")],
) -> None:
    """The data dictionary of every export, as JSON and Markdown."""
    from paincoach.research.exports import write_dictionary

    try:
        out.mkdir(parents=True, exist_ok=True)
        write_dictionary(out / "data-dictionary.json", out / "data-dictionary.md")
    except OSError as error:
        raise _fail(f"Cannot write to {out}: {error.strerror or error}.") from None
    typer.echo(f"Wrote {out / 'data-dictionary.json'} and {out / 'data-dictionary.md'}.")


def _write_atomically(out: Path, write: Callable[[IO[bytes]], int]) -> int:
    """Write `out` under a temporary name first, so it appears complete or not at all."""
    if out.is_dir():
        raise _fail(f"{out} is a folder; give a file name.")
    partial = out.with_name(f".{out.name}.partial")
    try:
        with partial.open("wb") as stream:
            written = write(stream)
        partial.replace(out)
    except OSError as error:
        raise _fail(f"Cannot write {out}: {error.strerror or error}.") from None
    finally:
        partial.unlink(missing_ok=True)
    return written


@export_app.command("qdpx")
def export_qdpx(
    out: Annotated[Path, typer.Option(help="The .qdpx file to write (REFI-QDA, QDA-XML 1.0).")],
    arm: Annotated[str | None, typer.Option(help="Only this study arm.")] = None,
) -> None:
    """Transcripts, codebook, codings and memos as a REFI-QDA project (NVivo, ATLAS.ti...)."""
    from sqlalchemy.exc import SQLAlchemyError

    from paincoach.research.exports import Window, record_export
    from paincoach.research.qdpx import ExportSummary, write_qdpx

    settings = _settings()
    summary = ExportSummary()

    def write(stream: IO[bytes]) -> int:
        nonlocal summary
        summary = write_qdpx(settings, stream, arm=arm)
        return summary.codings

    try:
        _write_atomically(out, write)
        record_export(settings, "qdpx", "qdpx", summary.codings, Window(arm=arm), address="cli")
    except SQLAlchemyError as error:
        raise _database_unusable(error) from None
    skipped = f" ({summary.skipped} left out: message gone)" if summary.skipped else ""
    typer.echo(f"Wrote {summary.sources} transcripts, {summary.codes} codes and "
               f"{summary.codings} codings{skipped} to {out}.")  # fmt: skip


@export_app.command("codings")
def export_codings(
    out: Annotated[Path, typer.Option(help="The CSV file to write.")],
) -> None:
    """Coded segments as CSV: code, coder, pseudonym, time, text, memo (and where they are)."""
    from sqlalchemy.exc import SQLAlchemyError

    from paincoach.research.coding import segments_csv
    from paincoach.research.exports import Window, record_export

    settings = _settings()

    def write(stream: IO[bytes]) -> int:
        chunks = 0
        for chunk in segments_csv(settings):  # the header, then one chunk per segment
            stream.write(chunk.encode("utf-8"))
            chunks += 1
        return chunks - 1

    try:
        rows = _write_atomically(out, write)
        record_export(settings, "codings", "csv", rows, Window(), address="cli")
    except SQLAlchemyError as error:
        raise _database_unusable(error) from None
    typer.echo(f"Wrote {rows} coded segment(s) to {out}.")


@retention_app.command("apply")
def retention_apply() -> None:
    """Delete tracker events and free texts older than RETENTION_DAYS; log what went."""
    from sqlalchemy.exc import SQLAlchemyError

    from paincoach.privacy.retention import apply_retention

    settings = _settings()
    if settings.retention_days == 0:
        typer.echo("RETENTION_DAYS is 0: everything is kept.")
        return
    try:
        removed = apply_retention(settings)
    except SQLAlchemyError as error:
        raise _database_unusable(error) from None
    summary = ", ".join(f"{count} {what.replace('_', ' ')}" for what, count in removed.items())
    typer.echo(f"Removed what was older than {settings.retention_days} days: {summary}.")


@retention_app.command("unconsented")
def retention_unconsented() -> None:
    """Erase the conversations and chat mappings of people who did not consent within
    UNCONSENTED_TTL_HOURS of first writing (anonymous safety events stay)."""
    from sqlalchemy.exc import SQLAlchemyError

    from paincoach.privacy.before_consent import erase_unconsented

    settings = _settings()
    try:
        erased = erase_unconsented(settings)
    except SQLAlchemyError as error:
        raise _database_unusable(error) from None
    typer.echo(
        f"Erased {erased['conversations']} unconsented conversation(s) "
        f"({erased['tracker_events']} tracker events, {erased['chat_mappings']} chat mappings)."
    )


if __name__ == "__main__":
    app()
