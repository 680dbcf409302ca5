"""Settings read the documented environment names."""

from __future__ import annotations

import pytest

from app.config import InsecureBindError, Settings, check_bind_is_safe


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("TUNING_DATABASE_URL", "TRAINING_DB_URL", "TUNING_AUTH", "TUNING_API_KEYS", "TUNING_HOST"):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = Settings()
    assert settings.store.database_url == "sqlite:///./training.db"
    assert settings.server.host == "127.0.0.1" and settings.server.port == 8000
    assert settings.auth.mode == "api_key" and settings.auth.api_keys == []


def test_seed_database_variable_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINING_DB_URL", "postgresql://u@db/x")
    assert Settings().store.database_url == "postgresql://u@db/x"
    monkeypatch.setenv("TUNING_DATABASE_URL", "sqlite:///other.db")
    assert Settings().store.database_url == "sqlite:///other.db"


def test_read_threads_follow_the_database_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNING_READ_THREADS", raising=False)
    assert Settings().read_threads == 2
    monkeypatch.setenv("TUNING_DATABASE_URL", "postgresql+psycopg://u@db/x")
    assert Settings().read_threads == 4
    monkeypatch.setenv("TUNING_READ_THREADS", "7")
    assert Settings().read_threads == 7


def test_api_keys_accept_strings_and_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TUNING_API_KEYS", '["test-key-001", {"key": "test-key-002", "owner": "bob", "role": "user"}]'
    )
    keys = Settings().auth.api_keys
    assert [(k.key, k.owner, k.role) for k in keys] == [
        ("test-key-001", "dev", "admin"),
        ("test-key-002", "bob", "user"),
    ]


def test_env_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("TUNING_AUTH=off\nTUNING_PORT=9100\n")
    settings = Settings()
    assert settings.auth.mode == "off" and settings.server.port == 9100


@pytest.mark.parametrize(
    ("host", "auth", "allow", "refused"),
    [
        ("127.0.0.1", "off", False, False),
        ("::1", "off", False, False),
        ("localhost", "off", False, False),
        ("0.0.0.0", "off", False, True),
        ("10.0.0.5", "off", False, True),
        ("0.0.0.0", "off", True, False),
        ("0.0.0.0", "api_key", False, False),
    ],
)
def test_bind_check(
    monkeypatch: pytest.MonkeyPatch, host: str, auth: str, allow: bool, refused: bool
) -> None:
    monkeypatch.setenv("TUNING_HOST", host)
    monkeypatch.setenv("TUNING_AUTH", auth)
    monkeypatch.setenv("TUNING_ALLOW_INSECURE", "1" if allow else "0")
    if refused:
        with pytest.raises(InsecureBindError):
            check_bind_is_safe(Settings())
    else:
        check_bind_is_safe(Settings())
