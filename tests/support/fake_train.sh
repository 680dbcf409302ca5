#!/bin/sh
# A scripted "training" run for tests: Hugging Face log lines, tqdm counters,
# LLaMA-Factory's trainer_log.jsonl, output files, then the exit code asked for.
# Settings come from the environment: FAKE_STEPS, FAKE_SLEEP, FAKE_EXIT, FAKE_LINES, FAKE_OOM,
# FAKE_HANG (seconds of silence first), FAKE_IGNORE_TERM (only KILL stops it),
# FAKE_REAL (also a loading bar first, an evaluation bar and the end-of-training summary, as
# transformers prints them), FAKE_NO_TRAINER_LOG (no trainer_log.jsonl: output.log only).
yaml="$1"
if [ -n "$FAKE_IGNORE_TERM" ]; then trap '' TERM; fi
steps="${FAKE_STEPS:-4}"
pause="${FAKE_SLEEP:-0.05}"
out="$TUNING_OUTPUT_DIR"
mkdir -p "$out"
echo "run $TUNING_RUN_ID config $yaml gpus [$CUDA_VISIBLE_DEVICES]"
if [ -n "$FAKE_MARK" ]; then echo "start $TUNING_RUN_ID" >> "$FAKE_MARK"; fi
id -u > "$TUNING_RUN_DIR/uid"  # who the training process runs as
# what a W&B client would see, so a test can check that a sealed credential arrives opened
if [ -n "$WANDB_API_KEY" ]; then printf %s "$WANDB_API_KEY" > "$TUNING_RUN_DIR/wandb-key-seen"; fi
if [ -n "$FAKE_HANG" ]; then sleep "$FAKE_HANG"; fi
if [ -n "$FAKE_REAL" ]; then echo "Loading weights: 100%|██████████| 21/21 [00:00<00:00, 12291.43it/s]"; fi
i=1
while [ "$i" -le "$steps" ]; do
    printf '%d/%d [00:0%d<00:10, 1.00it/s]\n' "$i" "$steps" "$i"
    echo "{'loss': 1.$((10 - i)), 'grad_norm': 0.5, 'learning_rate': 2e-05, 'epoch': $i.0}"
    if [ -z "$FAKE_NO_TRAINER_LOG" ]; then
        echo "{\"current_steps\": $i, \"total_steps\": $steps, \"loss\": 1.$((10 - i)), \"lr\": 2e-05, \"grad_norm\": 0.5, \"epoch\": $i.0, \"percentage\": $((i * 100 / steps)).0}" >> "$out/trainer_log.jsonl"
    fi
    if [ -n "$FAKE_REAL" ]; then
        echo " 67%|██████▋   | 2/3 [00:00<00:00, 9.1it/s]"
        echo "{'eval_loss': '2.$i', 'eval_runtime': '0.1', 'epoch': '$i.0'}"
        if [ -z "$FAKE_NO_TRAINER_LOG" ]; then
            echo "{\"current_steps\": $i, \"total_steps\": $steps, \"eval_loss\": 2.$i, \"epoch\": $i.0, \"percentage\": $((i * 100 / steps)).0}" >> "$out/trainer_log.jsonl"
        fi
    fi
    sleep "$pause"
    i=$((i + 1))
done
n=1
while [ "$n" -le "${FAKE_LINES:-0}" ]; do
    echo "line $n"
    n=$((n + 1))
done
if [ -n "$FAKE_REAL" ]; then
    echo "{'train_runtime': '0.5', 'train_samples_per_second': '64.0', 'train_steps_per_second': '8.0', 'train_loss': '1.75', 'epoch': '$steps.0'}"
fi
if [ -n "$FAKE_OOM" ]; then echo "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"; fi
echo '{"r": 8}' > "$out/adapter_config.json"
printf 'weights' > "$out/adapter_model.safetensors"
mkdir -p "$out/checkpoint-$steps"
echo '{}' > "$out/checkpoint-$steps/trainer_state.json"
if [ -n "$FAKE_MARK" ]; then echo "end $TUNING_RUN_ID" >> "$FAKE_MARK"; fi
echo "finished"
exit "${FAKE_EXIT:-0}"
