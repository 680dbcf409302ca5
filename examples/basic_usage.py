"""Basic usage: health check, upload, create a job, wait with a progress bar, show the result, list jobs.

    python examples/basic_usage.py --base-url http://localhost:8000 --api-key KEY \\
        --model Qwen/Qwen2-0.5B-Instruct --training-file train.jsonl
"""

from __future__ import annotations

import argparse

from _common import add_common_arguments
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from tuning_sdk import TuningClient, TuningJob

console = Console()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    args = parser.parse_args()

    client = TuningClient(api_key=args.api_key, base_url=args.base_url)
    health = client.health_check()
    console.print(f"server {health['version']} is {health['status']} ({health['active_jobs']} active jobs)")

    file = client.files.upload(args.training_file)
    console.print(f"uploaded {file.filename} as {file.id} ({file.bytes} bytes, {file.status})")

    job = client.tunings.create(args.model, file.id, hyperparameters={"epochs": args.epochs}, suffix="basic")
    console.print(f"created {job.id}: {job.status.value}")
    console.print(f"fetched again: {client.tunings.get(job.id).status.value}")

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(job.id, total=1.0, detail="queued")

        def show(current: TuningJob) -> None:
            metrics = current.metrics
            if metrics is None:
                bar.update(task, detail=current.status.value)
                return
            bar.update(
                task,
                completed=metrics.progress,
                detail=f"epoch {metrics.current_epoch or 0:.2f}  loss {metrics.train_loss:.4f}",
            )

        job = client.tunings.wait(job.id, on_progress=show, poll_interval=1.0)

    console.print(f"finished: {job.status.value}")
    if job.is_successful:
        console.print(f"fine-tuned model: {job.fine_tuned_model}")
        console.print(f"final loss: {job.metrics.train_loss:.4f}" if job.metrics else "no metrics")
        for name in job.result_files:
            console.print(f"  result file: {name}")
    else:
        console.print(f"error: {job.error}")

    console.print("recent jobs:")
    for recent in client.tunings.list(limit=5).data:
        console.print(f"  {recent.id}  {recent.status.value:<10} {recent.model}")
    client.close()
    raise SystemExit(0 if job.is_successful else 1)


if __name__ == "__main__":
    main()
