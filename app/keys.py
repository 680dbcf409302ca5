"""Manage API keys from the shell: `python -m app.keys create|list|revoke`."""

from __future__ import annotations

from typing import Annotated

import typer

from app.config import get_settings
from src.features.auth import service as auth_service
from src.models.auth import Role
from src.models.errors import AppError
from src.storage import Store

cli = typer.Typer(help="Create, list and revoke Tuning Service API keys.", no_args_is_help=True)


def _store() -> Store:
    store = Store(get_settings().store.database_url, pool_size=1)
    store.upgrade()
    return store


@cli.command()
def create(
    owner: Annotated[str, typer.Option(help="who the key belongs to")],
    role: Annotated[Role, typer.Option(help="admin sees everything; user sees only its own")] = Role.user,
    name: Annotated[str | None, typer.Option(help="a label to recognise the key by")] = None,
    tinker: Annotated[
        bool, typer.Option("--tinker", help="a `tml-` key, the prefix the tinker SDK insists on")
    ] = False,
) -> None:
    """Create a key and print it once; only its SHA-256 digest is stored."""
    store = _store()
    prefix = auth_service.TINKER_KEY_PREFIX if tinker else auth_service.KEY_PREFIX
    try:
        with store.session_scope() as session:
            row, key = auth_service.create_key(session, owner=owner, role=role, name=name, prefix=prefix)
            typer.echo(f"id={row.id} owner={row.owner} role={row.role}", err=True)
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        store.dispose()
    typer.echo(key)


@cli.command("list")
def list_keys(
    all_keys: Annotated[bool, typer.Option("--all", help="include revoked keys")] = False,
) -> None:
    """List keys (never the secrets): id, owner, role, hint, created, revoked."""
    store = _store()
    try:
        with store.session_scope(read_only=True) as session:
            for row in auth_service.list_keys(session, include_revoked=all_keys):
                revoked = row.revoked_at.isoformat() if row.revoked_at else "-"
                typer.echo(
                    f"{row.id}\t{row.owner}\t{row.role}\t{row.hint}\t{row.source}\t"
                    f"{row.created_at.isoformat()}\t{revoked}\t{row.name or ''}"
                )
    finally:
        store.dispose()


@cli.command()
def revoke(key_id: Annotated[int, typer.Argument(help="the id shown by `list`")]) -> None:
    """Revoke a key; requests with it answer 401 from then on."""
    store = _store()
    try:
        with store.session_scope() as session:
            row = auth_service.revoke_key(session, key_id=key_id)
            typer.echo(f"revoked key {row.id} of {row.owner}")
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        store.dispose()


if __name__ == "__main__":
    cli()
