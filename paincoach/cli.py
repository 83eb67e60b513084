"""The `paincoach` command: database, services and the local chat."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from paincoach.settings import SettingsError, get_settings

app = typer.Typer(help="PainCoach: a conversational coach for people living with chronic pain.")
db_app = typer.Typer(help="The app database.")
app.add_typer(db_app, name="db")


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
    from sqlalchemy.exc import OperationalError

    from paincoach.db import migrate
    from paincoach.stack import ensure_postgres_database

    settings = _settings()
    try:
        ensure_postgres_database(settings.database_url)
        migrate.upgrade(settings.database_url, revision)
    except OperationalError as error:
        raise _fail(f"Cannot reach the database at DATABASE_URL: {error.orig}") from None
    typer.echo(f"Database at {revision}.")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. base.")] = "-1",
) -> None:
    """Revert migrations."""
    from paincoach.db import migrate

    migrate.downgrade(_settings().database_url, revision)
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
def chat(
    sender: Annotated[
        str | None, typer.Option(help="Pseudonym to chat as (default: the demo patient).")
    ] = None,
    start_services: Annotated[
        bool, typer.Option("--start-services/--no-start-services", help="Start Rasa too.")
    ] = True,
) -> None:
    """Chat with the coach in the terminal, as a patient would."""
    from paincoach.chat import chat as run_chat
    from paincoach.chat import demo_pseudonym
    from paincoach.db.store import CoachStore
    from paincoach.rasa_client import RasaClient
    from paincoach.stack import Stack, StackError, rasa_token

    settings = _settings()
    stack = Stack(settings)
    if start_services:
        typer.echo("Starting Rasa and the action server — this takes about half a minute...")
        try:
            stack.start()
        except StackError as error:
            raise _fail(str(error)) from None

    async def session() -> None:
        async with RasaClient(
            stack.rasa_url if start_services else settings.rasa_url,
            rasa_token(settings),
            CoachStore(settings.database_url),
            settings.tracker_store_url,
        ) as client:
            await run_chat(client, sender or demo_pseudonym())

    try:
        asyncio.run(session())
    except KeyboardInterrupt:
        typer.echo("\nBye.")
    finally:
        stack.stop()


if __name__ == "__main__":
    app()
