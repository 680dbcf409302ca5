"""README's configuration table lists every setting the code reads."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from app.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def env_names() -> set[str]:
    names: set[str] = set()
    for section_field in Settings.model_fields.values():
        section = section_field.annotation
        assert isinstance(section, type) and issubclass(section, BaseSettings)
        prefix = section.model_config.get("env_prefix", "")
        for name, field in section.model_fields.items():
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                names |= {c for c in alias.choices if isinstance(c, str) and c.isupper()}
            else:
                names.add(f"{prefix}{name}".upper())
    return names


def test_every_setting_is_documented() -> None:
    text = README.read_text()
    missing = sorted(name for name in env_names() if f"`{name}`" not in text)
    assert missing == []
    assert {"TUNING_AUTH", "TRAINING_DB_URL", "TUNING_API_KEYS", "TUNING_LOG_FILE"} <= env_names()
