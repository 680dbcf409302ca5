"""Argv templates: commands as lists with `{name}` placeholders, filled without a shell.

The training command, the tuning command and the model-server command are all
templates; each element is filled by plain replacement (never `str.format` on
user text) and the result runs without a shell.
"""

from __future__ import annotations

import sys
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"


def service_placeholders() -> dict[str, str]:
    """{python} and {recipes}: this service's interpreter and the bundled trainer's folder."""
    return {"python": sys.executable, "recipes": str(RECIPES_DIR)}


def fill_placeholders(template: list[str], values: dict[str, str]) -> list[str]:
    """Replace {name} placeholders in each argv element; no shell, no str.format on user text."""
    argv = []
    for element in template:
        for name, value in values.items():
            element = element.replace("{" + name + "}", value)
        argv.append(element)
    return argv
