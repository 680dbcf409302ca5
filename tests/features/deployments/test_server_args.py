"""extra_args as vLLM's parser reads them: prefixes, underscores, `=`, nargs, and the allow-list."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.features.deployments.server_args import ArgsPolicy, check_extra_args
from src.models.errors import Invalid


@pytest.fixture
def policy(tmp_path: Path) -> ArgsPolicy:
    for name in ("base", "adapter-a", "adapter-b"):
        (tmp_path / "models" / name).mkdir(parents=True)
    return ArgsPolicy(
        model_roots=[tmp_path / "models"], template=["vllm", "serve", "{model}", "--dtype", "auto"]
    )


def test_accepted_flags_come_back_spelled_out(policy: ArgsPolicy) -> None:
    root = policy.model_roots[0].resolve()
    assert check_extra_args(
        "--max_num_seqs=8 --no-enable-prefix --lora-modules a=adapter-a b=adapter-b --gpu-mem 0.5",
        policy=policy,
    ) == [
        "--max-num-seqs",
        "8",
        "--no-enable-prefix-caching",
        "--lora-modules",
        f"a={root / 'adapter-a'}",
        f"b={root / 'adapter-b'}",
        "--gpu-memory-utilization",
        "0.5",
    ]
    assert check_extra_args("", policy=policy) == [] and check_extra_args(None, policy=policy) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("--dtype half", "the service's command sets it"),  # the template sets it
        ("--enable-prefix-caching=1", "takes no value"),
        ("--max-num-seqs", "needs a value"),
        ("--max-num-seqs --enforce-eager", "needs a value"),
        ("--max-num-seqs=-1", "does not take"),
        ("--lora-modules a=adapter-a b=../../etc", "--lora-modules must name a directory"),
        ("--lora-modules {}", "shell syntax"),
        ("-x", "spell flags out"),
        ("--", "spell flags out"),
        ("--enable", "ambiguous"),
        ("'--max-model-len", "cannot be parsed"),
    ],
)
def test_refusals_name_the_reason(policy: ArgsPolicy, extra: str, message: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_extra_args(extra, policy=policy)
    assert message in refused.value.message and refused.value.param == "extra_args"


def test_trust_remote_code_follows_the_admin_setting(policy: ArgsPolicy) -> None:
    with pytest.raises(Invalid, match="TUNING_DEPLOY_TRUST_REMOTE_CODE"):
        check_extra_args("--trust-remote-code", policy=policy)
    allowed = ArgsPolicy(model_roots=policy.model_roots, trust_remote_code=True)
    assert check_extra_args("--trust_remote_code", policy=allowed) == ["--trust-remote-code"]
