"""A generated chat corpus: mixed Chinese and English messages with PII and ordinary numbers.

Deterministic for a seed, so every engine in bench/deid.py reads the same text.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from src.features.deid.recognizers import id_check_char, luhn_valid

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚"
_PROVINCES = "京沪粤苏浙川鄂湘"
_AREAS = ("110101", "310104", "440305", "320102", "330106", "510107", "420106", "430102")

_ZH = (
    "你好，我想咨询一下订单的问题，",
    "请问这个产品什么时候可以发货？",
    "我已经等了三天了，还没有收到快递。",
    "麻烦帮我查一下，谢谢！",
    "好的，我们会尽快为您处理。",
    "今天下午三点以后都可以联系我。",
    "模型训练的时候损失一直不下降，怎么办？",
    "价格是{price}元，优惠券已经使用了。",
    "会议定在{date} {time}，地点在三楼。",
    "订单号{order}，请核实。",
)
_EN = (
    "Hi, I have a question about my last invoice. ",
    "Could you reset my password please? ",
    "The build failed again at step {step} of {steps}. ",
    "Thanks, that fixed it! ",
    "We shipped version {version} yesterday. ",
    "The meeting is at {time} on {date}. ",
    "Learning rate 2e-5 with batch size {step} worked best. ",
)
_PII_ZH = (
    "我的手机号是{phone}，",
    "请拨打{landline}联系前台。",
    "身份证号{id}，",
    "银行卡号：{card}。",
    "邮箱{email}，",
    "我的车牌是{plate}。",
    "护照号码{passport}。",
    "服务器地址{ipv4}，",
    "详情见{url}，",
)
_PII_EN = (
    "You can reach me at {phone}. ",
    "My email is {email}. ",
    "Card number {card_spaced}. ",
    "The host is {ipv6} behind the proxy. ",
    "See {url} for details. ",
    "Call +86 {phone_spaced} after 6pm. ",
)


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _resident_id(rng: random.Random) -> str:
    first17 = (
        rng.choice(_AREAS)
        + f"{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        + f"{rng.randint(0, 999):03d}"
    )
    return first17 + id_check_char(first17)


def _card(rng: random.Random) -> str:
    prefix = "62" + "".join(rng.choice("0123456789") for _ in range(15))
    return next(prefix + d for d in "0123456789" if luhn_valid(prefix + d))


def _fill(template: str, rng: random.Random) -> str:
    phone = f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"
    card = _card(rng)
    values = {
        "phone": phone,
        "phone_spaced": f"{phone[:3]} {phone[3:7]} {phone[7:]}",
        "landline": f"0{rng.choice(['10', '21', '755', '571'])}-{rng.randint(2, 8)}{_digits(rng, 7)}",
        "id": _resident_id(rng),
        "card": card,
        "card_spaced": " ".join(card[i : i + 4] for i in range(0, len(card), 4)),
        "email": f"{rng.choice(['zhang', 'li.wei', 'amy', 'ops'])}{rng.randint(1, 999)}@example.com",
        "plate": f"{rng.choice(_PROVINCES)}{rng.choice('ABCDE')}{rng.randint(10000, 99999)}",
        "passport": f"E{rng.randint(0, 99_999_999):08d}",
        "ipv4": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "ipv6": f"2001:db8::{rng.randint(1, 0xFFFF):x}",
        "url": f"https://example.com/item/{rng.randint(1, 99999)}?ref=chat",
        "price": f"{rng.randint(1, 9999)}.{rng.randint(0, 99):02d}",
        "date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "time": f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        "order": f"{rng.randint(10**9, 10**10)}",
        "step": str(rng.randint(1, 500)),
        "steps": str(rng.randint(500, 5000)),
        "version": f"{rng.randint(0, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
    }
    return template.format(**values)


def messages(seed: int = 7, pii_rate: float = 0.18) -> Iterator[str]:
    """An endless stream of chat messages; each sentence carries PII with probability `pii_rate`.

    At the default 0.18 about half the messages hold some PII (one entity per ~250 bytes): a
    deliberately dense corpus. Two thirds of the PII sentences are Chinese, one third English.
    """
    rng = random.Random(seed)
    while True:
        parts = [rng.choice(_SURNAMES) + rng.choice(_GIVEN) + "："]
        for _ in range(rng.randint(2, 5)):
            roll = rng.random()
            if roll < pii_rate * 2 / 3:
                parts.append(_fill(rng.choice(_PII_ZH), rng))
            elif roll < pii_rate:
                parts.append(_fill(rng.choice(_PII_EN), rng))
            elif roll < pii_rate + (1 - pii_rate) / 2:
                parts.append(_fill(rng.choice(_ZH), rng))
            else:
                parts.append(_fill(rng.choice(_EN), rng))
        yield "".join(parts)


def corpus(size_bytes: int, seed: int = 7, pii_rate: float = 0.18) -> list[str]:
    """Messages adding up to about `size_bytes` of UTF-8."""
    found: list[str] = []
    total = 0
    for message in messages(seed, pii_rate):
        found.append(message)
        total += len(message.encode()) + 1
        if total >= size_bytes:
            return found
    return found
