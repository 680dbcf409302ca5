"""Training-data formats: detect the dialect of each record and check it can train.

Dialects: OpenAI chat (`messages` of `role`/`content`), alpaca
(`instruction`/`input`/`output`), ShareGPT (`conversations` of `from`/`value`
with `human`/`gpt`/`system`), and ShareGPT with `role`/`content` turns.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OPENAI_CHAT = "openai_chat"
ALPACA = "alpaca"
SHAREGPT = "sharegpt"
SHAREGPT_ROLE_CONTENT = "sharegpt_role_content"

MAX_REPORTED_ERRORS = 20
MAX_JSON_ARRAY_BYTES = 512 * 1024 * 1024  # a .json array is parsed whole; larger data belongs in .jsonl
SUPPORTED_SUFFIXES = (".jsonl", ".json")

_RECORD_KEYS = {
    OPENAI_CHAT: {"messages", "tools", "functions", "parallel_tool_calls"},
    ALPACA: {"instruction", "input", "output", "system", "history"},
    SHAREGPT: {"conversations", "system", "tools", "id"},
    SHAREGPT_ROLE_CONTENT: {"conversations", "system", "tools", "id"},
}
_TURN_KEYS = {
    OPENAI_CHAT: {"role", "content", "name", "tool_calls", "tool_call_id", "function_call", "weight"},
    SHAREGPT: {"from", "value"},
    SHAREGPT_ROLE_CONTENT: {"role", "content"},
}
_SHAREGPT_ROLES = {
    "human": "user",
    "gpt": "assistant",
    "system": "system",
    "function_call": "assistant",
    "observation": "tool",
}
_CHAT_ROLES = {"system", "user", "assistant", "tool", "function"}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


class RecordError(ValueError):
    """Why a record cannot be used for training."""


@dataclass(frozen=True)
class Turn:
    role: str
    text: str
    calls_tool: bool = False


@dataclass(frozen=True)
class CheckedRecord:
    dialect: str
    turns: int
    tokens: int


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate: one token per CJK character, one per four other characters."""
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


def detect_dialect(record: Any) -> str:
    """The dialect of one record, or RecordError."""
    if not isinstance(record, dict):
        raise RecordError(f"a record must be a JSON object, not {type(record).__name__}")
    if "messages" in record:
        return OPENAI_CHAT
    if "conversations" in record:
        turns = record["conversations"]
        first = turns[0] if isinstance(turns, list) and turns else None
        if isinstance(first, dict) and "from" in first:
            return SHAREGPT
        if isinstance(first, dict) and "role" in first:
            return SHAREGPT_ROLE_CONTENT
        raise RecordError(
            "'conversations' must be a non-empty list of {from, value} or {role, content} turns"
        )
    if "instruction" in record or "output" in record:
        return ALPACA
    raise RecordError("unknown record format: expected 'messages', 'conversations' or 'instruction'/'output'")


def check_record(record: Any, *, strict: bool = False) -> CheckedRecord:
    """Detect the dialect and check the record; raises RecordError with the reason."""
    dialect = detect_dialect(record)
    if strict:
        unknown = sorted(set(record) - _RECORD_KEYS[dialect])
        if unknown:
            raise RecordError(f"unknown keys {unknown} for {dialect} (strict mode)")
    if dialect == ALPACA:
        turns = _alpaca_turns(record)
    else:
        key = "messages" if dialect == OPENAI_CHAT else "conversations"
        turns = _conversation_turns(record[key], dialect=dialect, strict=strict, key=key)
        if isinstance(record.get("system"), str) and record["system"]:
            turns.insert(0, Turn("system", record["system"]))
    _check_turn_order(turns)
    return CheckedRecord(dialect=dialect, turns=len(turns), tokens=sum(approx_tokens(t.text) for t in turns))


def _text_of(content: Any) -> str | None:
    """Plain text of a message's content: a string, or a list of {type: text, text} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "".join(parts) if parts else None
    return None


def _conversation_turns(raw: Any, *, dialect: str, strict: bool, key: str) -> list[Turn]:
    if not isinstance(raw, list) or not raw:
        raise RecordError(f"'{key}' must be a non-empty list")
    turns = []
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise RecordError(f"turn {index} of '{key}' is not an object")
        if strict:
            unknown = sorted(set(item) - _TURN_KEYS[dialect])
            if unknown:
                raise RecordError(f"turn {index} has unknown keys {unknown} (strict mode)")
        if dialect == SHAREGPT:
            speaker = item.get("from")
            if speaker not in _SHAREGPT_ROLES:
                raise RecordError(
                    f"turn {index}: 'from' must be one of {sorted(_SHAREGPT_ROLES)}, not {speaker!r}"
                )
            role, text, calls_tool = (
                _SHAREGPT_ROLES[speaker],
                _text_of(item.get("value")),
                speaker == "function_call",
            )
        else:
            role = item.get("role")
            if role not in _CHAT_ROLES:
                raise RecordError(f"turn {index}: 'role' must be one of {sorted(_CHAT_ROLES)}, not {role!r}")
            role = "tool" if role == "function" else role
            calls_tool = bool(item.get("tool_calls") or item.get("function_call"))
            text = _text_of(item.get("content"))
            if text is None and calls_tool:
                text = json.dumps(item.get("tool_calls") or item.get("function_call"))
        if not text or not text.strip():
            raise RecordError(f"turn {index} ({role}) has empty content")
        turns.append(Turn(role, text, calls_tool))
    return turns


def _alpaca_turns(record: dict[str, Any]) -> list[Turn]:
    instruction, prompt_input, output = (
        record.get("instruction", ""),
        record.get("input", ""),
        record.get("output"),
    )
    for name, value in (("instruction", instruction), ("input", prompt_input), ("output", output)):
        if value is not None and not isinstance(value, str):
            raise RecordError(f"'{name}' must be a string")
    if not (instruction or "").strip() and not (prompt_input or "").strip():
        raise RecordError("empty content: 'instruction' and 'input' are both empty")
    if not (output or "").strip():
        raise RecordError("empty content: 'output' is empty")
    turns = (
        [Turn("system", record["system"])]
        if isinstance(record.get("system"), str) and record["system"]
        else []
    )
    history = record.get("history") or []
    if not isinstance(history, list):
        raise RecordError("'history' must be a list of [question, answer] pairs")
    for index, pair in enumerate(history, start=1):
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) and p.strip() for p in pair)
        ):
            raise RecordError(f"history entry {index} must be a [question, answer] pair of non-empty strings")
        turns += [Turn("user", pair[0]), Turn("assistant", pair[1])]
    user_text = "\n".join(part for part in (instruction, prompt_input) if part)
    return [*turns, Turn("user", user_text), Turn("assistant", output or "")]


def _check_turn_order(turns: list[Turn]) -> None:
    """System first; then user and assistant alternate (tool replies follow a tool call); end on assistant."""
    expected = "user"
    seen_other = False
    previous: Turn | None = None
    for index, turn in enumerate(turns, start=1):
        if turn.role == "system":
            if seen_other:
                raise RecordError(f"wrong role order: system message at turn {index} must come first")
            continue
        seen_other = True
        if turn.role == "tool":
            if previous is None or not (previous.calls_tool or previous.role == "tool"):
                raise RecordError(
                    f"wrong role order: tool reply at turn {index} without a tool call before it"
                )
        elif turn.role != expected and not (
            turn.role == "assistant" and previous and previous.role == "tool"
        ):
            raise RecordError(f"wrong role order: expected {expected} at turn {index}, got {turn.role}")
        expected = "user" if turn.role == "assistant" else "assistant"
        previous = turn
    if previous is None:
        raise RecordError("no user or assistant turns")
    if previous.role != "assistant":
        raise RecordError("wrong role order: the conversation must end with an assistant turn")


@dataclass
class ValidationReport:
    total_loaded: int = 0
    valid_conversations: int = 0
    invalid_conversations: int = 0
    total_turns: int = 0
    approx_tokens: int = 0
    dialect_counts: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    fatal: str | None = None

    @property
    def format(self) -> str | None:
        """The single dialect of the file, `mixed`, or None when nothing was valid."""
        if not self.dialect_counts:
            return None
        return next(iter(self.dialect_counts)) if len(self.dialect_counts) == 1 else "mixed"

    def add_error(self, line: int, reason: str) -> None:
        self.invalid_conversations += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": line, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_loaded": self.total_loaded,
            "valid_conversations": self.valid_conversations,
            "invalid_conversations": self.invalid_conversations,
            "total_turns": self.total_turns,
            "approx_tokens": self.approx_tokens,
            "dialect_counts": dict(self.dialect_counts),
            "format": self.format,
            "errors": self.errors,
            "fatal": self.fatal,
        }


def _load(raw: bytes) -> Any:
    """The parsed value, or a RecordError: bad JSON or UTF-8, an integer over Python's 4300-digit
    limit (a ValueError too), or nesting deeper than the parser's recursion limit."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return RecordError(f"bad JSON: {exc}")


def iter_raw_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line or position, parsed value or the JSON error) for each record of a .jsonl or .json file."""
    if path.suffix == ".jsonl":
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                yield number, _load(raw)
        return
    if path.stat().st_size > MAX_JSON_ARRAY_BYTES:
        raise RecordError(f"a .json file over {MAX_JSON_ARRAY_BYTES} bytes cannot be checked; use .jsonl")
    document = _load(path.read_bytes())
    if isinstance(document, RecordError):
        raise document
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        document = document["data"]
    if not isinstance(document, list):
        raise RecordError("a .json dataset must be an array of records")
    yield from enumerate(document, start=1)


def validate_file(
    path: Path, *, strict: bool = False, should_stop: Callable[[], bool] | None = None
) -> ValidationReport:
    """Check every record of the file and gather the statistics."""
    report = ValidationReport()
    try:
        for line, value in iter_raw_records(path):
            if should_stop is not None and line % 1024 == 0 and should_stop():
                raise InterruptedError("validation stopped")
            report.total_loaded += 1
            if isinstance(value, RecordError):
                report.add_error(line, str(value))
                continue
            try:
                checked = check_record(value, strict=strict)
            except RecordError as exc:
                report.add_error(line, str(exc))
                continue
            report.valid_conversations += 1
            report.total_turns += checked.turns
            report.approx_tokens += checked.tokens
            report.dialect_counts[checked.dialect] += 1
    except RecordError as exc:
        report.fatal = str(exc)
    return report


def preview_records(path: Path, *, limit: int, strict: bool = False) -> list[dict[str, Any]]:
    """The first `limit` valid records of a file, parsed, with their line and dialect."""
    found: list[dict[str, Any]] = []
    try:
        for line, value in iter_raw_records(path):
            if isinstance(value, RecordError):
                continue
            try:
                checked = check_record(value, strict=strict)
            except RecordError:
                continue
            found.append({"line": line, "format": checked.dialect, "record": value})
            if len(found) >= limit:
                break
    except RecordError:
        return found
    return found
