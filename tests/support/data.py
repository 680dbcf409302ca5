"""Small training records in each supported dialect, and JSONL files made of them."""

from __future__ import annotations

import json

OPENAI = {
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
}
ALPACA = {"instruction": "Translate", "input": "你好", "output": "hello"}
SHAREGPT = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
SHAREGPT_ROLES = {"conversations": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}


def jsonl(*records: object) -> bytes:
    return (
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records) + "\n"
    ).encode()


def big_jsonl(min_bytes: int) -> bytes:
    """A valid chat JSONL file of at least `min_bytes`, every line different."""
    lines = []
    size = 0
    index = 0
    while size < min_bytes:
        line = json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"question {index} " + "x" * 200},
                    {"role": "assistant", "content": f"answer {index}"},
                ]
            }
        )
        lines.append(line)
        size += len(line) + 1
        index += 1
    return ("\n".join(lines) + "\n").encode()
