"""The `eztinker` command, and the same run verbs as `tuning tinker …`.

    eztinker server | version | health | status
    eztinker create --model M [--run-id LABEL] | list-runs | delete RUN_ID
    eztinker sample "prompt" [--max-tokens N --temperature T --run-id RUN_ID]
    eztinker save RUN_ID NAME | checkpoints [--run-id RUN_ID] | download CHECKPOINT_ID [DEST]
    eztinker demo

The server is TUNING_BASE_URL (or --base-url), the key TUNING_API_KEY (or --api-key).
A `--run-id` given to `create` is a label of yours: the run's id is always the server's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from tuning_sdk._cli_base import JsonOption, _Commands, show

from eztinker import __version__
from eztinker.client import EZTinkerClient
from eztinker.rejection import DEMO_MODEL, run_demo

RUN_COLUMNS = ["run_id", "label", "base_model", "lora_rank", "status", "client", "steps"]
CHECKPOINT_COLUMNS = ["checkpoint_id", "run_id", "name", "kind", "size_bytes", "tinker_path"]


class _Connection:
    base_url: str | None = None
    api_key: str | None = None


connection = _Connection()


def _client() -> EZTinkerClient:
    return EZTinkerClient(base_url=connection.base_url, api_key=connection.api_key)


# -- the run verbs, shared by `eztinker` and `tuning tinker` ---------------------------------


def create(
    model: Annotated[str, typer.Option("--model", "-m", help="a base model the server has")],
    run_id: Annotated[str | None, typer.Option("--run-id", help="a label of yours for the run")] = None,
    lora_rank: Annotated[int, typer.Option(help="LoRA rank")] = 8,
    lora_alpha: Annotated[float | None, typer.Option(help="LoRA alpha (default 32)")] = None,
) -> None:
    """Start a LoRA training run; prints its id."""
    with _client() as client:
        typer.echo(client.create_run(model, lora_rank=lora_rank, lora_alpha=lora_alpha, label=run_id))


def list_runs(as_json: JsonOption = False) -> None:
    """Your runs, newest first."""
    with _client() as client:
        show(client.list_runs(), RUN_COLUMNS, as_json)


def delete(run_id: Annotated[str, typer.Argument(help="the run's id")]) -> None:
    """End a run (its checkpoints stay)."""
    with _client() as client:
        client.delete_run(run_id)
    typer.echo(f"run {run_id} ended")


def sample(
    prompt: Annotated[str, typer.Argument(help="the text to complete")],
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="most new tokens")] = 64,
    temperature: Annotated[float, typer.Option(help="0 for greedy")] = 0.7,
    run_id: Annotated[str | None, typer.Option("--run-id", help="sample this run as trained so far")] = None,
    model: Annotated[str | None, typer.Option("--model", help="without --run-id: the base model")] = None,
) -> None:
    """Complete a prompt."""
    with _client() as client:
        typer.echo(
            client.sample(
                prompt, max_new_tokens=max_tokens, temperature=temperature, run_id=run_id, base_model=model
            )
        )


def save(
    run_id: Annotated[str, typer.Argument(help="the run's id")],
    name: Annotated[str, typer.Argument(help="a name for the checkpoint")],
) -> None:
    """Save a run's adapter and optimizer state; prints its tinker:// path."""
    with _client() as client:
        typer.echo(client.save_checkpoint(run_id, name))


def checkpoints(
    run_id: Annotated[str | None, typer.Option("--run-id", help="only this run's")] = None,
    as_json: JsonOption = False,
) -> None:
    """Your saved checkpoints, newest first."""
    with _client() as client:
        show(client.list_checkpoints(run_id), CHECKPOINT_COLUMNS, as_json)


def download(
    checkpoint_id: Annotated[str, typer.Argument(help="ckpt-… from `checkpoints`")],
    destination: Annotated[Path, typer.Argument(help="a file or a directory")] = Path("."),
) -> None:
    """Download a checkpoint's files as a .tar.gz."""
    with _client() as client:
        typer.echo(client.download_checkpoint(checkpoint_id, destination))


def demo(
    model: Annotated[str, typer.Option("--model", "-m", help="the base model")] = DEMO_MODEL,
    rounds: Annotated[int, typer.Option(min=1, max=100)] = 3,
    num_candidates: Annotated[int, typer.Option(min=1, max=16)] = 4,
    max_samples: Annotated[int, typer.Option(min=1, max=1000, help="problems per round")] = 8,
    learning_rate: Annotated[float, typer.Option()] = 2e-4,
) -> None:
    """Rejection-sampling SFT on the bundled arithmetic problems; prints the score per round."""
    with _client() as client:
        run_demo(
            client,
            base_model=model,
            rounds=rounds,
            num_candidates=num_candidates,
            max_samples=max_samples,
            learning_rate=learning_rate,
            report=typer.echo,
        )


RUN_VERBS: list[tuple[str, Callable[..., Any]]] = [
    ("create", create),
    ("list-runs", list_runs),
    ("delete", delete),
    ("sample", sample),
    ("save", save),
    ("checkpoints", checkpoints),
    ("download", download),
    ("demo", demo),
]


def add_run_verbs(group: _Commands) -> None:
    for name, function in RUN_VERBS:
        group.command(name)(function)


# -- `eztinker` itself ------------------------------------------------------------------------

app = _Commands(help="EZTinker: interactive LoRA training on Tuning Service.", no_args_is_help=True)


@app.callback()
def _options(
    api_key: Annotated[str | None, typer.Option(envvar="TUNING_API_KEY", help="API key")] = None,
    base_url: Annotated[str | None, typer.Option(envvar="TUNING_BASE_URL", help="server URL")] = None,
) -> None:
    connection.api_key, connection.base_url = api_key, base_url


@app.command()
def version() -> None:
    """Print the client's version."""
    typer.echo(f"eztinker {__version__}")


@app.command()
def health() -> None:
    """The server's health."""
    with _client() as client:
        typer.echo(json.dumps(client.health(), indent=2))


@app.command()
def status(as_json: JsonOption = False) -> None:
    """The server's health and your live runs."""
    with _client() as client:
        report = client.health()
        live = [run for run in client.list_runs() if run["status"] in ("creating", "ready")]
    if as_json:
        typer.echo(json.dumps({"health": report, "runs": live}, indent=2))
        return
    typer.echo(f"server {client.base_url}: {report.get('status', 'unknown')}, {len(live)} live run(s)")
    show(live, RUN_COLUMNS, False)


@app.command()
def server(
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="listen port")] = 8000,
    workers: Annotated[int, typer.Option(help="handler threads")] = 40,
    checkpoints_dir: Annotated[
        Path | None, typer.Option(help="where checkpoints go (default: the data directory's tinker/weights)")
    ] = None,
) -> None:
    """Start the service (from a server install), as `tuning server` does."""
    try:
        from app.config import ServerSettings, Settings, TinkerSettings
        from app.server import serve
    except ImportError as exc:
        typer.echo(
            "error: `eztinker server` needs the server's code: run it from a Tuning Service checkout",
            err=True,
        )
        raise typer.Exit(1) from exc
    tinker = TinkerSettings(tinker_checkpoints_dir=checkpoints_dir) if checkpoints_dir else TinkerSettings()
    serve(Settings(server=ServerSettings(host=host, port=port, worker_threads=workers), tinker=tinker))


add_run_verbs(app)


def main() -> None:
    """Entry point of the `eztinker` command."""
    app()


if __name__ == "__main__":
    main()
