"""What a user may add to a model server's command line (`extra_args`), judged as the server's parser would.

vLLM parses with argparse (`allow_abbrev`): `--por` means `--port`, `--served_model_name` means
`--served-model-name`, `--flag=value` is one token. A filter on exact spellings therefore lets
placement and path flags through. Here every token is resolved the same way, checked against an
allow-list per model-server kind, and handed to the server spelled out in full, so the server never
has to guess a prefix of its own.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from src.models.errors import Invalid

INT = r"^\d{1,10}$"
FLOAT = r"^\d{0,6}(\.\d{1,6})?$"
NAME = r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$"
LENGTH = r"^\d{1,10}[kKmMgG]?$"  # vLLM reads `--max-model-len 32k`
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
SHELL_SYNTAX = set(";|&$`<>(){}*?!")

Value = Literal["none", "text", "model_dir", "model_file", "lora_modules"]


@dataclass(frozen=True)
class Allowed:
    """A flag a user may pass: what value it takes and how the value is checked."""

    value: Value = "none"
    pattern: str = NAME
    admin_setting: str | None = None  # the flag passes only while this setting is on


@dataclass(frozen=True)
class ServerFlags:
    """The command-line surface of one kind of model server."""

    allowed: dict[str, Allowed]
    refused: dict[str, str]  # flag -> why users may not set it
    short: dict[str, str] = field(default_factory=dict)  # single-dash alias -> long flag


PLACEMENT = "the service decides where the server listens, what it serves and under which key"
GPUS = "GPU placement is the service's (gpu_count, preferred_gpu)"
HOST_PATHS = "it reads or writes host paths or fetches from elsewhere"
LOADS_CODE = "it loads code chosen by the caller"

VLLM = ServerFlags(
    allowed={
        "--max-model-len": Allowed("text", LENGTH),
        "--dtype": Allowed("text", r"^(auto|half|float16|bfloat16|float|float32)$"),
        "--kv-cache-dtype": Allowed("text"),
        "--quantization": Allowed("text"),
        "--gpu-memory-utilization": Allowed("text", FLOAT),
        "--max-num-seqs": Allowed("text", INT),
        "--max-num-batched-tokens": Allowed("text", INT),
        "--block-size": Allowed("text", INT),
        "--swap-space": Allowed("text", FLOAT),
        "--cpu-offload-gb": Allowed("text", FLOAT),
        "--seed": Allowed("text", INT),
        "--max-logprobs": Allowed("text", INT),
        "--scheduling-policy": Allowed("text", r"^(fcfs|priority)$"),
        "--tokenizer-mode": Allowed("text", r"^(auto|slow|mistral)$"),
        "--uvicorn-log-level": Allowed("text", r"^(critical|error|warning|info|debug|trace)$"),
        "--response-role": Allowed("text"),
        "--tool-call-parser": Allowed("text"),
        "--reasoning-parser": Allowed("text"),
        "--max-lora-rank": Allowed("text", INT),
        "--max-loras": Allowed("text", INT),
        "--max-cpu-loras": Allowed("text", INT),
        "--enable-lora": Allowed(),
        "--enforce-eager": Allowed(),
        "--enable-prefix-caching": Allowed(),
        "--no-enable-prefix-caching": Allowed(),
        "--enable-chunked-prefill": Allowed(),
        "--no-enable-chunked-prefill": Allowed(),
        "--enable-auto-tool-choice": Allowed(),
        "--disable-log-requests": Allowed(),
        "--disable-log-stats": Allowed(),
        "--no-trust-remote-code": Allowed(),
        "--trust-remote-code": Allowed(admin_setting="TUNING_DEPLOY_TRUST_REMOTE_CODE"),
        # path-bearing: the value must be inside TUNING_MODEL_ROOTS and is passed on resolved
        "--tokenizer": Allowed("model_dir"),
        "--chat-template": Allowed("model_file"),
        "--lora-modules": Allowed("lora_modules"),
    },
    refused={
        **dict.fromkeys(
            ["--host", "--port", "--uds", "--model", "--served-model-name", "--api-key", "--root-path"],
            PLACEMENT,
        ),
        **dict.fromkeys(
            [
                "--tensor-parallel-size",
                "--pipeline-parallel-size",
                "--data-parallel-size",
                "--data-parallel-size-local",
                "--data-parallel-address",
                "--data-parallel-rpc-port",
                "--distributed-executor-backend",
                "--device",
            ],
            GPUS,
        ),
        **dict.fromkeys(
            [
                "--config",
                "--download-dir",
                "--allowed-local-media-path",
                "--allowed-media-domains",
                "--load-format",
                "--model-loader-extra-config",
                "--hf-config-path",
                "--generation-config",
                "--ssl-keyfile",
                "--ssl-certfile",
                "--ssl-ca-certs",
                "--revision",
                "--code-revision",
                "--tokenizer-revision",
                "--hf-token",
                "--otlp-traces-endpoint",
            ],
            HOST_PATHS,
        ),
        **dict.fromkeys(
            [
                "--middleware",
                "--tool-parser-plugin",
                "--worker-cls",
                "--worker-extension-cls",
                "--logits-processors",
                "--logits-processor-pattern",
                "--hf-overrides",
                "--speculative-config",
                "--compilation-config",
            ],
            LOADS_CODE,
        ),
    },
    short={
        "-tp": "--tensor-parallel-size",
        "-pp": "--pipeline-parallel-size",
        "-dp": "--data-parallel-size",
        "-q": "--quantization",
        "-O": "--compilation-config",
    },
)

SERVER_KINDS: dict[str, ServerFlags] = {"vllm": VLLM}


@dataclass(frozen=True)
class ArgsPolicy:
    """What the admin decided: the server kind, the model roots and the code-loading switch."""

    model_roots: Sequence[Path]
    template: Sequence[str] = ()
    kind: str = "vllm"
    trust_remote_code: bool = False


def _refuse(message: str) -> Invalid:
    return Invalid(message, param="extra_args", code="extra_args_refused")


def _resolve_flag(spelled: str, *, flags: ServerFlags, known: Iterable[str]) -> str:
    """The full flag argparse would take `spelled` for: exact, else the one flag it is a prefix of."""
    if spelled in flags.short:
        return flags.short[spelled]
    if not spelled.startswith("--") or spelled == "--":
        raise _refuse(f"extra_args: {spelled!r} is not accepted; spell flags out as --name [value]")
    name = spelled.replace("_", "-")  # vLLM's parser reads --max_model_len as --max-model-len
    names = set(known)
    if name in names:
        return name
    matches = sorted(n for n in names if n.startswith(name))
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise _refuse(f"extra_args: {spelled} is ambiguous ({', '.join(matches)}); spell the flag out")
    raise _refuse(f"extra_args: {spelled} is not a flag users may pass to the model server")


def _inside_roots(value: str, *, roots: Sequence[Path], directory: bool) -> Path | None:
    """`value` (absolute, or relative to a root) resolved, when it lands inside a root and exists."""
    candidate = Path(value)
    options = [candidate] if candidate.is_absolute() else [root / candidate for root in roots]
    for option in options:
        try:
            resolved = option.resolve()
        except (OSError, ValueError, RuntimeError):
            continue
        exists = resolved.is_dir() if directory else resolved.is_file()
        if exists and any(resolved.is_relative_to(root) for root in roots):
            return resolved
    return None


def _check_value(flag: str, value: str, rule: Allowed, *, roots: Sequence[Path]) -> str:
    """The value as the server will get it; a 400 naming the flag when it is not acceptable."""
    if rule.value == "text":
        if not re.fullmatch(rule.pattern, value):
            raise _refuse(f"extra_args: {flag} does not take {value!r}")
        return value
    if rule.value == "lora_modules":
        name, sep, path = value.partition("=")
        if not sep or not re.fullmatch(NAME, name):
            raise _refuse(f"extra_args: {flag} takes name=path pairs, not {value!r}")
        return f"{name}={_check_value(flag, path, Allowed('model_dir'), roots=roots)}"
    resolved = _inside_roots(value, roots=roots, directory=rule.value == "model_dir")
    if resolved is None:
        kind = "directory" if rule.value == "model_dir" else "file"
        raise _refuse(f"extra_args: {flag} must name a {kind} under TUNING_MODEL_ROOTS, not {value!r}")
    return str(resolved)


def check_extra_args(extra_args: str | None, *, policy: ArgsPolicy) -> list[str]:
    """shlex-split `extra_args` and return it spelled out in full, or raise a 400 naming the flag."""
    if not extra_args:
        return []
    if CONTROL_CHARACTERS.search(extra_args) or set(extra_args) & SHELL_SYNTAX:
        raise _refuse("extra_args may not contain control characters or shell syntax (; | & $ ` < > …)")
    try:
        tokens = shlex.split(extra_args)
    except ValueError as exc:
        raise _refuse(f"extra_args cannot be parsed: {exc}") from exc
    flags = SERVER_KINDS[policy.kind]
    set_by_service = {t.split("=", 1)[0].replace("_", "-") for t in policy.template if t.startswith("--")}
    known = set(flags.allowed) | set(flags.refused) | set_by_service
    roots = [root.resolve() for root in policy.model_roots]
    result: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        spelled, has_inline, inline = token.partition("=")
        flag = _resolve_flag(spelled, flags=flags, known=known)
        if flag in set_by_service:
            raise _refuse(f"extra_args may not set {flag}: the service's command sets it")
        if flag in flags.refused:
            raise _refuse(f"extra_args may not set {flag}: {flags.refused[flag]}")
        rule = flags.allowed[flag]
        if rule.admin_setting and not policy.trust_remote_code:
            raise _refuse(
                f"extra_args may not set {flag}: it runs code from the model directory; "
                f"an admin allows it with {rule.admin_setting}"
            )
        if rule.value == "none":
            if has_inline:
                raise _refuse(f"extra_args: {flag} takes no value")
            result.append(flag)
            continue
        if has_inline:
            values = [inline]
        else:
            values = []
            limit = len(tokens) if rule.value == "lora_modules" else min(index + 1, len(tokens))
            while index < limit and not tokens[index].startswith("-"):
                values.append(tokens[index])
                index += 1
        if not values:
            raise _refuse(f"extra_args: {flag} needs a value")
        # checked values never start with '-', so each can stand as its own token
        result += [flag, *(_check_value(flag, value, rule, roots=roots) for value in values)]
    return result
