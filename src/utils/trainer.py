"""The bundled trainer's command line, shared by local runs and tuning jobs."""

from __future__ import annotations

# argv template; {python} is this service's interpreter and {recipes} the folder of recipes/sft_lora.py
BUNDLED_TRAINER_COMMAND = (
    "{python}",
    "{recipes}/sft_lora.py",
    "{training_yaml}",
    "--dataset",
    "{dataset}",
    "--output_dir",
    "{output_dir}",
)
