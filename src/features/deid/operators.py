"""Operators: what a policy does to each entity it finds.

`replace` → a typed placeholder (`<PHONE_1>`), `mask` → some characters kept
(`138****5678`, `王**`, `北京市海淀区*******`), `hash` → HMAC-SHA256 keyed by the
policy's secret, `redact` → nothing, `pseudonymize` → a realistic fake of the same
shape (a fake ID has a valid check digit, a fake card passes Luhn, a fake name has
as many given-name characters), `keep` → the original.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

from src.features.deid.recognizers import (
    ADDRESS,
    BANK_CARD,
    EMAIL,
    FULLWIDTH_TO_ASCII,
    ID_CARD,
    IP_ADDRESS,
    LANDLINE,
    LICENSE_PLATE,
    PASSPORT,
    PERSON,
    PHONE,
    URL,
    id_check_char,
    luhn_valid,
)
from src.models.deid import Operator


@dataclass(frozen=True, slots=True)
class OperatorRule:
    operator: Operator
    mask_char: str = "*"
    keep_start: int | None = None  # mask: characters left visible at each end; None = the type's default
    keep_end: int | None = None


# (keep_start, keep_end) for `mask`, counted in letters and digits (separators stay as they are).
MASK_DEFAULTS: dict[str, tuple[int, int]] = {
    PHONE: (3, 4),
    LANDLINE: (4, 2),
    ID_CARD: (6, 4),
    BANK_CARD: (6, 4),
    PASSPORT: (1, 2),
    LICENSE_PLATE: (2, 1),
    IP_ADDRESS: (0, 0),
    PERSON: (1, 0),  # the surname stays: 王**
}
_DEFAULT_MASK_KEEP = (1, 0)
_FULLWIDTH_DIGITS = "０１２３４５６７８９"
_NUMBER_TYPES = frozenset({PHONE, LANDLINE, ID_CARD, BANK_CARD})


def hash_value(secret: bytes, entity_type: str, value: str, *, length: int = 16) -> str:
    """HMAC-SHA256 of the canonical value, keyed by the policy's secret (never a bare hash)."""
    digest = hmac.new(secret, f"{entity_type}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return digest[:length]


def mask(text: str, entity_type: str, rule: OperatorRule) -> str:
    """Hide the letters and digits of `text` but the first and last few; keep separators."""
    if entity_type == EMAIL and rule.keep_start is None and rule.keep_end is None:
        local, _, domain = text.partition("@")
        return local[:1] + rule.mask_char * max(len(local) - 1, 1) + "@" + domain
    if entity_type == URL and rule.keep_start is None and rule.keep_end is None:
        scheme, sep, rest = text.partition("://")
        if not sep:
            scheme, rest = "", text
        host, slash, path = rest.partition("/")
        return scheme + sep + host + slash + "".join(rule.mask_char if c.isalnum() else c for c in path)
    if entity_type == ADDRESS and rule.keep_start is None and rule.keep_end is None:
        # the divisions stay (a city is no secret), the street, number and room go; zh_entities is
        # already loaded wherever addresses are found, so this import costs nothing
        from src.features.deid.zh_entities import division_prefix_length

        kept = division_prefix_length(text)
        if kept < len(text):  # an address of divisions alone falls to the usual rule below
            return text[:kept] + "".join(rule.mask_char if c.isalnum() else c for c in text[kept:])
    default_start, default_end = MASK_DEFAULTS.get(entity_type, _DEFAULT_MASK_KEEP)
    keep_start = default_start if rule.keep_start is None else rule.keep_start
    keep_end = default_end if rule.keep_end is None else rule.keep_end
    significant = [i for i, c in enumerate(text) if c.isalnum()]
    if entity_type == PHONE and len(significant) == 13:
        keep_start += 2  # "+86 138****5678": the country code is not the secret
    if keep_start + keep_end >= len(significant):
        keep_start, keep_end = 0, 0  # too short to show anything and still hide something
    hidden = set(significant[keep_start : len(significant) - keep_end])
    return "".join(rule.mask_char if i in hidden else c for i, c in enumerate(text))


# ---- pseudonyms ---------------------------------------------------------------

_AREAS = ("110101", "110105", "310104", "310115", "440106", "440305", "320102", "330106", "510107", "420106")
_PROVINCE_CHARS = "京津沪渝冀豫云辽黑湘皖鲁苏浙赣鄂桂甘晋蒙陕吉闽贵粤川"
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志宏文玉晨宇浩然子涵梓轩思雨欣怡俊杰"
_LATIN_NAMES = (  # noqa: SIM905 (a list of names reads better as words)
    "Alex Blake Casey Drew Eden Finley Gray Harper Jordan Kai Logan Morgan Noel Parker Quinn Reese "
    "Rowan Sage Taylor Avery Emerson Hayden Jamie Kendall Lane Marley Oakley Peyton Remy Skyler"
).split()
_FAKE_DISTRICTS = (
    ("北京市", "朝阳区"),
    ("北京市", "海淀区"),
    ("上海市", "徐汇区"),
    ("上海市", "静安区"),
    ("广州市", "越秀区"),
    ("深圳市", "福田区"),
    ("杭州市", "拱墅区"),
    ("南京市", "鼓楼区"),
    ("成都市", "锦江区"),
    ("武汉市", "江汉区"),
)
_FAKE_ROADS = "建设 人民 解放 中山 和平 新华 长江 黄河 光明 胜利 青年 文化 幸福 团结 迎宾".split()  # noqa: SIM905
_ROAD_KINDS = ("路", "街", "大道")
_EMAIL_NAMES = ("zhang", "wang", "li", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "sun", "ma")
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(count))


def _reshape(template: str, digits: str) -> str:
    """Write `digits` into the digit positions of `template`, keeping separators and full width."""
    supply = iter(digits)
    out = []
    for char in template:
        ascii_char = char.translate(FULLWIDTH_TO_ASCII)
        if ascii_char.isdigit() or ascii_char in "Xx":
            new = next(supply, ascii_char)
            out.append(_FULLWIDTH_DIGITS[int(new)] if char in _FULLWIDTH_DIGITS and new.isdigit() else new)
        else:
            out.append(char)
    return "".join(out)


def _fake_phone(rng: random.Random, value: str) -> str:
    return "1" + rng.choice("3456789") + _digits(rng, 9)


def _fake_landline(rng: random.Random, value: str) -> str:
    area = 3 if value[1] in "12" else 4  # the area code stays: a city is not a secret
    return value[:area] + rng.choice("2345678") + _digits(rng, len(value) - area - 1)


def _fake_id(rng: random.Random, value: str) -> str:
    birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    if len(value) == 15:
        return rng.choice(_AREAS) + birth[2:] + _digits(rng, 3)
    first17 = rng.choice(_AREAS) + birth + _digits(rng, 3)
    return first17 + id_check_char(first17)


def _fake_card(rng: random.Random, value: str) -> str:
    prefix = value[:2] if value.startswith("62") else value[:1]  # keep the network, not the bank
    body = prefix + _digits(rng, len(value) - len(prefix) - 1)
    return next(body + d for d in string.digits if luhn_valid(body + d))


def _fake_email(rng: random.Random, value: str) -> str:
    return f"{rng.choice(_EMAIL_NAMES)}{rng.randint(1, 9999)}@{rng.choice(_EMAIL_DOMAINS)}"


def _fake_ip(rng: random.Random, value: str) -> str:
    if ":" in value:
        return str(ipaddress.IPv6Address((0x20010DB8 << 96) | rng.getrandbits(96)))
    return f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _fake_url(rng: random.Random, value: str) -> str:
    scheme, sep, _rest = value.partition("://")
    token = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(8))
    return f"{scheme if sep else 'https'}://{rng.choice(_EMAIL_DOMAINS)}/{token}"


def _fake_passport(rng: random.Random, value: str) -> str:
    letters = "".join(c for c in value if c.isalpha())
    return letters + _digits(rng, len(value) - len(letters))


def _fake_plate(rng: random.Random, value: str) -> str:
    serial = "".join(
        rng.choice(string.digits) if c.isdigit() else rng.choice(_PLATE_LETTERS) if c in _PLATE_LETTERS else c
        for c in value[2:]
    )
    return rng.choice(_PROVINCE_CHARS) + rng.choice(_PLATE_LETTERS) + serial


def _fake_person(rng: random.Random, value: str) -> str:
    """A surname and up to two given-name characters, as many as follow the first one of the original."""
    if not any("\u4e00" <= c <= "\u9fff" for c in value):
        return rng.choice(_LATIN_NAMES)
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(min(len(value) - 1, 2)))


def _fake_address(rng: random.Random, value: str) -> str:
    """A city and district, then a road and number if the original had a street, then a room if it had one."""
    city, district = rng.choice(_FAKE_DISTRICTS)
    fake = city + district
    if any(c.isdigit() for c in value):
        fake += f"{rng.choice(_FAKE_ROADS)}{rng.choice(_ROAD_KINDS)}{rng.randint(1, 999)}号"
    if "室" in value:
        fake += f"{rng.randint(1, 30)}栋{rng.randint(1, 32)}{rng.randint(1, 8):02d}室"
    return fake


def _fake_term(rng: random.Random, value: str) -> str:
    if any("\u4e00" <= c <= "\u9fff" for c in value):
        given = "".join(rng.choice(_GIVEN) for _ in range(max(len(value) - 1, 1)))
        return rng.choice(_SURNAMES) + given
    return rng.choice(_LATIN_NAMES)


_FAKERS: dict[str, Callable[[random.Random, str], str]] = {
    PHONE: _fake_phone,
    LANDLINE: _fake_landline,
    ID_CARD: _fake_id,
    BANK_CARD: _fake_card,
    EMAIL: _fake_email,
    IP_ADDRESS: _fake_ip,
    URL: _fake_url,
    PASSPORT: _fake_passport,
    LICENSE_PLATE: _fake_plate,
    PERSON: _fake_person,
    ADDRESS: _fake_address,
}


def pseudonym(rng: random.Random, entity_type: str, value: str) -> str:
    """A realistic fake of a canonical value, drawn from `rng` (seeded per value, so repeatable)."""
    return _FAKERS.get(entity_type, _fake_term)(rng, value)


def shaped_like(entity_type: str, fake: str, surface: str) -> str:
    """Write a fake number the way the original was written: separators, +86, full-width digits."""
    if entity_type not in _NUMBER_TYPES:
        return fake
    digit_count = sum(c.translate(FULLWIDTH_TO_ASCII).isdigit() for c in surface)
    if entity_type == PHONE and digit_count == 13:
        fake = "86" + fake
    return _reshape(surface, fake)
