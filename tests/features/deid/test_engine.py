"""Operators and the engine: outputs of each operator, repeat values, seeds, allow-lists."""

from __future__ import annotations

import re

import pytest

from src.features.deid.engine import CompiledPolicy, Deidentifier
from src.features.deid.operators import OperatorRule, hash_value
from src.features.deid.recognizers import Scanner, is_bank_card, is_resident_id
from src.models.deid import BUILTIN_TYPES, Operator

SECRET = bytes(range(32))
TEXT = (
    "张三的手机13812345678，又写作138-1234-5678；身份证11010519491231002X，"
    "卡4111 1111 1111 1111，邮箱zhang@example.com，座机010-62345678，车牌京A12345。"
)


def policy(operator: Operator, *, secret: bytes = SECRET, **extra: object) -> CompiledPolicy:
    return CompiledPolicy.build(
        policy_id="p",
        rules={t: OperatorRule(operator) for t in BUILTIN_TYPES},
        allow_list=extra.get("allow_list", []),  # type: ignore[arg-type]
        dictionary=extra.get("dictionary", {}),  # type: ignore[arg-type]
        secret=secret,
    )


def run(operator: Operator, text: str = TEXT, *, seed: int | None = None, **extra: object) -> str:
    return Deidentifier(policy(operator, **extra), seed=seed).deidentify(text).text


def test_replace_numbers_placeholders_per_type_and_repeats_them() -> None:
    assert run(Operator.replace) == (
        "<PERSON_1>的手机<PHONE_1>，又写作<PHONE_1>；身份证<ID_CARD_1>，"
        "卡<BANK_CARD_1>，邮箱<EMAIL_1>，座机<LANDLINE_1>，车牌<LICENSE_PLATE_1>。"
    )


def test_mask_keeps_the_ends_and_the_separators() -> None:
    assert run(Operator.mask) == (
        "张*的手机138****5678，又写作138-****-5678；身份证110105********002X，"
        "卡4111 11** **** 1111，邮箱z****@example.com，座机010-6*****78，车牌京A****5。"
    )


def test_mask_options_override_the_defaults() -> None:
    compiled = CompiledPolicy.build(
        policy_id="p",
        rules={"PHONE": OperatorRule(Operator.mask, mask_char="#", keep_start=0, keep_end=2)},
        allow_list=[],
        dictionary={},
        secret=SECRET,
    )
    assert Deidentifier(compiled).deidentify("tel 13812345678").text == "tel #########78"


def test_hash_is_keyed_by_the_policy_secret() -> None:
    out = run(Operator.hash, "tel 13812345678 and 138-1234-5678")
    digest = hash_value(SECRET, "PHONE", "13812345678")
    assert out == f"tel {digest} and {digest}"
    assert re.fullmatch(r"[0-9a-f]{16}", digest)
    assert run(Operator.hash, "tel 13812345678", secret=b"another secret") != f"tel {digest}"


def test_redact_removes_and_keep_leaves() -> None:
    assert run(Operator.redact, "tel 13812345678, mail a@example.com.") == "tel , mail ."
    result = Deidentifier(policy(Operator.keep)).deidentify("tel 13812345678")
    assert result.text == "tel 13812345678"
    assert [(e.type, e.start, e.end) for e in result.entities] == [("PHONE", 4, 15)]


def test_pseudonyms_have_the_shape_and_checksums_of_real_values() -> None:
    engine = Deidentifier(policy(Operator.pseudonymize), seed=7)
    result = engine.deidentify(TEXT)
    by_type = {e.type: e.replacement for e in result.entities}
    phones = [e.replacement for e in result.entities if e.type == "PHONE"]
    assert re.fullmatch(r"1[3-9]\d{9}", phones[0])
    assert phones[1] == f"{phones[0][:3]}-{phones[0][3:7]}-{phones[0][7:]}"  # same value, its own shape
    assert is_resident_id(by_type["ID_CARD"]) and by_type["ID_CARD"] != "11010519491231002X"
    card = by_type["BANK_CARD"]
    assert re.fullmatch(r"4\d{3} \d{4} \d{4} \d{4}", card) and is_bank_card(card.replace(" ", ""))
    assert re.fullmatch(r"010-[2-8]\d{7}", by_type["LANDLINE"])
    assert re.fullmatch(r"[a-z]+\d+@example\.(com|org|net)", by_type["EMAIL"])
    # the output is found again by the same recognizers: it is realistic, not a placeholder
    rescanned = {f.type for f in Scanner(BUILTIN_TYPES).scan(result.text)}
    assert {"PHONE", "ID_CARD", "BANK_CARD", "EMAIL", "LANDLINE", "LICENSE_PLATE"} <= rescanned
    assert "13812345678" not in result.text and "zhang@example.com" not in result.text


def test_full_width_digits_stay_full_width() -> None:
    out = run(Operator.pseudonymize, "电话１３８１２３４５６７８", seed=1)
    assert re.fullmatch("电话[０-９]{11}", out) and out != "电话１３８１２３４５６７８"


def test_same_seed_same_pseudonyms_different_seed_different() -> None:
    first = run(Operator.pseudonymize, seed=42)
    assert run(Operator.pseudonymize, seed=42) == first
    assert run(Operator.pseudonymize, seed=43) != first
    assert run(Operator.pseudonymize) != run(Operator.pseudonymize)  # no seed: fresh each time


def test_same_value_same_replacement_across_a_batch() -> None:
    engine = Deidentifier(policy(Operator.pseudonymize), seed=3)
    first, second = engine.deidentify_many(["a 13812345678", "b 13812345678 c 13912345678"])
    assert first.text[2:] == second.text[2:13]
    assert second.text[2:13] != second.text[16:]
    assert engine.counts["PHONE"] == 3


def test_offsets_point_into_the_original_text() -> None:
    text = "邮箱a@example.com，手机13812345678"
    result = Deidentifier(policy(Operator.replace)).deidentify(text)
    assert [(e.type, text[e.start : e.end]) for e in result.entities] == [
        ("EMAIL", "a@example.com"),
        ("PHONE", "13812345678"),
    ]


def test_allow_list_values_are_left_alone() -> None:
    out = run(Operator.replace, "support@corp.com or alice@corp.com", allow_list=["support@corp.com"])
    assert out == "support@corp.com or <EMAIL_1>"


def test_mapping_names_the_originals_of_reversible_operators_only() -> None:
    engine = Deidentifier(policy(Operator.replace), seed=1, keep_mapping=True)
    engine.deidentify("13812345678 and a@example.com")
    assert {k: v.original for k, v in engine.mapping.items()} == {
        "<PHONE_1>": "13812345678",
        "<EMAIL_1>": "a@example.com",
    }
    masked = Deidentifier(policy(Operator.mask), keep_mapping=True)
    masked.deidentify("13812345678")
    assert masked.mapping == {}
    unasked = Deidentifier(policy(Operator.replace))
    unasked.deidentify("13812345678")
    assert unasked.mapping == {}


@pytest.mark.parametrize("operator", list(Operator))
def test_dictionary_types_follow_their_rule(operator: Operator) -> None:
    compiled = CompiledPolicy.build(
        policy_id="p",
        rules={"PERSON": OperatorRule(operator)},
        allow_list=[],
        dictionary={"PERSON": ["张三"]},
        secret=SECRET,
    )
    out = Deidentifier(compiled, seed=5).deidentify("张三来了").text
    expected = {
        Operator.replace: "<PERSON_1>来了",
        Operator.mask: "张*来了",
        Operator.redact: "来了",
        Operator.keep: "张三来了",
        Operator.hash: f"{hash_value(SECRET, 'PERSON', '张三')}来了",
    }
    if operator is Operator.pseudonymize:
        assert re.fullmatch("[\u4e00-\u9fff]{2}来了", out) and out != "张三来了"
    else:
        assert out == expected[operator]


def test_pseudonyms_stay_distinct_when_the_space_of_fakes_is_small() -> None:
    names = [f"Person{i}" for i in range(52)] + ["Alex", "Blake"]  # two of them are fake names too
    compiled = CompiledPolicy.build(
        policy_id="p",
        rules={"PERSON": OperatorRule(Operator.pseudonymize)},
        allow_list=[],
        dictionary={"PERSON": names},
        secret=SECRET,
    )
    engine = Deidentifier(compiled, seed=1, keep_mapping=True)
    fakes = [r.text for r in engine.deidentify_many(names)]
    assert len(set(fakes)) == len(names)
    assert not any(fake == name for fake, name in zip(fakes, names, strict=True))
    assert {entry.original for entry in engine.mapping.values()} == set(names)
