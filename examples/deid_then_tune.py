"""De-identify a training file before a model learns it, then fine-tune on the clean copy.

python examples/deid_then_tune.py --model tuning/tiny-demo --training-file chats.jsonl
"""

from __future__ import annotations

import argparse

from _common import add_common_arguments
from tuning_sdk import TuningClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--seed", type=int, default=7, help="the same seed gives the same pseudonyms")
    args = parser.parse_args()

    with TuningClient(api_key=args.api_key, base_url=args.base_url) as client:
        sample = client.deid.test(["客户张三 手机13812345678 邮箱zhang@example.com"])
        print(f"default policy on a sample: {sample.results[0]['text']}")

        policy = client.deid.create_policy(
            "before training",
            {"PHONE": "pseudonymize", "ID_CARD": "pseudonymize", "EMAIL": "replace", "BANK_CARD": "mask"},
        )
        file = client.files.upload(args.training_file)
        print(f"uploaded {file.filename} as {file.id}")

        job = client.deid.deidentify_dataset(file.id, policy.id, seed=args.seed)
        job = client.deid.wait_for_job(job.id, poll_interval=0.5)
        if job.status != "succeeded":
            raise SystemExit(f"de-identification failed: {job.error}")
        print(f"de-identified {job.records} records: {job.counts} -> dataset {job.output_dataset_id}")
        for record in client.datasets.preview(job.output_dataset_id, limit=2):
            print(f"  line {record['line']}: {record['record']}")

        tuning = client.tunings.create(
            args.model, job.output_dataset_id, hyperparameters={"epochs": args.epochs}
        )
        done = client.tunings.wait(tuning.id, poll_interval=1.0)
        print(f"tuning on the clean copy: {done.status.value}, model {done.fine_tuned_model}")
        client.deid.delete_policy(policy.id)


if __name__ == "__main__":
    main()
