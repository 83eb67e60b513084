"""The `paincoach` command: database, services and the local chat."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer

from paincoach.settings import SettingsError, get_settings

app = typer.Typer(help="PainCoach: a conversational coach for people living with chronic pain.")
db_app = typer.Typer(help="The app database.")
app.add_typer(db_app, name="db")
modules_app = typer.Typer(help="Scripted self-management modules and programmes.")
app.add_typer(modules_app, name="modules")
users_app = typer.Typer(help="Console accounts: providers, researchers and administrators.")
app.add_typer(users_app, name="users")


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


def _run_until_signal(stack) -> None:  # type: ignore[no-untyped-def]
    stop = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait())
    finally:
        stack.stop()


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
    application = build_application(
        settings,
        make_rasa_client(settings, settings.rasa_url, rasa_token(settings)),
        ready_file=Path(ready) if ready else None,
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


if __name__ == "__main__":
    app()
