"""What the `tuning` and `eztinker` commands share: error handling and tables (Typer + Rich)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuning_sdk.errors import TuningError
from tuning_sdk.types import APIObject


class _Commands(typer.Typer):
    """A Typer whose commands turn SDK errors into one line on stderr and exit code 1."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)

        def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(function)
            def run(*call_args: Any, **call_kwargs: Any) -> Any:
                try:
                    return function(*call_args, **call_kwargs)
                except TuningError as exc:
                    typer.echo(f"error: {exc}", err=True)
                    raise typer.Exit(1) from exc

            return register(run)

        return wrap


console = Console()
IDENTIFIER_COLUMNS = frozenset({"id", "name"})
FOLDED_COLUMN_MIN = 4  # the narrowest a folded column may get before a table is printed wider
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _raw(item: Any) -> Any:
    return item.raw if isinstance(item, APIObject) else item


def _is_identifier(column: str) -> bool:
    """Ids and names are copied into the next command, so their columns are never cut or wrapped."""
    return column in IDENTIFIER_COLUMNS or column.endswith("_id")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def _print_table(table: Table) -> None:
    """Print the table; where the terminal is too narrow for its whole ids, wider (the terminal wraps)."""
    needed = 3 * len(table.columns) + 1  # a border and two spaces of padding per column, one closing border
    for column in table.columns:
        if column.no_wrap:
            needed += max(cell_len(str(text)) for text in [column.header, *column.cells])
        else:
            needed += FOLDED_COLUMN_MIN
    (console if needed <= console.width else Console(width=needed)).print(table)


def show(items: list[Any], columns: list[str], as_json: bool, title: str | None = None) -> None:
    rows = [_raw(item) for item in items]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=title)
    for column in columns:
        if _is_identifier(column):
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        # Text: a value is shown as it is, never read as markup (`[b]`) or an emoji code (`:train:`)
        table.add_row(*(Text(_cell(row.get(c))) for c in columns))
    _print_table(table)


def show_one(item: Any, as_json: bool = True) -> None:
    typer.echo(json.dumps(_raw(item), indent=2, default=str))
