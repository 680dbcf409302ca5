"""Basic usage: health check, upload, create a job, wait printing progress, show the result, list jobs.

    python examples/basic_usage.py --base-url http://localhost:8000 --api-key KEY \\
        --model tuning/tiny-demo --training-file examples/data/chat.jsonl
"""

from __future__ import annotations

import argparse

from _common import add_common_arguments
from tuning_sdk import TuningClient, TuningJob


def show_progress(job: TuningJob) -> None:
    metrics = job.metrics
    if metrics is None:
        print(f"  {job.status.value}")
        return
    print(f"  {metrics.progress:6.1%}  epoch {metrics.current_epoch or 0:.2f}  loss {metrics.train_loss:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    args = parser.parse_args()

    client = TuningClient(api_key=args.api_key, base_url=args.base_url)
    health = client.health_check()
    print(f"server {health['version']} is {health['status']} ({health['active_jobs']} active jobs)")

    file = client.files.upload(args.training_file)
    print(f"uploaded {file.filename} as {file.id} ({file.bytes} bytes, {file.status})")

    job = client.tunings.create(args.model, file.id, hyperparameters={"epochs": args.epochs}, suffix="basic")
    print(f"created {job.id} on {job.model}: {job.status.value}")
    print(f"fetched again: {client.tunings.get(job.id).status.value}")

    job = client.tunings.wait(job.id, on_progress=show_progress, poll_interval=1.0)
    print(f"finished: {job.status.value}")
    if job.is_successful:
        print(f"fine-tuned model: {job.fine_tuned_model}")
        print(f"final loss: {job.metrics.train_loss:.4f}" if job.metrics else "no metrics")
        for name in job.result_files:
            print(f"  result file: {name}")
    else:
        print(f"error: {job.error}")

    print("recent jobs:")
    for recent in client.tunings.list(limit=5).data:
        print(f"  {recent.id}  {recent.status.value:<10} {recent.model}")
    client.close()
    raise SystemExit(0 if job.is_successful else 1)


if __name__ == "__main__":
    main()
