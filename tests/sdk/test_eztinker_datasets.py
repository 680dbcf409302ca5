"""eztinker's local datasets: ShareGPT conversations in two dialects, GSM8K files and answer grading."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from eztinker.datasets import GSM8KDataset, ShareGPTDataset, evaluate_answer

CHAT_TEMPLATE = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"

FROM_VALUE_CHAT = {
    "id": "a-1",
    "conversations": [
        {"from": "system", "value": "Be brief."},
        {"from": "human", "value": "Hi"},
        {"from": "gpt", "value": "Hello"},
    ],
}
FROM_VALUE_UNDER_MESSAGES = {
    "messages": [
        {"from": "human", "value": "2+2?"},
        {"from": "gpt", "value": "4"},
        {"from": "human", "value": "3+3?"},
        {"from": "gpt", "value": "6"},
    ]
}
ROLE_CONTENT_CHAT = {
    "id": 7,
    "system": "You are terse.",
    "messages": [{"role": "user", "content": "Name?"}, {"role": "assistant", "content": "Bot"}],
}
USER_ASSISTANT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]
ASSISTANT_FIRST = {"messages": [{"role": "assistant", "content": "Hi"}, {"role": "user", "content": "?"}]}


def write_json(path: Path, records: list[Any]) -> Path:
    path.write_text(json.dumps(records))
    return path


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


@pytest.fixture(scope="module")
def tokenizer_factory() -> Any:
    """Build a real (tiny, word-level) `transformers` tokenizer, with or without a chat template."""
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    def build(chat_template: str | None) -> PreTrainedTokenizerFast:
        word_level = Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>"))
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=word_level, unk_token="<unk>")
        tokenizer.chat_template = chat_template
        return tokenizer

    return build


@pytest.mark.parametrize("writer", [write_json, write_jsonl], ids=["json", "jsonl"])
def test_both_dialects_load_with_exact_stats(tmp_path: Path, writer: Any) -> None:
    suffix = ".json" if writer is write_json else ".jsonl"
    records = [FROM_VALUE_CHAT, ASSISTANT_FIRST, FROM_VALUE_UNDER_MESSAGES, ROLE_CONTENT_CHAT]
    dataset = ShareGPTDataset(writer(tmp_path / f"chats{suffix}", records))

    assert dataset.stats == {
        "total_loaded": 4,
        "valid_conversations": 3,
        "invalid_conversations": 1,
        "total_turns": 3 + 4 + 3,
        "dialect_counts": {"from_value": 2, "role_content": 1},
    }
    assert len(dataset) == 3
    assert dataset.messages(0) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    # the record-level `system` field becomes the first turn
    assert dataset.messages(2)[0] == {"role": "system", "content": "You are terse."}
    assert [dataset[i].id for i in range(3)] == ["a-1", "1", "7"]
    assert dataset.invalid_records == [(2, "wrong role order: expected user, got assistant")]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"messages": []}, "non-empty list"),
        ({"id": "x"}, "non-empty list"),
        ("just text", "must be a JSON object"),
        ({"messages": [USER_ASSISTANT[0], *USER_ASSISTANT]}, "wrong role order"),
        ({"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "b"}]}, "a string"),
        ({"messages": [{"role": "user", "content": "  "}, {"role": "assistant", "content": "b"}]}, "empty"),
        ({"messages": [{"role": "robot", "content": "a"}]}, "'role' must be one of"),
        ({"conversations": [{"speaker": "human", "text": "a"}]}, "neither 'from' nor 'role'"),
        ({"messages": [{"role": "system", "content": "s"}]}, "no user or assistant turns"),
        (
            {"system": "s", "messages": [{"role": "system", "content": "t"}, *ROLE_CONTENT_CHAT["messages"]]},
            "wrong role order",
        ),
        ({**ROLE_CONTENT_CHAT, "conversations": FROM_VALUE_CHAT["conversations"]}, "both"),
    ],
)
@pytest.mark.parametrize("strict", [True, False])
def test_broken_conversations_are_skipped_in_both_modes(
    tmp_path: Path, record: Any, reason: str, strict: bool
) -> None:
    path = write_jsonl(tmp_path / "chats.jsonl", [record, ROLE_CONTENT_CHAT])
    dataset = ShareGPTDataset(path, strict=strict)

    assert (dataset.stats["valid_conversations"], dataset.stats["invalid_conversations"]) == (1, 1)
    assert dataset[0].id == "7"
    line, why = dataset.invalid_records[0]
    assert line == 1 and reason in why


@pytest.mark.parametrize(
    ("record", "strict_reason"),
    [
        ({**ROLE_CONTENT_CHAT, "source": "web"}, "unknown keys ['source']"),
        (
            {"messages": [{"role": "user", "content": "Hi", "lang": "en"}, USER_ASSISTANT[1]]},
            "turn 1 has unknown keys ['lang']",
        ),
        ({"messages": [{"from": "human", "value": "Hi"}, USER_ASSISTANT[1]]}, "mixes"),
        ({"messages": [{"from": "user", "value": "Hi"}, {"from": "assistant", "value": "Yo"}]}, "'from'"),
        ({"messages": [*USER_ASSISTANT, {"role": "user", "content": "And?"}]}, "must end with an assistant"),
    ],
    ids=["record-key", "turn-key", "mixed-dialects", "other-role-names", "trailing-user"],
)
def test_non_strict_repairs_what_strict_skips(tmp_path: Path, record: Any, strict_reason: str) -> None:
    path = write_json(tmp_path / "chats.json", [record])

    strict = ShareGPTDataset(path, strict=True)
    assert len(strict) == 0 and strict.stats["invalid_conversations"] == 1
    assert strict_reason in strict.invalid_records[0][1]

    lenient = ShareGPTDataset(path, strict=False)
    assert lenient.stats["invalid_conversations"] == 0
    assert [m["role"] for m in lenient.messages(0)][-2:] == ["user", "assistant"]
    assert lenient.messages(0)[-1]["content"] in {"Yo", "Bot"}


def test_a_bad_jsonl_line_raises_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    path.write_text(json.dumps(ROLE_CONTENT_CHAT) + "\n\n" + '{"messages": [\n')

    with pytest.raises(ValueError, match=r"chats\.jsonl, line 3: bad JSON"):
        ShareGPTDataset(path, strict=False)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("chats.json", '[{"messages": ]', "bad JSON"),
        ("chats.json", json.dumps(ROLE_CONTENT_CHAT), "must be an array"),
        ("chats.csv", "a,b\n", "expected a .json or .jsonl file"),
    ],
)
def test_files_that_are_not_datasets_raise(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)

    with pytest.raises(ValueError, match=message):
        ShareGPTDataset(path)


def test_a_file_over_the_size_limit_is_refused_unless_allowed(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "chats.jsonl", [ROLE_CONTENT_CHAT] * 3)
    size = path.stat().st_size

    with pytest.raises(ValueError, match=f"{size} bytes, over the limit of 100"):
        ShareGPTDataset(path, max_file_bytes=100)
    assert len(ShareGPTDataset(path, max_file_bytes=None)) == 3
    assert len(ShareGPTDataset(path, max_file_bytes=size)) == 3


def test_max_samples_stops_after_that_many_valid_conversations(tmp_path: Path) -> None:
    records = [ASSISTANT_FIRST, FROM_VALUE_CHAT, ROLE_CONTENT_CHAT, FROM_VALUE_UNDER_MESSAGES]
    dataset = ShareGPTDataset(write_jsonl(tmp_path / "chats.jsonl", records), max_samples=2)

    assert [conversation.id for conversation in dataset] == ["a-1", "7"]
    assert dataset.stats["total_loaded"] == 3
    assert dataset.stats["invalid_conversations"] == 1
    assert dataset.stats["total_turns"] == 6


def test_conversation_turns_use_the_tokenizers_chat_template(tmp_path: Path, tokenizer_factory: Any) -> None:
    path = write_json(tmp_path / "chats.json", [FROM_VALUE_CHAT, FROM_VALUE_UNDER_MESSAGES])
    dataset = ShareGPTDataset(path, tokenizer=tokenizer_factory(CHAT_TEMPLATE))

    assert dataset.get_conversation_turns(0) == (
        "a-1",
        "[system] Be brief.\n[user] Hi\n[assistant] Hello\n",
        3,
    )
    conv_id, text, turns = dataset.get_conversation_turns(1)
    assert (conv_id, turns) == ("1", 4)
    assert text.endswith("[user] 3+3?\n[assistant] 6\n")


def test_conversation_turns_fall_back_to_chatml(tmp_path: Path, tokenizer_factory: Any) -> None:
    path = write_json(tmp_path / "chats.json", [ROLE_CONTENT_CHAT])
    expected = (
        "<|im_start|>system\nYou are terse.<|im_end|>\n"
        "<|im_start|>user\nName?<|im_end|>\n"
        "<|im_start|>assistant\nBot<|im_end|>\n"
    )

    assert ShareGPTDataset(path).get_conversation_turns(0) == ("7", expected, 3)
    no_template = ShareGPTDataset(path, tokenizer=tokenizer_factory(None))
    assert no_template.get_conversation_turns(0)[1] == expected


GSM8K_LINES = [
    {"question": "Tom has 3 apples and buys 4. How many?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
    {"question": "A car costs $1,250 twice. Total?", "answer": "2 * 1250 = 2500\n#### 2,500"},
    {"question": "Temperature drops from 2 by 5?", "answer": "2 - 5 = -3\n#### -3"},
]


def test_gsm8k_reads_questions_prompts_and_ground_truths(tmp_path: Path) -> None:
    dataset = GSM8KDataset(write_jsonl(tmp_path / "train.jsonl", GSM8K_LINES))

    assert len(dataset) == 3
    assert [dataset.get_example_question(i)[2] for i in range(3)] == ["7", "2500", "-3"]
    question, prompt, _ = dataset.get_example_question(1)
    assert question == GSM8K_LINES[1]["question"]
    assert question in prompt and "####" in prompt
    assert dataset[0].answer == GSM8K_LINES[0]["answer"]
    assert len(GSM8KDataset(tmp_path / "train.jsonl", max_samples=2)) == 2


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"line 2: bad JSON"),
        (json.dumps({"question": "q", "answer": "no marker 5"}), r"line 2: the answer has no number after"),
        (json.dumps({"question": "q"}), r"line 2: expected string 'question' and 'answer'"),
    ],
)
def test_gsm8k_bad_lines_raise_with_their_number(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(GSM8K_LINES[0]) + "\n" + line + "\n")

    with pytest.raises(ValueError, match=message):
        GSM8KDataset(path)


def test_gsm8k_missing_split_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EZTINKER_DATA_DIR", str(tmp_path / "empty"))

    with pytest.raises(FileNotFoundError) as raised:
        GSM8KDataset(split="test")
    message = str(raised.value)
    assert str(tmp_path / "empty" / "gsm8k" / "test.jsonl") in message
    assert "nothing is downloaded" in message and "EZTINKER_DATA_DIR" in message


def test_gsm8k_split_is_found_under_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "store" / "gsm8k").mkdir(parents=True)
    write_jsonl(tmp_path / "store" / "gsm8k" / "test.jsonl", GSM8K_LINES[:1])
    monkeypatch.setenv("EZTINKER_DATA_DIR", str(tmp_path / "store"))

    assert GSM8KDataset(split="test").get_example_question(0)[2] == "7"


def test_gsm8k_data_dir_defaults_to_data_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data" / "gsm8k").mkdir(parents=True)
    write_jsonl(tmp_path / "data" / "gsm8k" / "train.jsonl", GSM8K_LINES)
    monkeypatch.delenv("EZTINKER_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)

    assert len(GSM8KDataset()) == 3


@pytest.mark.parametrize(
    ("generated", "ground_truth", "score", "predicted"),
    [
        ("3 + 4 = 7\n#### 7", "7", 1.0, "7"),
        ("The answer is 42.0.", "42", 1.0, "42.0"),
        ("#### 1,000", "1000", 1.0, "1000"),
        ("It costs 1000 dollars", "1,000", 1.0, "1000"),
        ("#### 5 because 2 + 3", "5", 1.0, "5"),
        ("I got -3", "#### -3", 1.0, "-3"),
        ("#### 41", "42", 0.0, "41"),
        ("5 then 6", "5", 0.0, "6"),
        ("I do not know", "42", 0.0, None),
        ("#### unsure, maybe 12", "12", 1.0, "12"),
    ],
)
def test_exact_evaluation_compares_numbers(
    generated: str, ground_truth: str, score: float, predicted: str | None
) -> None:
    result = evaluate_answer(generated, ground_truth, use_math_verify=False)

    assert result["score"] == score
    assert result["predicted"] == predicted
    assert result["method"] == "exact"


def test_evaluation_falls_back_to_exact_without_math_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "math_verify", None)  # `import math_verify` now fails
    dataset = GSM8KDataset(write_jsonl(tmp_path / "train.jsonl", GSM8K_LINES), use_math_verify=True)
    question, _, truth = dataset.get_example_question(1)

    result = dataset.evaluate_answer("2 * 1250 = 2,500.00", truth, question)
    assert result == {"score": 1.0, "predicted": "2500.00", "ground_truth": "2500", "method": "exact"}


def test_math_verify_grades_when_installed(tmp_path: Path) -> None:
    pytest.importorskip("math_verify")
    dataset = GSM8KDataset(write_jsonl(tmp_path / "train.jsonl", GSM8K_LINES))

    graded = dataset.evaluate_answer(r"so the share is \boxed{\frac{1}{2}}", "0.5")
    assert (graded["score"], graded["method"]) == (1.0, "math_verify")
    assert dataset.evaluate_answer("#### 8", "7")["score"] == 0.0
    # the flag turns it off: the same text then fails the exact comparison
    off = GSM8KDataset(tmp_path / "train.jsonl", use_math_verify=False)
    exact = off.evaluate_answer(r"\boxed{\frac{1}{2}}", "0.5")
    assert (exact["score"], exact["method"]) == (0.0, "exact")
