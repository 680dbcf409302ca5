"""Chinese PERSON and ADDRESS de-identification measured against a hand-labelled set.

`data/zh_eval.jsonl` holds one hand-written sentence a line, `{"group", "text", "entities"}`, each
entity `{"type", "start", "end"}` with offsets in Python characters (`text[start:end]`). Groups:
`person` (names in chat and support-log contexts), `address` (street-level postal addresses),
`lookalike` (ordinary words built from surname characters, lone cities and districts, road names
without a number, and historical figures) and `pii` (phones, emails, resident IDs and bank cards,
mostly beside names and addresses). Every span of every group is labelled, whatever its group.

Seven sets, the same rules. `zh_eval.jsonl` (419 sentences) was written with the recognizer and
tuned on. `zh_heldout.jsonl` (174) and `zh_heldout2.jsonl` to `zh_heldout5.jsonl` (200 each) were
each written blind (by someone who had seen neither the recognizer nor the earlier sets) and held out
for one version, then their misses were read and fixed: they are tuned-on now. `zh_heldout6.jsonl`
(200), written blind the same way, has never been tuned on and is the only honest measure of how
the recognizer generalises; its misses are not printed (`--errors` leaves it out), so that it stays
that way until the next blind set replaces it.

Labelling rules
---------------
PERSON: the name only, surname plus given name ("客户王小明来电" → "王小明"; compound surnames
  such as 欧阳, 司马, 诸葛, 上官, 东方, 慕容 belong to the name). A surname alone is a name when an
  honorific or role follows it: "王先生" → "王", "陈经理" → "陈", "李女士", "赵老师", "罗医生",
  "苏律师", "梁总", "胡工", "陶师傅", "许阿姨"; a prefixed 老/小 is left out ("老王" → "王").
  Roles and honorifics are never part of the span, before or after the name ("主治医生是孙立平",
  "蔡文静老师" → "蔡文静", "孙中山先生" → "孙中山"). Historical and public figures in generic text
  are names too ("李白的诗", "鲁迅原名周树人"). Words that merely start with a surname character
  (国王, 王国, 一张, 张贴, 黄金, 周末, 马上, 高兴, 方法, 于是, 石头, 文件, 安全, 钱包, 常常, 杨树...)
  are not names; the same characters are labelled where the context makes them a name
  ("高兴是我们新来的同事", "白雪说快递盒被压坏了", "杨树林反馈网络卡顿").
ADDRESS: a street-level address, as one span running from its first component, the first
  administrative division (province, city, district, county, town, 街道) or, without one, the road
  or residential compound, through its last number or unit, 号/弄/巷/院/栋/幢/座/单元/楼/层/室 and
  a bare trailing room number ("翠湖花园12栋1802") included. A building or compound name inside
  the chain is part of it ("…体育西路103号维多利广场B座2501室", "…红星路三段1号IFS国际金融中心");
  institutions, gates and directions after it are not ("珞喻路1037号华中科技大学东门", "…附近",
  "…旁边", "…楼下"). To count as an address, a road or compound needs a number, building or room
  after it, or an administrative division before it ("深圳市南山区科技园南区高新南七道" is one).
  Not addresses: a lone province, city or district ("我去上海市出差", "海淀区的房价"), a road name on
  its own ("沿着中山路一直走", "北京路步行街"), a place or landmark ("王府井", "东方明珠"), a floor or
  counter without a street ("请到人民医院三楼挂号", "包裹在3号柜").
PHONE, EMAIL, ID_CARD, BANK_CARD: the number or address itself, with its spaces, dashes and a
  leading "+86" (PHONE covers landlines too: a landline the recognizers report as LANDLINE counts as
  a found PHONE); resident IDs carry a valid GB 11643 check character and card numbers a valid
  Luhn digit. Types are spelled as in `src.models.deid.BUILTIN_TYPES`.

Matching
--------
Exact: same type, same start and end. ADDRESS is also scored leniently ("overlap"): a found and a
labelled address match when they overlap by at least 80% of the longer of the two spans (a missing
room number or a trailing word still counts, half an address does not), each span used once.

Goals asserted on the tuned-on sets: PERSON exact precision ≥ 0.95 and recall ≥ 0.9; ADDRESS
overlap recall ≥ 0.9 (exact boundaries are reported beside it but not asserted: where an address
stops, at 号, at the building or at the room, is a judgement the rules above make and a recognizer
may reasonably not).
Where a set falls short of a goal (the held-out set's name recall), the test holds a floor a little
below what it measured instead, so a change cannot make it worse unnoticed.

Print the README's table with `.venv/bin/python -m tests.features.deid.test_zh_eval`
(add `--errors` to list every miss and false find on the tuned-on sets); `pytest -s` shows it too.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

import pytest

from src.features.deid.recognizers import Finding, Scanner, is_resident_id, luhn_valid
from src.models.deid import BUILTIN_TYPES

EVAL_SET = Path(__file__).parent / "data" / "zh_eval.jsonl"
# written afterwards by someone who had not seen the recognizer or the set above; held out for the first
# version of the recognizer, whose misses on it were then read and fixed: tuned-on since
SEEN_SET = Path(__file__).parent / "data" / "zh_heldout.jsonl"
# the same for the versions after it, one set each
SEEN_SETS = tuple(Path(__file__).parent / "data" / f"zh_heldout{n}.jsonl" for n in range(2, 6))
# written blind after that; never tuned on
HELDOUT_SET = Path(__file__).parent / "data" / "zh_heldout6.jsonl"
TUNED_ON = (EVAL_SET, SEEN_SET, *SEEN_SETS)
# the type a finding is scored as: the labels call every phone number PHONE
SCORED_AS = {"LANDLINE": "PHONE"}
KNOWN_TYPES = frozenset(BUILTIN_TYPES) | {"PERSON", "ADDRESS"}
GROUPS = frozenset({"person", "address", "lookalike", "pii"})
MIN_COVERAGE = 0.8

Span = tuple[str, int, int]  # (type, start, end)


@cache
def load_eval_set(path: Path = EVAL_SET) -> tuple[dict, ...]:
    with path.open(encoding="utf-8") as lines:
        return tuple(json.loads(line) for line in lines if line.strip())


def _gold(row: dict) -> list[Span]:
    return [(e["type"], e["start"], e["end"]) for e in row["entities"]]


@cache
def _predictions(path: Path = EVAL_SET) -> tuple[tuple[Finding, ...], ...]:
    scanner = Scanner(BUILTIN_TYPES)
    return tuple(
        tuple(f._replace(type=SCORED_AS.get(f.type, f.type)) for f in scanner.scan(row["text"]))
        for row in load_eval_set(path)
    )


def evaluate(path: Path = EVAL_SET) -> dict[str, tuple[int, int, int]]:
    """(true positives, false positives, false negatives) per type, on exact spans."""
    counts: dict[str, list[int]] = {}
    for row, found in zip(load_eval_set(path), _predictions(path), strict=True):
        gold = set(_gold(row))
        predicted = {(f.type, f.start, f.end) for f in found}
        for entity_type, *_ in gold | predicted:
            counts.setdefault(entity_type, [0, 0, 0])
        for entity_type, *_ in gold & predicted:
            counts[entity_type][0] += 1
        for entity_type, *_ in predicted - gold:
            counts[entity_type][1] += 1
        for entity_type, *_ in gold - predicted:
            counts[entity_type][2] += 1
    return {entity_type: (tp, fp, fn) for entity_type, (tp, fp, fn) in counts.items()}


def _overlap_match(gold: list[tuple[int, int]], predicted: list[tuple[int, int]]) -> int:
    """How many pairs overlap by ≥ MIN_COVERAGE of the longer span, each span matched at most once."""
    used: set[int] = set()
    matched = 0
    for g_start, g_end in gold:
        for index, (p_start, p_end) in enumerate(predicted):
            if index in used:
                continue
            overlap = min(g_end, p_end) - max(g_start, p_start)
            if overlap > 0 and overlap >= MIN_COVERAGE * max(g_end - g_start, p_end - p_start):
                used.add(index)
                matched += 1
                break
    return matched


def evaluate_overlap(entity_type: str = "ADDRESS", path: Path = EVAL_SET) -> tuple[int, int, int]:
    """(tp, fp, fn) for one type under the lenient overlap match."""
    tp = fp = fn = 0
    for row, found in zip(load_eval_set(path), _predictions(path), strict=True):
        gold = [(start, end) for t, start, end in _gold(row) if t == entity_type]
        predicted = [(f.start, f.end) for f in found if f.type == entity_type]
        matched = _overlap_match(gold, predicted)
        tp += matched
        fp += len(predicted) - matched
        fn += len(gold) - matched
    return tp, fp, fn


def precision(tp: int, fp: int) -> float:
    return tp / (tp + fp) if tp + fp else 0.0


def recall(tp: int, fn: int) -> float:
    return tp / (tp + fn) if tp + fn else 0.0


def _percent(numerator: int, denominator: int) -> str:
    return f"{100 * numerator / denominator:.1f}%" if denominator else "—"


def markdown_table(path: Path = EVAL_SET) -> str:
    """| Type | Entities | Precision | Recall |, built-in order, then ADDRESS on the lenient match."""
    results = evaluate(path)
    order = [t for t in BUILTIN_TYPES if t in results]
    order += sorted(t for t in results if t not in order)
    rows = ["| Type | Entities | Precision | Recall |", "| --- | ---: | ---: | ---: |"]
    for entity_type in order:
        tp, fp, fn = results[entity_type]
        label = f"{entity_type} (exact)" if entity_type == "ADDRESS" else entity_type
        rows.append(f"| {label} | {tp + fn} | {_percent(tp, tp + fp)} | {_percent(tp, tp + fn)} |")
        if entity_type == "ADDRESS":
            tp, fp, fn = evaluate_overlap("ADDRESS", path)
            rows.append(
                f"| ADDRESS (overlap ≥{MIN_COVERAGE:.0%}) | {tp + fn} | {_percent(tp, tp + fp)} "
                f"| {_percent(tp, tp + fn)} |"
            )
    sentences = load_eval_set(path)
    return "\n".join(rows) + f"\n\n{path.name}: {len(sentences)} sentences, exact span match unless stated."


def errors(path: Path = EVAL_SET) -> list[str]:
    """One line per missed or falsely found span (exact match), for working on the recognizers."""
    lines = []
    for row, found in zip(load_eval_set(path), _predictions(path), strict=True):
        text = row["text"]
        gold = set(_gold(row))
        predicted = {(f.type, f.start, f.end) for f in found}
        for kind, spans in (("missed", gold - predicted), ("false", predicted - gold)):
            for entity_type, start, end in sorted(spans, key=lambda s: s[1]):
                lines.append(f"{kind:6} {entity_type:9} {text[start:end]!r:24} in {text}")
    return lines


@cache
def _print_report() -> None:
    print("\n" + markdown_table())


# ---- the set itself ---------------------------------------------------------


@pytest.mark.parametrize("path", [*TUNED_ON, HELDOUT_SET], ids=lambda path: path.name)
def test_eval_set_is_well_formed(path: Path) -> None:
    rows = load_eval_set(path)
    texts = [row["text"] for row in rows]
    assert len(rows) >= (300 if path == EVAL_SET else 150)
    assert len(set(texts)) == len(texts), "duplicate sentences"
    counts: dict[str, int] = {}
    for row in rows:
        text = row["text"]
        assert set(row) == {"group", "text", "entities"}, row
        assert row["group"] in GROUPS, row
        assert text and text == text.strip(), row
        previous_end = 0
        for entity in row["entities"]:
            entity_type, start, end = entity["type"], entity["start"], entity["end"]
            assert entity_type in KNOWN_TYPES, entity
            assert isinstance(start, int) and isinstance(end, int), entity
            assert previous_end <= start < end <= len(text), (
                f"out of order, overlapping or out of range: {row}"
            )
            value = text[start:end]
            assert (
                value == value.strip()
                and value[0] not in "，。：；、（）【】[]“”"
                and value[-1] not in "，。：；、（）"
            ), row
            if entity_type == "ID_CARD":
                assert is_resident_id(value), value
            if entity_type == "BANK_CARD":
                assert luhn_valid(value.replace(" ", "")), value
            previous_end = end
            counts[entity_type] = counts.get(entity_type, 0) + 1
    assert counts.get("PERSON", 0) >= (100 if path == EVAL_SET else 50)
    assert counts.get("ADDRESS", 0) >= (100 if path == EVAL_SET else 50)
    # look-alike sentences label nothing but the historical figures among them
    for row in rows:
        if row["group"] == "lookalike":
            assert all(entity["type"] == "PERSON" for entity in row["entities"]), row


def test_overlap_match_needs_most_of_the_longer_span() -> None:
    assert _overlap_match([(0, 10)], [(0, 8)]) == 1  # a room number short
    assert _overlap_match([(0, 10)], [(0, 7)]) == 0  # too much left out
    assert _overlap_match([(0, 10)], [(0, 13)]) == 0  # swallowed too much
    assert _overlap_match([(0, 10), (20, 30)], [(0, 30)]) == 0  # one span for two addresses
    assert _overlap_match([(0, 10), (12, 20)], [(0, 10), (12, 20)]) == 2


# ---- the goals --------------------------------------------------------------


@pytest.mark.parametrize("path", TUNED_ON, ids=lambda path: path.name)
def test_person_precision_and_recall(path: Path) -> None:
    _print_report()
    assert "PERSON" in BUILTIN_TYPES, "PERSON is not a built-in type yet"
    tp, fp, fn = evaluate(path)["PERSON"]
    assert precision(tp, fp) >= 0.95, (tp, fp, fn)
    assert recall(tp, fn) >= 0.9, (tp, fp, fn)


@pytest.mark.parametrize("path", TUNED_ON, ids=lambda path: path.name)
def test_address_recall_on_overlap(path: Path) -> None:
    _print_report()
    assert "ADDRESS" in BUILTIN_TYPES, "ADDRESS is not a built-in type yet"
    tp, fp, fn = evaluate_overlap("ADDRESS", path)
    assert recall(tp, fn) >= 0.9, (tp, fp, fn)


# Name precision and recall measured on 2026-12-01 on the set where the recall goal (0.9) is not met;
# floors a little below them.
NAME_FLOORS = {HELDOUT_SET: (0.94, 0.85)}  # measured 0.962 and 0.869


@pytest.mark.parametrize("path", list(NAME_FLOORS), ids=lambda path: path.name)
def test_sets_short_of_the_goal_stay_where_they_were_measured(path: Path) -> None:
    """A floor, not the goal: the held-out figures are reported as they come (README), and this only
    stops a change from making them worse unnoticed."""
    tp, fp, fn = evaluate(path)["PERSON"]
    least_precision, least_recall = NAME_FLOORS[path]
    assert precision(tp, fp) >= least_precision, (tp, fp, fn)
    assert recall(tp, fn) >= least_recall, (tp, fp, fn)
    tp, fp, fn = evaluate_overlap("ADDRESS", path)
    assert recall(tp, fn) >= 0.9, (tp, fp, fn)


if __name__ == "__main__":
    for eval_path in (*TUNED_ON, HELDOUT_SET):
        print(markdown_table(eval_path))
        if "--errors" in sys.argv[1:] and eval_path != HELDOUT_SET:
            print()
            print("\n".join(errors(eval_path)))
        print()
