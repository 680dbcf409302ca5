"""Every recognizer against a table of true and false cases.

Valid identifiers: 11010519491231002X is the sample resident ID published with
GB 11643; the card numbers are the networks' published test numbers (Luhn-valid).
"""

from __future__ import annotations

import pytest

from src.features.deid.recognizers import Dictionary, Scanner, id_check_char, is_resident_id, luhn_valid
from src.models.deid import BUILTIN_TYPES

SCANNER = Scanner(BUILTIN_TYPES)

# (text, [(type, the exact characters found), ...])
CASES: list[tuple[str, list[tuple[str, str]]]] = [
    # mainland mobile numbers
    ("我的手机是13812345678，请联系", [("PHONE", "13812345678")]),
    ("call 138-1234-5678 now", [("PHONE", "138-1234-5678")]),
    ("call 138 1234 5678 now", [("PHONE", "138 1234 5678")]),
    ("电话+86 138 1234 5678。", [("PHONE", "+86 138 1234 5678")]),
    ("请拨打+86 139-2876-5402。", [("PHONE", "+86 139-2876-5402")]),  # the country code apart
    ("编号86 139-2876-5402", [("PHONE", "139-2876-5402")]),  # no plus: 86 is not a country code
    ("电话+8613812345678。", [("PHONE", "+8613812345678")]),
    ("电话8613812345678。", [("PHONE", "8613812345678")]),
    ("电话86-138-1234-5678。", [("PHONE", "86-138-1234-5678")]),
    ("全角１３８１２３４５６７８号码", [("PHONE", "１３８１２３４５６７８")]),
    ("Tel:19912345678", [("PHONE", "19912345678")]),
    ("call 1381234-5678", [("PHONE", "1381234-5678")]),
    ("call 1381234 5678", [("PHONE", "1381234 5678")]),
    ("2026-03-06 13812345678", [("PHONE", "13812345678")]),
    ("1.13812345678\n2.13912345678", [("PHONE", "13812345678"), ("PHONE", "13912345678")]),
    ("内部编号813812345678不是手机", []),  # inside a longer digit run
    ("138123456789", []),  # 12 digits
    ("1381234567", []),  # 10 digits
    ("12812345678", []),  # 12x is not a mobile prefix
    ("order SO13812345678", []),  # part of an identifier
    ("13812345678abc", []),
    ("+44 7911 123456", []),
    ("+113812345678", []),  # another country's code
    # landlines with area code
    ("请拨打010-62345678联系前台", [("LANDLINE", "010-62345678")]),
    ("深圳0755-82345678", [("LANDLINE", "0755-82345678")]),
    ("(0755)82345678", [("LANDLINE", "(0755)82345678")]),
    ("（021）62345678", [("LANDLINE", "（021）62345678")]),
    ("021 6234 5678", [("LANDLINE", "021 6234 5678")]),
    ("电话021-5888 6666。", [("LANDLINE", "021-5888 6666")]),  # the area code apart
    ("客服热线400-820-8820全天服务", [("LANDLINE", "400-820-8820")]),  # a national service number
    ("编号400-8208820", []),  # not written as one
    ("tel 02162345678", [("LANDLINE", "02162345678")]),
    ("010-12345678", []),  # subscriber numbers do not start with 1
    ("0755-823456", []),  # too short
    ("0123-62345678", []),  # 012x is not an area code
    # resident IDs
    ("身份证11010519491231002X，", [("ID_CARD", "11010519491231002X")]),
    ("id 11010519491231002x ok", [("ID_CARD", "11010519491231002x")]),
    ("全角１１０１０５１９４９１２３１００２Ｘ", [("ID_CARD", "１１０１０５１９４９１２３１００２Ｘ")]),
    ("身份证440304199001010011", [("ID_CARD", "440304199001010011")]),
    ("320102198511112346号", [("ID_CARD", "320102198511112346")]),
    ("旧证110105491231002", [("ID_CARD", "110105491231002")]),  # 15-digit legacy form
    ("身份证110105194912310021", []),  # wrong check digit: not an ID, and not a card either
    ("440304199013010018", []),  # month 13
    ("440304203001010011", []),  # born in the future
    ("990304199001010011", []),  # no province 99
    ("x11010519491231002X", []),
    ("110105194912310021234", []),  # inside a longer run
    # bank cards
    ("卡号4111111111111111。", [("BANK_CARD", "4111111111111111")]),
    ("card 4111 1111 1111 1111 expires", [("BANK_CARD", "4111 1111 1111 1111")]),
    ("card 5500-0000-0000-0004", [("BANK_CARD", "5500-0000-0000-0004")]),
    ("卡6011111111111117", [("BANK_CARD", "6011111111111117")]),
    ("amex 378282246310005", [("BANK_CARD", "378282246310005")]),
    ("卡号4111111111111112", []),  # Luhn fails
    ("编号1234567890123452", []),  # Luhn passes but 1 is no card network
    ("4111 1111 1111 111 1", []),  # grouped like no card
    # email
    ("邮箱zhang.san@example.com，", [("EMAIL", "zhang.san@example.com")]),
    ("mail a+tag@mail.example.co.uk.", [("EMAIL", "a+tag@mail.example.co.uk")]),
    ("13812345678@163.com", [("EMAIL", "13812345678@163.com")]),
    ("not an email: user@localhost", []),
    ("@twitter_handle", []),
    ("a..b@example.com", []),  # not a valid local part
    # IP addresses
    ("服务器10.0.0.1，", [("IP_ADDRESS", "10.0.0.1")]),
    ("host 192.168.1.254.", [("IP_ADDRESS", "192.168.1.254")]),
    ("v1.2.3.4.5", []),  # a version, not an address
    ("256.1.1.1", []),
    ("1.2.3", []),
    ("ipv6 2001:db8::1 here", [("IP_ADDRESS", "2001:db8::1")]),
    ("fe80::1ff:fe23:4567:890a", [("IP_ADDRESS", "fe80::1ff:fe23:4567:890a")]),
    ("::ffff:192.168.1.1", [("IP_ADDRESS", "::ffff:192.168.1.1")]),
    ("at 12:30:45 we met", []),
    ("a::b::c", []),
    ("print(xs[::2])", []),  # slicing, not an address
    ("s[::-1] and b[1::]", []),
    ("foo :: Int", []),
    # URLs
    ("见https://example.com/a?b=1，好", [("URL", "https://example.com/a?b=1")]),
    ("visit http://192.168.0.1:8080/x.", [("URL", "http://192.168.0.1:8080/x")]),
    ("www.example.org/path", [("URL", "www.example.org/path")]),
    ("(see https://example.com/x)", [("URL", "https://example.com/x")]),
    ("www.a.com and www.b.org", [("URL", "www.a.com"), ("URL", "www.b.org")]),
    ("www.www.www.www", [("URL", "www.www.www.www")]),
    ("file://etc", []),
    ("https://nohost", []),
    # passports
    ("护照E12345678，", [("PASSPORT", "E12345678")]),
    ("passport G12345678", [("PASSPORT", "G12345678")]),
    ("新版EA1234567", [("PASSPORT", "EA1234567")]),
    ("AE12345678", []),
    ("E123456789", []),
    ("e12345678", []),
    # vehicle plates
    ("车牌京A12345。", [("LICENSE_PLATE", "京A12345")]),
    ("粤B·12345", [("LICENSE_PLATE", "粤B·12345")]),
    ("新能源粤BD12345", [("LICENSE_PLATE", "粤BD12345")]),
    ("沪AB1234挂", [("LICENSE_PLATE", "沪AB1234挂")]),
    ("京ABCDEF", []),  # at most two letters in a serial
    ("京A123456", []),  # six characters without the new-energy D/F
    ("京I12345", []),  # I and O are never used
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[case[0] for case in CASES])
def test_recognizer_table(text: str, expected: list[tuple[str, str]]) -> None:
    found = [(f.type, text[f.start : f.end]) for f in SCANNER.scan(text)]
    assert found == expected


def test_mixed_chinese_and_english_text_finds_each_entity_once() -> None:
    text = (
        "客户王先生（手机13912345678，邮箱wang@example.com）说 his card 4111 1111 1111 1111 "
        "was charged twice; 身份证11010519491231002X，IP 10.1.2.3。Order 20260306123 is fine."
    )
    found = [(f.type, text[f.start : f.end]) for f in SCANNER.scan(text)]
    assert found == [
        ("PERSON", "王"),
        ("PHONE", "13912345678"),
        ("EMAIL", "wang@example.com"),
        ("BANK_CARD", "4111 1111 1111 1111"),
        ("ID_CARD", "11010519491231002X"),
        ("IP_ADDRESS", "10.1.2.3"),
    ]


def test_values_are_canonical_so_spellings_of_one_number_match() -> None:
    spellings = ["13812345678", "138-1234-5678", "+86 138 1234 5678", "１３８１２３４５６７８"]
    values = {SCANNER.scan(f"tel {s} end")[0].value for s in spellings}
    assert values == {"13812345678"}


def test_only_enabled_types_are_found() -> None:
    scanner = Scanner(["EMAIL"])
    assert [f.type for f in scanner.scan("13812345678 a@example.com 10.0.0.1")] == ["EMAIL"]


def test_dictionary_terms_latin_words_need_word_boundaries() -> None:
    scanner = Scanner(
        [], dictionary=Dictionary.build({"PERSON": ["张三", "Ann", "Ann Lee"], "ORG": ["北极星"]})
    )
    text = "张三和Ann Lee在北极星开会; Anne and Annual are not Ann."
    found = [(f.type, text[f.start : f.end]) for f in scanner.scan(text)]
    assert found == [("PERSON", "张三"), ("PERSON", "Ann Lee"), ("ORG", "北极星"), ("PERSON", "Ann")]


def test_check_digit_and_luhn_against_published_values() -> None:
    assert id_check_char("11010519491231002") == "X"
    assert is_resident_id("11010519491231002X")
    assert not is_resident_id("110105194912310021")
    assert all(luhn_valid(n) for n in ["4111111111111111", "5500000000000004", "378282246310005"])
    assert not luhn_valid("4111111111111112")
