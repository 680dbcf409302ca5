"""Local training and evaluation data: ShareGPT conversations and GSM8K math problems.

Nothing here downloads anything: both datasets read files already on this machine.
The module needs only the standard library; a tokenizer is the caller's, and
`math_verify` is used for grading when it happens to be installed.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, Protocol, TypedDict

logger = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_REPORTED_INVALID = 20

FROM_VALUE = "from_value"
ROLE_CONTENT = "role_content"
Dialect = Literal["from_value", "role_content"]

_RECORD_KEYS = {"id", "conversations", "messages", "system"}
_TURN_KEYS: dict[str, set[str]] = {FROM_VALUE: {"from", "value"}, ROLE_CONTENT: {"role", "content"}}
_ROLES: dict[str, dict[str, str]] = {
    FROM_VALUE: {"human": "user", "gpt": "assistant", "system": "system"},
    ROLE_CONTENT: {"user": "user", "assistant": "assistant", "system": "system"},
}
# non-strict loading also accepts the other dialect's role names ({"from": "user"})
_ANY_ROLE = {**_ROLES[FROM_VALUE], **_ROLES[ROLE_CONTENT]}


class ChatTemplateTokenizer(Protocol):
    """What the datasets use of a tokenizer (a `transformers` tokenizer fits)."""

    def apply_chat_template(self, conversation: list[dict[str, str]], **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Conversation:
    """One valid conversation, its turns normalised to `role`/`content` messages."""

    id: str
    messages: tuple[tuple[str, str], ...]
    dialect: Dialect

    def as_messages(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


class _InvalidConversation(ValueError):
    """Why a record is not a usable conversation."""


def _check_size(path: Path, max_file_bytes: int | None) -> None:
    size = path.stat().st_size
    if max_file_bytes is not None and size > max_file_bytes:
        raise ValueError(
            f"{path} is {size} bytes, over the limit of {max_file_bytes}; "
            "pass a larger max_file_bytes (or None) to load it anyway"
        )


def _iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line; a ValueError names the bad line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield number, json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise ValueError(f"{path}, line {number}: bad JSON: {exc}") from exc


def _iter_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(record number, parsed value): the line for .jsonl, the 1-based array position for .json."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _iter_jsonl(path)
    elif suffix == ".json":
        try:
            document = json.loads(path.read_bytes())
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"{path}: bad JSON: {exc}") from exc
        if not isinstance(document, list):
            raise ValueError(f"{path}: a .json dataset must be an array of conversations")
        yield from enumerate(document, start=1)
    else:
        raise ValueError(f"{path}: expected a .json or .jsonl file, not {path.suffix or 'no suffix'}")


def _turn_dialect(turn: dict[str, Any]) -> Dialect:
    if "from" in turn:
        return "from_value"
    if "role" in turn:
        return "role_content"
    raise _InvalidConversation("a turn has neither 'from' nor 'role'")


def _normalise_turn(turn: Any, *, number: int, strict: bool) -> tuple[Dialect, str, str]:
    if not isinstance(turn, dict):
        raise _InvalidConversation(f"turn {number} is not an object")
    dialect = _turn_dialect(turn)
    role_key, content_key = ("from", "value") if dialect == FROM_VALUE else ("role", "content")
    if strict and set(turn) - _TURN_KEYS[dialect]:
        unknown = sorted(set(turn) - _TURN_KEYS[dialect])
        raise _InvalidConversation(f"turn {number} has unknown keys {unknown}")
    known = _ROLES[dialect] if strict else _ANY_ROLE
    speaker = turn[role_key]
    if not isinstance(speaker, str) or speaker not in known:
        raise _InvalidConversation(
            f"turn {number}: '{role_key}' must be one of {sorted(known)}, not {speaker!r}"
        )
    content = turn.get(content_key)
    if not isinstance(content, str):
        raise _InvalidConversation(f"turn {number}: '{content_key}' must be a string")
    if not content.strip():
        raise _InvalidConversation(f"turn {number} is empty")
    return dialect, known[speaker], content


def _check_order(messages: list[tuple[str, str]]) -> None:
    """One optional system turn first, then user and assistant alternate, starting with user."""
    body = messages[1:] if messages and messages[0][0] == "system" else messages
    if not body:
        raise _InvalidConversation("no user or assistant turns")
    for index, (role, _) in enumerate(body):
        expected = "user" if index % 2 == 0 else "assistant"
        if role != expected:
            raise _InvalidConversation(f"wrong role order: expected {expected}, got {role}")
    if body[-1][0] != "assistant":
        raise _InvalidConversation("the conversation must end with an assistant turn")


def _parse_conversation(record: Any, *, index: int, strict: bool) -> Conversation:
    if not isinstance(record, dict):
        raise _InvalidConversation(f"a conversation must be a JSON object, not {type(record).__name__}")
    if "conversations" in record and "messages" in record:
        raise _InvalidConversation("both 'conversations' and 'messages' are present")
    if strict and set(record) - _RECORD_KEYS:
        raise _InvalidConversation(f"unknown keys {sorted(set(record) - _RECORD_KEYS)}")
    turns = record.get("conversations", record.get("messages"))
    if not isinstance(turns, list) or not turns:
        raise _InvalidConversation("'conversations' or 'messages' must be a non-empty list of turns")
    normalised = [_normalise_turn(turn, number=n, strict=strict) for n, turn in enumerate(turns, start=1)]
    dialects = {dialect for dialect, _, _ in normalised}
    if strict and len(dialects) > 1:
        raise _InvalidConversation("mixes from/value and role/content turns")
    messages = [(role, content) for _, role, content in normalised]
    system = record.get("system")
    if system is not None and not isinstance(system, str):
        raise _InvalidConversation("'system' must be a string")
    if system and system.strip():
        messages.insert(0, ("system", system))
    if not strict and messages[-1][0] == "user":
        messages.pop()  # an unanswered last question teaches nothing; the rest still trains
    _check_order(messages)
    raw_id = record.get("id")
    usable_id = (isinstance(raw_id, str) and raw_id) or (type(raw_id) is int)
    return Conversation(
        id=str(raw_id) if usable_id else str(index), messages=tuple(messages), dialect=normalised[0][0]
    )


def format_chatml(messages: list[dict[str, str]]) -> str:
    """Qwen2's ChatML layout, without the default system prompt Qwen's own template adds."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


class ShareGPTDataset:
    """Conversations from a local ShareGPT .json (an array) or .jsonl file.

    Each conversation holds its turns under `conversations` or `messages`, as
    `{"from": "human"|"gpt"|"system", "value": ...}` (dialect `from_value`) or
    `{"role": "user"|"assistant"|"system", "content": ...}` (`role_content`);
    a string `system` field becomes the first turn. A usable conversation has
    one optional system turn, then user and assistant alternating from user to
    assistant, every content a non-blank string.

    Invalid conversations are skipped and counted in `stats`, their reasons in
    `invalid_records`, in either mode. `strict=True` also counts as invalid
    what `strict=False` repairs: keys beyond the dialect's own (ignored),
    turns of both dialects in one conversation, the other dialect's role names
    (`{"from": "user"}`), and a trailing unanswered user turn (dropped).

    `stats["dialect_counts"]` counts the valid conversations, each by its first
    turn, so the counts add up to `valid_conversations`. A conversation's id is
    its `id` field, else its index in the dataset.

    A file that is not JSON raises ValueError (with the line, for .jsonl), as
    does one over `max_file_bytes`. `max_samples` stops reading once that many
    valid conversations are kept; `stats` then describe what was read.
    """

    def __init__(
        self,
        file_path: str | os.PathLike[str],
        tokenizer: ChatTemplateTokenizer | None = None,
        max_samples: int | None = None,
        strict: bool = True,
        *,
        max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.file_path = Path(file_path)
        self.tokenizer = tokenizer
        self.strict = strict
        self.conversations: list[Conversation] = []
        self.invalid_records: list[tuple[int, str]] = []
        self.stats: dict[str, Any] = {
            "total_loaded": 0,
            "valid_conversations": 0,
            "invalid_conversations": 0,
            "total_turns": 0,
            "dialect_counts": {FROM_VALUE: 0, ROLE_CONTENT: 0},
        }
        _check_size(self.file_path, max_file_bytes)
        self._load(max_samples)

    def _load(self, max_samples: int | None) -> None:
        if max_samples is not None and max_samples <= 0:
            return
        for number, record in _iter_records(self.file_path):
            self.stats["total_loaded"] += 1
            try:
                conversation = _parse_conversation(record, index=len(self.conversations), strict=self.strict)
            except _InvalidConversation as exc:
                self.stats["invalid_conversations"] += 1
                if len(self.invalid_records) < MAX_REPORTED_INVALID:
                    self.invalid_records.append((number, str(exc)))
                continue
            self.conversations.append(conversation)
            self.stats["valid_conversations"] += 1
            self.stats["total_turns"] += len(conversation.messages)
            self.stats["dialect_counts"][conversation.dialect] += 1
            if max_samples is not None and len(self.conversations) >= max_samples:
                break
        logger.info(
            "loaded %d conversations from %s (%d invalid skipped)",
            self.stats["valid_conversations"],
            self.file_path,
            self.stats["invalid_conversations"],
        )

    def __len__(self) -> int:
        return len(self.conversations)

    def __getitem__(self, index: int) -> Conversation:
        return self.conversations[index]

    def __iter__(self) -> Iterator[Conversation]:
        return iter(self.conversations)

    def messages(self, index: int) -> list[dict[str, str]]:
        """The conversation's turns as fresh `{"role", "content"}` dicts."""
        return self.conversations[index].as_messages()

    def format_conversation(self, index: int) -> str:
        """The conversation as text: the tokenizer's chat template when it has one, else ChatML."""
        messages = self.messages(index)
        if self.tokenizer is not None and getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False)
        return format_chatml(messages)

    def get_conversation_turns(self, index: int) -> tuple[str, str, int]:
        """(conversation id, formatted text, number of turns counting a system turn)."""
        conversation = self.conversations[index]
        return conversation.id, self.format_conversation(index), len(conversation.messages)


_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
ANSWER_MARKER = "####"
GSM8K_PROMPT = (
    "Solve the following math problem step by step. "
    "On the last line, write #### followed by the final answer as a number.\n\n"
    "Question: {question}\n"
    "Answer:"
)


def extract_answer(text: str) -> str | None:
    """The first number after the last `####`, else the last number in the text; commas removed."""
    if ANSWER_MARKER in text:
        found = _NUMBER.search(text.rsplit(ANSWER_MARKER, 1)[1])
        return found.group().replace(",", "") if found else None
    numbers = _NUMBER.findall(text)
    return numbers[-1].replace(",", "") if numbers else None


def _as_decimal(number: str | None) -> Decimal | None:
    if number is None:
        return None
    try:
        return Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None


class AnswerEvaluation(TypedDict):
    score: float
    predicted: str | None
    ground_truth: str
    method: Literal["math_verify", "exact"]


def _verify_with_math_verify(generated_text: str, ground_truth: str) -> tuple[bool, str] | None:
    """(math_verify's verdict, the answer it read), or None when it is missing or cannot grade this."""
    try:
        math_verify = importlib.import_module("math_verify")
    except ImportError:
        return None
    # everything after the marker, so the grader sees the answer and not the working
    answer_text = generated_text.rsplit(ANSWER_MARKER, 1)[-1]
    try:
        gold = math_verify.parse(ground_truth)
        answer = math_verify.parse(answer_text)
        if not gold or not answer:
            return None
        # parse gives [sympy value, the text it came from]
        return bool(math_verify.verify(gold, answer)), str(answer[-1])
    except Exception:  # a third-party grader's failure (a timeout, a parse error) must not end a run
        logger.debug("math_verify could not grade %r", answer_text, exc_info=True)
        return None


def evaluate_answer(
    generated_text: str, ground_truth: str, question: str | None = None, *, use_math_verify: bool = True
) -> AnswerEvaluation:
    """Score a generated answer 1.0 or 0.0 against a GSM8K ground truth (a number, or a `#### n` answer).

    With `use_math_verify` and the `math_verify` package installed, it grades
    (`predicted` is then the answer it read); otherwise, or when it finds no
    answer, the last number (or the one after `####`) is compared exactly as a
    number, so "42.0" matches "42" and "1,000" matches "1000". `method` says
    which one scored. `question` is accepted for graders that use it.
    """
    expected = extract_answer(ground_truth) or ground_truth.strip()
    if use_math_verify:
        graded = _verify_with_math_verify(generated_text, expected)
        if graded is not None:
            return {
                "score": 1.0 if graded[0] else 0.0,
                "predicted": graded[1],
                "ground_truth": expected,
                "method": "math_verify",
            }
    predicted = extract_answer(generated_text)
    want, got = _as_decimal(expected), _as_decimal(predicted)
    correct = want is not None and got is not None and want == got
    return {
        "score": 1.0 if correct else 0.0,
        "predicted": predicted,
        "ground_truth": expected,
        "method": "exact",
    }


@dataclass(frozen=True)
class GSM8KExample:
    question: str
    answer: str
    ground_truth: str


def default_gsm8k_path(split: str) -> Path:
    """`$EZTINKER_DATA_DIR/gsm8k/{split}.jsonl`, the data directory defaulting to `./data`."""
    return Path(os.environ.get("EZTINKER_DATA_DIR", "./data")) / "gsm8k" / f"{split}.jsonl"


class GSM8KDataset:
    """GSM8K problems from a local jsonl file of `{"question": ..., "answer": "... #### 42"}` lines.

    Without `file_path` the split is read from `default_gsm8k_path(split)`.
    Nothing is ever downloaded. A line that is not JSON, or lacks a question
    or an answer with a number after `####`, raises ValueError naming the line.
    """

    def __init__(
        self,
        file_path: str | os.PathLike[str] | None = None,
        split: str = "train",
        max_samples: int | None = None,
        use_math_verify: bool = True,
    ) -> None:
        self.split = split
        self.use_math_verify = use_math_verify
        self.file_path = Path(file_path) if file_path is not None else default_gsm8k_path(split)
        if not self.file_path.is_file():
            hint = (
                "" if file_path is not None else " (no file_path given; EZTINKER_DATA_DIR sets the directory)"
            )
            raise FileNotFoundError(
                f"GSM8K {split} split not found at {self.file_path.resolve()}{hint}; "
                "nothing is downloaded: put the GSM8K jsonl there or pass file_path"
            )
        self.examples: list[GSM8KExample] = []
        if max_samples is None or max_samples > 0:
            for number, record in _iter_jsonl(self.file_path):
                self.examples.append(self._parse_example(record, number))
                if max_samples is not None and len(self.examples) >= max_samples:
                    break
        logger.info("loaded %d GSM8K examples from %s", len(self.examples), self.file_path)

    def _parse_example(self, record: Any, number: int) -> GSM8KExample:
        question = record.get("question") if isinstance(record, dict) else None
        answer = record.get("answer") if isinstance(record, dict) else None
        if not isinstance(question, str) or not isinstance(answer, str):
            raise ValueError(f"{self.file_path}, line {number}: expected string 'question' and 'answer'")
        ground_truth = extract_answer(answer) if ANSWER_MARKER in answer else None
        if ground_truth is None:
            raise ValueError(f"{self.file_path}, line {number}: the answer has no number after ####")
        return GSM8KExample(question=question, answer=answer, ground_truth=ground_truth)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> GSM8KExample:
        return self.examples[index]

    def __iter__(self) -> Iterator[GSM8KExample]:
        return iter(self.examples)

    def get_example_question(self, index: int) -> tuple[str, str, str]:
        """(question, instruction prompt, ground-truth number)."""
        example = self.examples[index]
        return example.question, GSM8K_PROMPT.format(question=example.question), example.ground_truth

    def evaluate_answer(
        self, generated_text: str, ground_truth: str, question: str | None = None
    ) -> AnswerEvaluation:
        """`evaluate_answer` with this dataset's `use_math_verify`."""
        return evaluate_answer(generated_text, ground_truth, question, use_math_verify=self.use_math_verify)
