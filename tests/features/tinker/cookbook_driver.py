"""Run one tinker-cookbook training loop, unmodified, against a Tinker-compatible server.

Runs in the cookbook's own virtual environment (scripts/cookbook-venv.sh), not the
project's: it imports nothing from this repository. The API key comes from
`TINKER_API_KEY`. The model name is the one the server lists; the cookbook loads the
tokenizer itself from that name (`AutoTokenizer.from_pretrained`), so a local model
directory's path works offline.

    python cookbook_driver.py supervised --base-url URL --model NAME --data FILE --log-dir DIR
    python cookbook_driver.py rl --base-url URL --model NAME --log-dir DIR [--loss-fn cispo]
"""

from __future__ import annotations

import argparse
import asyncio

from tinker_cookbook.recipes.math_rl.arithmetic_env import ArithmeticDatasetBuilder
from tinker_cookbook.rl import train as rl_train
from tinker_cookbook.supervised import train as supervised_train
from tinker_cookbook.supervised.data import FromConversationFileBuilder
from tinker_cookbook.supervised.types import ChatDatasetBuilderCommonConfig

RENDERER = "role_colon"


def run_supervised(args: argparse.Namespace) -> None:
    """Supervised fine-tuning on a local conversations file, with a held-out set evaluated on the way."""
    common = ChatDatasetBuilderCommonConfig(
        model_name_for_tokenizer=args.model,
        renderer_name=RENDERER,
        max_length=128,
        batch_size=2,
    )
    config = supervised_train.Config(
        log_path=args.log_dir,
        model_name=args.model,
        recipe_name="tuning_service_cookbook_test",
        renderer_name=RENDERER,
        dataset_builder=FromConversationFileBuilder(common_config=common, file_path=args.data, test_size=2),
        learning_rate=1e-3,
        lora_rank=4,
        base_url=args.base_url,
        num_epochs=1,
        save_every=1,
        eval_every=1,
    )
    asyncio.run(supervised_train.main(config))


def run_rl(args: argparse.Namespace) -> None:
    """RL on the cookbook's arithmetic environment: sample, grade, train, a few steps."""
    dataset = ArithmeticDatasetBuilder(
        batch_size=2,
        group_size=2,
        n_batches=2,
        model_name_for_tokenizer=args.model,
        renderer_name=RENDERER,
    )
    config = rl_train.Config(
        learning_rate=1e-3,
        dataset_builder=dataset,
        model_name=args.model,
        recipe_name="tuning_service_cookbook_test",
        renderer_name=RENDERER,
        max_tokens=8,
        log_path=args.log_dir,
        base_url=args.base_url,
        lora_rank=4,
        loss_fn=args.loss_fn,
        eval_every=0,
        save_every=1,
    )
    asyncio.run(rl_train.main(config))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("loop", choices=("supervised", "rl"))
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True, help="a base model the server lists")
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--data", help="conversations JSONL (supervised)")
    parser.add_argument("--loss-fn", default="importance_sampling", help="RL loss (rl)")
    args = parser.parse_args()
    if args.loop == "supervised":
        if not args.data:
            parser.error("supervised needs --data")
        run_supervised(args)
    else:
        run_rl(args)


if __name__ == "__main__":
    main()
