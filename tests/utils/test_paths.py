"""Path safety helpers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from src.models.projects import RELATIVE_PATH_PATTERN
from src.utils.paths import is_safe_relative_path, resolve_inside, safe_filename

CASES = {
    "data/train.jsonl": True,
    "a": True,
    "./a": True,
    "a..b/c": True,
    "..a": True,
    "../x": False,
    "a/../b": False,
    "a/..": False,
    "..": False,
    "/etc/passwd": False,
    "a\\b": False,
    "a\x00b": False,
    "": False,
}


@pytest.mark.parametrize(("value", "safe"), CASES.items())
def test_relative_path_rule_and_schema_pattern_agree(value: str, safe: bool) -> None:
    assert is_safe_relative_path(value) is safe
    assert bool(value and re.match(RELATIVE_PATH_PATTERN, value)) is safe


def test_resolve_inside_refuses_links_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.txt").write_text("x")
    (root / "link").symlink_to(tmp_path)
    assert resolve_inside(root, "ok.txt") == (root / "ok.txt").resolve()
    with pytest.raises(ValueError):
        resolve_inside(root, "link/secret")
    with pytest.raises(ValueError):
        resolve_inside(root, "../outside")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../x", "x"),
        ("a/b", "b"),
        (".env", "env"),
        ("..", "upload"),
        ("", "upload"),
        ("a\x00b.jsonl", "ab.jsonl"),
        ("C:\\win\\evil.json", "evil.json"),
        ("数据.jsonl", "数据.jsonl"),
    ],
)
def test_safe_filename(given: str, expected: str) -> None:
    assert safe_filename(given) == expected


def test_safe_filename_fits_in_200_bytes_with_its_extension() -> None:
    name = safe_filename("数" * 300 + ".jsonl")
    assert len(name.encode()) <= 200 and name.endswith(".jsonl")
