"""The `tuning` command: a thin layer over the SDK (Typer + Rich)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tuning_sdk import TuningClient, __version__
from tuning_sdk._cli_base import JsonOption, _Commands, console, show, show_one
from tuning_sdk.errors import TuningError
from tuning_sdk.types import TuningJob

app = _Commands(help="Tuning Service from the command line.", no_args_is_help=True)
jobs = _Commands(help="Tuning jobs.", no_args_is_help=True)
files = _Commands(help="Training files (OpenAI-style).", no_args_is_help=True)
projects = _Commands(help="Projects.", no_args_is_help=True)
runs = _Commands(help="Runs.", no_args_is_help=True)
datasets = _Commands(help="Datasets.", no_args_is_help=True)
configs = _Commands(help="Training YAML configs.", no_args_is_help=True)
deid = _Commands(help="De-identification: test texts, policies, whole datasets.", no_args_is_help=True)
deployments = _Commands(help="Model servers (vLLM) on the server's GPUs.", no_args_is_help=True)
models = _Commands(help="Base and fine-tuned models.", no_args_is_help=True)
for name, group in (
    ("jobs", jobs),
    ("files", files),
    ("projects", projects),
    ("runs", runs),
    ("datasets", datasets),
    ("configs", configs),
    ("deid", deid),
    ("deployments", deployments),
    ("models", models),
):
    app.add_typer(group, name=name)


class _State:
    api_key: str | None = None
    base_url: str | None = None


state = _State()


@app.callback()
def _options(
    api_key: Annotated[
        str | None, typer.Option(envvar="TUNING_API_KEY", help="API key (give it before the command)")
    ] = None,
    base_url: Annotated[str | None, typer.Option(envvar="TUNING_BASE_URL", help="server URL")] = None,
) -> None:
    state.api_key, state.base_url = api_key, base_url


def client() -> TuningClient:
    return TuningClient(api_key=state.api_key, base_url=state.base_url)


@app.command()
def version() -> None:
    """Print the SDK version."""
    typer.echo(f"tuning-sdk {__version__}")


@app.command()
def health() -> None:
    """The server's health."""
    with client() as c:
        show_one(c.health_check())


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Queue, running jobs and GPUs."""
    with client() as c:
        running = list(c.tunings.list(limit=100, status="running").data)
        pending = list(c.tunings.list(limit=100, status="pending").data)
        gpus = c.gpus.list()
        health_report = c.health_check()
    if as_json:
        answer = {
            "health": health_report.raw,
            "running": [j.raw for j in running],
            "pending": [j.raw for j in pending],
            "gpus": [g.raw for g in gpus],
        }
        typer.echo(json.dumps(answer, indent=2, default=str))
        return
    console.print(f"server {health_report.version}: {health_report.active_jobs} active run(s)")
    show(running + pending, ["id", "status", "model", "queue_position"], False, title="jobs")
    show(
        [{**g.raw, "holder": g.holder.id if g.holder else None} for g in gpus],
        ["id", "name", "holder"],
        False,
        title="GPUs",
    )


@app.command()
def server(
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="listen port")] = 8000,
    workers: Annotated[int, typer.Option(help="handler threads")] = 40,
) -> None:
    """Start the service (from a server install)."""
    try:
        from app.config import ServerSettings, Settings
        from app.server import serve
    except ImportError as exc:
        raise TuningError(
            "`tuning server` needs the server's code: run it from a Tuning Service checkout"
        ) from exc
    serve(Settings(server=ServerSettings(host=host, port=port, worker_threads=workers)))


# -- jobs -----------------------------------------------------------------------------


@jobs.command("create")
def jobs_create(
    model: Annotated[str, typer.Option(help="base model name")],
    training_file: Annotated[str, typer.Option(help="file/dataset id or relative path")],
    epochs: Annotated[float | None, typer.Option(help="training epochs")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="learning rate")] = None,
    batch_size: Annotated[int | None, typer.Option(help="batch size")] = None,
    suffix: Annotated[str | None, typer.Option(help="suffix of the fine-tuned model's name")] = None,
) -> None:
    """Create a tuning job."""
    params = {
        k: v
        for k, v in {"epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size}.items()
        if v is not None
    }
    with client() as c:
        show_one(c.tunings.create(model, training_file, hyperparameters=params, suffix=suffix))


@jobs.command("list")
def jobs_list(
    limit: Annotated[int, typer.Option(help="how many")] = 20,
    status_filter: Annotated[str | None, typer.Option("--status", help="only this status")] = None,
    as_json: JsonOption = False,
) -> None:
    """Recent jobs."""
    with client() as c:
        page = c.tunings.list(limit=limit, status=status_filter)
        show(list(page.data), ["id", "status", "model", "fine_tuned_model", "created_at"], as_json)


@jobs.command("get")
def jobs_get(job_id: str) -> None:
    """One job."""
    with client() as c:
        show_one(c.tunings.get(job_id))


@jobs.command("cancel")
def jobs_cancel(job_id: str) -> None:
    """Cancel a job."""
    with client() as c:
        job = c.tunings.cancel(job_id)
    typer.echo(f"{job.id} {job.status.value}")


@jobs.command("wait")
def jobs_wait(
    job_id: str,
    poll_interval: Annotated[float, typer.Option(help="seconds between checks")] = 2.0,
    timeout: Annotated[float | None, typer.Option(help="give up after this many seconds")] = None,
) -> None:
    """Wait for a job, with a progress bar showing epoch and loss."""
    with (
        client() as c,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        ) as bar,
    ):
        task = bar.add_task(job_id, total=1.0, detail="")

        def update(job: TuningJob) -> None:
            metrics = job.metrics
            detail = job.status.value
            if metrics is not None:
                detail = f"epoch {metrics.current_epoch or 0:.2f} loss {metrics.train_loss:.4f}"
            bar.update(task, completed=metrics.progress if metrics else 0.0, detail=detail)

        job = c.tunings.wait(job_id, on_progress=update, poll_interval=poll_interval, timeout=timeout)
    typer.echo(f"{job.id} {job.status.value} {job.fine_tuned_model if job.is_successful else ''}".rstrip())
    if not job.is_successful:
        raise typer.Exit(1)


@jobs.command("logs")
def jobs_logs(
    job_id: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="follow live until the job ends")] = False,
    tail: Annotated[int, typer.Option(help="lines to show without --follow")] = 100,
) -> None:
    """A job's training log."""
    with client() as c:
        if follow:
            for line in c.tunings.stream_logs(job_id):
                typer.echo(line)
            return
        run_id = c.tunings.get(job_id).run_id
        for entry in c.runs.logs(run_id, tail=tail).data:
            typer.echo(entry.line)


# -- files, projects, runs, datasets, configs -----------------------------------------


@files.command("upload")
def files_upload(
    path: Path, purpose: Annotated[str, typer.Option(help="file purpose")] = "fine-tune"
) -> None:
    """Upload a training file."""
    with client() as c:
        show_one(c.files.upload(path, purpose=purpose))


@files.command("list")
def files_list(as_json: JsonOption = False) -> None:
    """Uploaded files."""
    with client() as c:
        show(c.files.list(), ["id", "filename", "bytes", "status"], as_json)


@projects.command("create")
def projects_create(
    name: str,
    dataset_name: Annotated[str | None, typer.Option(help="dataset id or path")] = None,
    training_yaml_name: Annotated[str | None, typer.Option(help="config id or path")] = None,
) -> None:
    """Create a project."""
    fields = {
        k: v for k, v in {"dataset_name": dataset_name, "training_yaml_name": training_yaml_name}.items() if v
    }
    with client() as c:
        show_one(c.projects.create(name, **fields))


@projects.command("list")
def projects_list(as_json: JsonOption = False) -> None:
    """Projects."""
    with client() as c:
        show(list(c.projects.list(limit=100).data), ["name", "owner", "status", "dataset_name"], as_json)


@projects.command("get")
def projects_get(name: str) -> None:
    """One project."""
    with client() as c:
        show_one(c.projects.get(name))


@runs.command("create")
def runs_create(project: str, gpus: Annotated[int | None, typer.Option(help="GPUs to hold")] = None) -> None:
    """Start a run of a project."""
    with client() as c:
        show_one(c.runs.create(project, **({"gpus": gpus} if gpus is not None else {})))


@runs.command("list")
def runs_list(project: str, as_json: JsonOption = False) -> None:
    """A project's runs."""
    with client() as c:
        show(list(c.runs.list(project, limit=100).data), ["id", "status", "progress", "created_at"], as_json)


@runs.command("get")
def runs_get(run_id: str) -> None:
    """One run."""
    with client() as c:
        show_one(c.runs.get(run_id))


@runs.command("cancel")
def runs_cancel(run_id: str) -> None:
    """Cancel a run."""
    with client() as c:
        typer.echo(f"{run_id} {c.runs.cancel(run_id).status}")


@runs.command("logs")
def runs_logs(run_id: str, follow: Annotated[bool, typer.Option("--follow", "-f")] = False) -> None:
    """A run's log."""
    with client() as c:
        lines = (
            c.runs.stream_logs(run_id) if follow else (x.line for x in c.runs.logs(run_id, limit=1000).data)
        )
        for line in lines:
            typer.echo(line)


@datasets.command("create")
def datasets_create(name: str) -> None:
    """Create a dataset."""
    with client() as c:
        show_one(c.datasets.create(name))


@datasets.command("upload")
def datasets_upload(dataset_id: str, path: Path) -> None:
    """Upload a file to a dataset, with a progress bar."""
    with client() as c, Progress(console=console) as bar:
        task = bar.add_task(path.name, total=path.stat().st_size)
        result = c.datasets.upload_file(
            dataset_id, path, on_progress=lambda sent, total: bar.update(task, completed=sent)
        )
    show_one(result)


@datasets.command("list")
def datasets_list(as_json: JsonOption = False) -> None:
    """Datasets."""
    with client() as c:
        show(list(c.datasets.list(limit=100).data), ["id", "name", "status", "owner"], as_json)


@datasets.command("get")
def datasets_get(dataset_id: str) -> None:
    """One dataset with its files and validation."""
    with client() as c:
        show_one(c.datasets.get(dataset_id))


@configs.command("upload")
def configs_upload(path: Path) -> None:
    """Upload a training YAML."""
    with client() as c:
        show_one(c.train_configs.upload(path))


@configs.command("list")
def configs_list(as_json: JsonOption = False) -> None:
    """Training configs."""
    with client() as c:
        show(list(c.train_configs.list(limit=100).data), ["id", "name", "size", "uploaded_at"], as_json)


@deid.command("test")
def deid_test(
    texts: Annotated[list[str], typer.Argument(help="texts to de-identify")],
    policy: Annotated[str, typer.Option(help="policy id")] = "default",
    seed: Annotated[int | None, typer.Option(help="the same seed gives the same pseudonyms")] = None,
    as_json: JsonOption = False,
) -> None:
    """De-identify texts and print them, one per line (--json: texts, entities and counts)."""
    with client() as c:
        result = c.deid.test(texts, policy, seed=seed)
    if as_json:
        show_one(result)
        return
    for item in result.results:
        typer.echo(item.text)


@deid.command("policies")
def deid_policies(as_json: JsonOption = False) -> None:
    """The default policy and yours."""
    with client() as c:
        show(c.deid.list_policies(), ["id", "name", "owner", "builtin"], as_json)


@deid.command("dataset")
def deid_dataset(
    dataset_id: str,
    policy: Annotated[str, typer.Option(help="policy id")] = "default",
    seed: Annotated[int | None, typer.Option(help="the same seed gives the same pseudonyms")] = None,
    store_mapping: Annotated[bool, typer.Option(help="keep the sealed mapping (admins read it)")] = False,
    wait: Annotated[bool, typer.Option(help="wait until the job ends")] = False,
) -> None:
    """Write a de-identified copy of a dataset as a new dataset; prints the job."""
    with client() as c:
        job = c.deid.deidentify_dataset(dataset_id, policy, seed=seed, store_mapping=store_mapping)
        if wait:
            job = c.deid.wait_for_job(job.id, poll_interval=0.5)
    show_one(job)
    if job.status == "failed":
        raise typer.Exit(1)


# -- deployments, models --------------------------------------------------------------


def _gpu(value: str | None) -> int | str | None:
    """A GPU given as digits is its index on the host; anything else is its id."""
    return int(value) if value is not None and value.isdigit() else value


@deployments.command("create")
def deployments_create(
    model_path: Annotated[
        str | None,
        typer.Argument(help="a model directory under the server's model roots, or a fine-tuned model's name"),
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="serve this run's output instead")] = None,
    gpu_count: Annotated[int | None, typer.Option(help="GPUs to hold (0: none)")] = None,
    preferred_gpu: Annotated[str | None, typer.Option(help="the GPU to use first: index or id")] = None,
    served_model_name: Annotated[str | None, typer.Option(help="the name clients ask for")] = None,
    model_version: Annotated[str | None, typer.Option(help="a version label")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="a tag (repeat for more)")] = None,
    extra_args: Annotated[
        str | None, typer.Option(help='model-server flags, as --extra-args="--max-model-len 2048"')
    ] = None,
    wait: Annotated[bool, typer.Option(help="wait until it serves (exit 1 if it fails instead)")] = False,
) -> None:
    """Start a model server; prints the deployment."""
    fields = {
        "gpu_count": gpu_count,
        "preferred_gpu": _gpu(preferred_gpu),
        "served_model_name": served_model_name,
        "model_version": model_version,
        "tags": tag or None,
        "extra_args": extra_args,
    }
    with client() as c:
        deployment = c.deployments.create(model_path, run_id, **fields)
        if wait:
            deployment = c.deployments.wait(deployment.id, poll_interval=0.5)
    show_one(deployment)
    if wait and deployment.status != "running":
        raise typer.Exit(1)


@deployments.command("list")
def deployments_list(
    model: Annotated[str | None, typer.Option(help="only this model path")] = None,
    tag: Annotated[str | None, typer.Option(help="only with this tag")] = None,
    status_filter: Annotated[str | None, typer.Option("--status", help="only this status")] = None,
    as_json: JsonOption = False,
) -> None:
    """Deployments, newest first."""
    with client() as c:
        rows = c.deployments.list(model=model, tag=tag, status=status_filter)
    show(rows, ["id", "status", "served_model_name", "model_path", "gpu_ids", "port"], as_json)


@deployments.command("get")
def deployments_get(deployment_id: str) -> None:
    """One deployment with its status, port, pid and command line."""
    with client() as c:
        show_one(c.deployments.get(deployment_id))


@deployments.command("logs")
def deployments_logs(
    deployment_id: str, tail: Annotated[int, typer.Option(help="how many of the last lines")] = 100
) -> None:
    """The last lines of the model server's log."""
    with client() as c:
        for line in c.deployments.logs(deployment_id, tail=tail):
            typer.echo(line)


@deployments.command("stop")
def deployments_stop(
    deployment_id: str,
    force: Annotated[bool, typer.Option(help="KILL at once instead of TERM and a grace period")] = False,
) -> None:
    """Stop a model server and free its GPUs and port."""
    with client() as c:
        c.deployments.stop(deployment_id, force=force)
        typer.echo(f"{deployment_id} {c.deployments.get(deployment_id).status}")


@deployments.command("restart")
def deployments_restart(deployment_id: str) -> None:
    """Stop a model server and start a new one with the same model and settings."""
    with client() as c:
        show_one(c.deployments.restart(deployment_id))


@models.command("list")
def models_list(as_json: JsonOption = False) -> None:
    """Base models and your fine-tuned ones."""
    with client() as c:
        show(c.models.list(), ["id", "kind", "owned_by", "path"], as_json)


@models.command("get")
def models_get(name: str) -> None:
    """One model."""
    with client() as c:
        show_one(c.models.get(name))


def _add_tinker_group() -> None:
    """`tuning tinker …`: EZTinker's run verbs (create, list-runs, sample, save, demo, …), beside `runs`."""
    from eztinker import cli as eztinker_cli

    tinker = _Commands(
        help="Interactive LoRA training runs (as the `eztinker` command).", no_args_is_help=True
    )

    @tinker.callback()
    def _connect() -> None:
        eztinker_cli.connection.api_key, eztinker_cli.connection.base_url = state.api_key, state.base_url

    eztinker_cli.add_run_verbs(tinker)
    app.add_typer(tinker, name="tinker")


_add_tinker_group()


def main() -> None:
    """Entry point of the `tuning` command."""
    app()
