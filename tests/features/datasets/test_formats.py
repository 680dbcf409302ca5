"""Record-level format detection and checks, without HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from src.features.datasets.formats import (
    OPENAI_CHAT,
    SHAREGPT_ROLE_CONTENT,
    RecordError,
    approx_tokens,
    check_record,
    validate_file,
)
from tests.support.data import ALPACA, OPENAI, SHAREGPT, SHAREGPT_ROLES, jsonl


@pytest.mark.parametrize(
    ("record", "dialect", "turns"),
    [
        (OPENAI, OPENAI_CHAT, 3),
        (ALPACA, "alpaca", 2),
        (SHAREGPT, "sharegpt", 2),
        (SHAREGPT_ROLES, SHAREGPT_ROLE_CONTENT, 2),
        ({**SHAREGPT, "system": "sys"}, "sharegpt", 3),
        ({"instruction": "i", "output": "o", "history": [["q1", "a1"]]}, "alpaca", 4),
    ],
)
def test_detects_each_dialect(record: dict, dialect: str, turns: int) -> None:
    checked = check_record(record)
    assert (checked.dialect, checked.turns) == (dialect, turns)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"messages": [{"role": "assistant", "content": "a"}]}, "expected user at turn 1"),
        ({"messages": [{"role": "user", "content": "q"}]}, "must end with an assistant turn"),
        (
            {"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "q"}]},
            "expected assistant",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "system", "content": "s"},
                    {"role": "assistant", "content": "a"},
                ]
            },
            "system message at turn 2",
        ),
        (
            {"messages": [{"role": "user", "content": "  "}, {"role": "assistant", "content": "a"}]},
            "empty content",
        ),
        ({"messages": [{"role": "robot", "content": "x"}]}, "'role' must be one of"),
        ({"messages": []}, "non-empty list"),
        ({"conversations": [{"from": "gpt", "value": "a"}]}, "expected user at turn 1"),
        ({"conversations": [{"from": "bot", "value": "a"}]}, "'from' must be one of"),
        ({"instruction": "i", "output": ""}, "'output' is empty"),
        ({"instruction": "", "input": "", "output": "o"}, "both empty"),
        ({"text": "hello"}, "unknown record format"),
        (["not", "an", "object"], "must be a JSON object"),
    ],
)
def test_invalid_records_say_why(record: object, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        check_record(record)


def test_tool_calls_are_allowed_between_turns() -> None:
    record = {
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "1", "content": "sunny"},
            {"role": "assistant", "content": "It is sunny."},
        ]
    }
    assert check_record(record).turns == 4
    without_call = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "tool", "content": "x"},
            {"role": "assistant", "content": "a"},
        ]
    }
    with pytest.raises(RecordError, match="without a tool call"):
        check_record(without_call)


def test_strict_mode_rejects_unknown_keys() -> None:
    record = {**OPENAI, "source": "crawl"}
    assert check_record(record).dialect == OPENAI_CHAT
    with pytest.raises(RecordError, match=r"unknown keys \['source'\]"):
        check_record(record, strict=True)
    turn_extra = {
        "conversations": [{"from": "human", "value": "q", "lang": "en"}, {"from": "gpt", "value": "a"}]
    }
    with pytest.raises(RecordError, match="turn 1 has unknown keys"):
        check_record(turn_extra, strict=True)


def test_token_estimate_counts_cjk_characters() -> None:
    assert approx_tokens("你好世界") == 4
    assert approx_tokens("abcdefgh") == 2


def test_mixed_file_reports_counts_and_numbered_errors(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        jsonl(OPENAI, ALPACA, "{broken", SHAREGPT, SHAREGPT_ROLES, "", {"messages": "x"}, ALPACA)
    )
    report = validate_file(path).as_dict()
    assert report["total_loaded"] == 7  # the blank line is skipped, not counted
    assert report["valid_conversations"] == 5
    assert report["invalid_conversations"] == 2
    assert report["dialect_counts"] == {OPENAI_CHAT: 1, "alpaca": 2, "sharegpt": 1, SHAREGPT_ROLE_CONTENT: 1}
    assert report["format"] == "mixed"
    assert [e["line"] for e in report["errors"]] == [3, 7]
    assert report["errors"][0]["reason"].startswith("bad JSON")
    assert report["total_turns"] == 3 + 2 + 2 + 2 + 2


def test_only_first_twenty_errors_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(jsonl(*(["{nope"] * 30)))
    report = validate_file(path)
    assert report.invalid_conversations == 30 and len(report.errors) == 20


def test_json_array_files(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(json.dumps([ALPACA, ALPACA, {"bad": 1}]))
    report = validate_file(path)
    assert (report.valid_conversations, report.invalid_conversations, report.format) == (2, 1, "alpaca")
    not_array = tmp_path / "obj.json"
    not_array.write_text(json.dumps({"a": 1}))
    assert "array of records" in validate_file(not_array).fatal
