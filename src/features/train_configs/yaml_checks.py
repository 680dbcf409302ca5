"""Load a training YAML safely and summarise the LLaMA-Factory keys in it."""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# A training config has tens of keys; these bounds keep a hostile file cheap to judge.
MAX_NODES = 10_000  # keys, values and list items as written
MAX_DEPTH = 100  # levels of nesting
MAX_EXPANDED_NODES = 100_000  # nodes once every alias is expanded
MAX_INT_BITS = 64

# libyaml when PyYAML has it: the pure-Python scanner takes seconds on a 1 MiB file
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SUMMARY_KEYS = (
    "model_name_or_path",
    "stage",
    "finetuning_type",
    "dataset",
    "template",
    "output_dir",
    "num_train_epochs",
    "learning_rate",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "cutoff_len",
    "lora_rank",
    "quantization_bit",
)
KNOWN_STAGES = {"pt", "sft", "rm", "ppo", "dpo", "kto"}
KNOWN_FINETUNING_TYPES = {"full", "lora", "freeze", "oft"}
QUANTIZATION_BITS = {2, 3, 4, 5, 6, 8}


class YamlRejected(ValueError):
    """The YAML cannot be accepted; the message says why (with line and column when known)."""


class _TrainingYamlLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """`safe_load`'s loader, with integers bounded (Python refuses to parse 4300+ digits anyway)."""

    def construct_bounded_int(self, node: ScalarNode) -> int:
        try:
            value = self.construct_yaml_int(node)
        except ValueError as exc:
            raise YamlRejected(f"the integer at {_where(node)} is too long") from exc
        if value.bit_length() > MAX_INT_BITS:
            raise YamlRejected(f"the integer at {_where(node)} does not fit in {MAX_INT_BITS} bits")
        return value


_TrainingYamlLoader.add_constructor("tag:yaml.org,2002:int", _TrainingYamlLoader.construct_bounded_int)


def _where(node: Node) -> str:
    return f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}"


def _check_shape(text: str) -> bool:
    """Refuse a document with too many nodes or levels before it is composed; True if it has aliases.

    Counting parser events stops at the first bound, so a huge file is judged in
    milliseconds, and libyaml's composer (which recurses on the C stack) never
    sees a document nested deeper than MAX_DEPTH.
    """
    loader = _TrainingYamlLoader(text)
    nodes = depth = 0
    aliases = False
    try:
        while (event := loader.get_event()) is not None and not isinstance(event, StreamEndEvent):
            if isinstance(event, (ScalarEvent, AliasEvent, SequenceStartEvent, MappingStartEvent)):
                nodes += 1
                aliases = aliases or isinstance(event, AliasEvent)
            if isinstance(event, (SequenceStartEvent, MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise YamlRejected(f"the YAML is nested more than {MAX_DEPTH} levels deep")
            elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
                depth -= 1
            if nodes > MAX_NODES:
                raise YamlRejected(
                    f"the YAML has more than {MAX_NODES} keys, values and list items; "
                    "a training config needs far fewer"
                )
    finally:
        loader.dispose()
    return aliases


def _expanded_size(node: Node, memo: dict[int, int], path: set[int]) -> int:
    """How many nodes the document has once every alias is expanded (a billion-laughs guard)."""
    key = id(node)
    if key in path:
        raise YamlRejected("the YAML refers to itself through an alias (recursive structure)")
    if key in memo:
        return memo[key]
    path.add(key)
    total = 1
    if isinstance(node, SequenceNode):
        for child in node.value:
            total += _expanded_size(child, memo, path)
            if total > MAX_EXPANDED_NODES:
                break
    elif isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            total += _expanded_size(key_node, memo, path) + _expanded_size(value_node, memo, path)
            if total > MAX_EXPANDED_NODES:
                break
    path.discard(key)
    memo[key] = total
    if total > MAX_EXPANDED_NODES:
        raise YamlRejected(f"the YAML expands to more than {MAX_EXPANDED_NODES} nodes through aliases")
    return total


def load_training_yaml(content: bytes) -> dict[str, Any]:
    """`safe_load` with bounds on nodes, depth, aliases and integers; the document must be a mapping."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlRejected("the YAML is not UTF-8 text") from exc
    try:
        has_aliases = _check_shape(text)
        loader = _TrainingYamlLoader(text)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc) from exc
    except yaml.YAMLError as exc:
        raise YamlRejected(f"YAML error: {exc}") from exc
    try:
        node = loader.get_single_node()
        if node is None:
            raise YamlRejected("the YAML document is empty")
        if has_aliases:
            _expanded_size(node, {}, set())
        document = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc) from exc
    except yaml.YAMLError as exc:
        raise YamlRejected(f"YAML error: {exc}") from exc
    except RecursionError as exc:
        raise YamlRejected("the YAML is nested too deeply") from exc
    finally:
        loader.dispose()
    if not isinstance(document, dict):
        raise YamlRejected(f"a training config must be a YAML mapping, not {type(document).__name__}")
    return document


def _syntax_error(exc: yaml.MarkedYAMLError) -> YamlRejected:
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return YamlRejected(f"YAML syntax error{where}: {exc.problem or exc.context}")


def summarize(document: dict[str, Any]) -> dict[str, Any]:
    """The LLaMA-Factory keys present, as JSON-safe values."""
    found = {key: document[key] for key in SUMMARY_KEYS if key in document}
    return json.loads(json.dumps(found, default=str))


def _number(value: Any) -> float | None:
    """YAML 1.1 reads `1e-4` as a string; LLaMA-Factory still takes it, so do we."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def warnings_for(document: dict[str, Any]) -> list[str]:
    """Values that cannot work, in plain words."""
    found: list[str] = []
    if "model_name_or_path" not in document:
        found.append("model_name_or_path is missing")
    stage = document.get("stage")
    if stage is not None and stage not in KNOWN_STAGES:
        found.append(f"unknown stage {stage!r} (expected one of {sorted(KNOWN_STAGES)})")
    finetuning = document.get("finetuning_type")
    if finetuning is not None and finetuning not in KNOWN_FINETUNING_TYPES:
        found.append(
            f"unknown finetuning_type {finetuning!r} (expected one of {sorted(KNOWN_FINETUNING_TYPES)})"
        )
    positive = ("learning_rate", "num_train_epochs")
    at_least_one = ("per_device_train_batch_size", "gradient_accumulation_steps", "cutoff_len", "lora_rank")
    for key in positive + at_least_one:
        if key not in document:
            continue
        value = _number(document[key])
        if value is None:
            found.append(f"{key} is not a number: {document[key]!r}")
        elif key in positive and value <= 0:
            found.append(f"{key} must be positive, got {document[key]!r}")
        elif key in at_least_one and value < 1:
            found.append(f"{key} must be at least 1, got {document[key]!r}")
    bits = document.get("quantization_bit")
    if bits is not None and bits not in QUANTIZATION_BITS:
        found.append(f"quantization_bit must be one of {sorted(QUANTIZATION_BITS)}, got {bits!r}")
    return found
