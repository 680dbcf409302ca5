"""Advanced usage: six scenarios, chosen from a menu, or with --example N or --all.

python examples/advanced_usage.py --list         # the menu, and nothing else
python examples/advanced_usage.py                # the menu, then asks which to run
python examples/advanced_usage.py --example 4
python examples/advanced_usage.py --all --model tuning/tiny-demo --training-file examples/data/chat.jsonl
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from _common import add_common_arguments
from tuning_sdk import AuthenticationError, JobStatus, NotFoundError, TuningClient, TuningError, TuningJob


def error_handling(args: argparse.Namespace, file_id: str) -> None:
    """1. Error handling: a bad key and a missing job."""
    try:
        TuningClient(api_key="not-a-real-key", base_url=args.base_url, max_retries=0).tunings.list()
    except AuthenticationError as exc:
        print(f"bad key -> AuthenticationError ({exc.status_code}): {exc.message}")
    with TuningClient(api_key=args.api_key, base_url=args.base_url) as client:
        try:
            client.tunings.get("job-000000000000")
        except NotFoundError as exc:
            print(f"missing job -> NotFoundError ({exc.status_code}), request id {exc.request_id}")


def context_manager(args: argparse.Namespace, file_id: str) -> None:
    """2. The client as a context manager (the connection pool closes on exit)."""
    with TuningClient(api_key=args.api_key, base_url=args.base_url) as client:
        print(f"inside the block: {client.health_check()['status']}")
    print("outside the block: closed")


def cancel_running(args: argparse.Namespace, file_id: str) -> None:
    """3. Cancel a running job."""
    with TuningClient(api_key=args.api_key, base_url=args.base_url) as client:
        job = client.tunings.create(args.model, file_id, hyperparameters={"epochs": 200})
        while (current := client.tunings.get(job.id)).status is JobStatus.pending:
            time.sleep(0.5)
        print(f"{job.id} is {current.status.value}; cancelling")
        job.cancel()
        final = client.tunings.wait(job.id, poll_interval=0.5)
        print(f"{job.id} ended {final.status.value}")


def stream_logs(args: argparse.Namespace, file_id: str) -> None:
    """4. Stream a job's log live until it ends."""
    with TuningClient(api_key=args.api_key, base_url=args.base_url) as client:
        job = client.tunings.create(args.model, file_id, hyperparameters={"epochs": args.epochs})
        count = 0
        for line in client.tunings.stream_logs(job.id):
            count += 1
            if count <= 5 or "saved" in line:
                print(f"  | {line[:120]}")
        print(f"{count} log lines; job {client.tunings.get(job.id).status.value}")


def batch(args: argparse.Namespace, file_id: str) -> None:
    """5. Create several jobs, query them, cancel them."""
    with TuningClient(api_key=args.api_key, base_url=args.base_url) as client:
        jobs = [client.tunings.create(args.model, file_id, hyperparameters={"epochs": 100}) for _ in range(3)]
        for job in jobs:
            print(f"  {job.id}: {client.tunings.get(job.id).status.value}")
        for job in jobs:
            client.tunings.cancel(job.id)
        finals = [client.tunings.wait(job.id, poll_interval=0.5).status.value for job in jobs]
        print(f"after cancel: {finals}")


def progress_with_eta(args: argparse.Namespace, file_id: str) -> None:
    """6. A custom progress display with an ETA."""
    with TuningClient(api_key=args.api_key, base_url=args.base_url) as client:
        job = client.tunings.create(args.model, file_id, hyperparameters={"epochs": args.epochs})
        started = time.monotonic()

        def show(current: TuningJob) -> None:
            metrics = current.metrics
            if metrics is None or metrics.progress <= 0:
                print(f"  {current.status.value}")
                return
            elapsed = time.monotonic() - started
            eta = elapsed / metrics.progress * (1 - metrics.progress)
            print(
                f"  {metrics.progress:6.1%}  step {metrics.current_step}/{metrics.total_steps}  "
                f"loss {metrics.train_loss:.4f}  ETA {eta:5.1f} s"
            )

        final = client.tunings.wait(job.id, on_progress=show, poll_interval=0.5)
        print(f"done: {final.status.value} in {time.monotonic() - started:.1f} s")


EXAMPLES: list[Callable[[argparse.Namespace, str], None]] = [
    error_handling,
    context_manager,
    cancel_running,
    stream_logs,
    batch,
    progress_with_eta,
]


def menu() -> str:
    return "\n".join(f"{n}. {example.__doc__.split('. ', 1)[1]}" for n, example in enumerate(EXAMPLES, 1))


def ask_for_one() -> int:
    """The example to run, typed after the menu; a closed or empty input ends the script."""
    try:
        answer = input("example number: ").strip()
    except EOFError:
        answer = ""
    if not answer.isdigit() or not 1 <= int(answer) <= len(EXAMPLES):
        raise SystemExit(f"no example chosen: type 1-{len(EXAMPLES)}, or pass --example N or --all")
    return int(answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--list", action="store_true", help="print the menu and exit")
    parser.add_argument("--all", action="store_true", help="run every example without asking")
    parser.add_argument("--example", type=int, choices=range(1, len(EXAMPLES) + 1), help="run one example")
    args = parser.parse_args()
    if args.all:
        chosen = list(range(1, len(EXAMPLES) + 1))
    elif args.example:
        chosen = [args.example]
    else:
        print(menu())
        if args.list:
            return
        chosen = [ask_for_one()]
    try:
        with TuningClient(api_key=args.api_key, base_url=args.base_url) as client:
            file_id = client.files.upload(args.training_file).id
        for number in chosen:
            example = EXAMPLES[number - 1]
            print(f"\n== {example.__doc__}")
            example(args, file_id)
    except TuningError as exc:
        raise SystemExit(f"error: {exc}") from exc


if __name__ == "__main__":
    main()
