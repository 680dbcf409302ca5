"""Recognizers: find PII by scanning for cheap anchors first, then validating each candidate.

Every scan pattern starts with a plain character class or literal, so Python's
regex engine skips the text between anchors in C instead of trying a match at
every position (which is what one big alternation does). Candidates are then
validated in Python: check digits, birth dates, Luhn, address parsers.

Offsets are in characters of the original text; full-width digits count as
digits and keep their width in the text.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from src.models.deid import BUILTIN_TYPES

# the names every recognizer reports, as the API spells them
PHONE, LANDLINE, ID_CARD, BANK_CARD, EMAIL, IP_ADDRESS, URL, PASSPORT, LICENSE_PLATE, PERSON, ADDRESS = (
    BUILTIN_TYPES
)

# When two findings overlap, the longer wins; on equal length the earlier type in this order.
_PRIORITY = {name: rank for rank, name in enumerate((URL, EMAIL, *BUILTIN_TYPES))}

FULLWIDTH_TO_ASCII = str.maketrans("０１２３４５６７８９＋－（）Ｘｘ", "0123456789+-()Xx")

# The anchor for phones, landlines, IDs and cards: 10 or more digits in a row, or groups of
# digits where every group after the first has at least 3 ("+86 138 1234 5678",
# "1381234-5678", "0755-82345678", "6222 0212 3456 7890"). Dates, times and prices never
# reach Python.
_NUMBER_RUN = re.compile(
    r"[0-9０-９](?:[0-9０-９]{9,}[XxＸｘ]?|[0-9０-９]{1,6}(?:[ \-－.][0-9０-９]{3,13})+)"
)
_IPV4_TAIL = re.compile(r"\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
_PASSPORT_CANDIDATE = re.compile(r"[EGDSPHMK][A-Z]?[0-9]{7,8}")
_SEPARATOR = re.compile(r"[ \-－.]")
# two literal-prefixed patterns: a literal is found much faster than a character class
_PAREN_LANDLINES = tuple(
    re.compile(re.escape(opening) + r"([0０][0-9０-９]{2,3})[)）] ?([0-9０-９]{7,8})") for opening in "(（"
)
_AT_SIGN = re.compile("@")
_CJK = re.compile("[\u4e00-\u9fff]")
_SCHEME = re.compile("://")
_WWW = re.compile(r"www\.")
_DOUBLE_COLON_OR_GROUP = re.compile(r":[0-9A-Fa-f]{0,4}:")
_PLATE = re.compile(
    "[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]"
    r"[A-HJ-NP-Z][·• ]?[A-HJ-NP-Z0-9]{5,6}[挂学警港澳]?"
)
_EMAIL_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")
# a URL ends at whitespace, quotes or brackets, or at CJK text (Chinese rarely spaces around a link)
_URL_BODY = re.compile(r"[^\s<>\"'{}|\\^`\u3000-\u303f\u3400-\u9fff\uff00-\uffef]{1,4096}")
_URL_SCHEMES = ("http", "https", "ftp", "ftps", "ws", "wss")
_URL_TRAILING = ".,;:!?)]}'\"*"

_ASCII_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_EMAIL_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
_PLUS = frozenset("+＋")

# GB 11643: province codes of the first two digits, weights and check characters.
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "  # noqa: SIM905 (reads as a table)
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83 91".split()
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_MOBILE_GROUPINGS = frozenset({(11,), (3, 4, 4), (3, 8), (7, 4)})
_SERVICE_PREFIXES = frozenset({"400", "800"})  # national numbers, written 400-xxx-xxxx
_MAX_GROUPS = 8
_MIN_DIGITS = 10  # a landline with its area code; phones, IDs and cards are longer
_MAX_DIGITS = 19  # the longest card number


class Finding(NamedTuple):
    """One entity: its type, its span in the text, and a canonical value used to spot repeats."""

    type: str
    start: int
    end: int
    value: str


# ---- validators -------------------------------------------------------------


def id_check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits of a resident ID."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def _plausible_birth_date(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def _id_shaped(digits: str) -> bool:
    """Province code and birth date look like an ID's, whatever the check digit says."""
    if digits[:2] not in _PROVINCES:
        return False
    if len(digits) == 18:
        return _plausible_birth_date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
    return _plausible_birth_date(1900 + int(digits[6:8]), int(digits[8:10]), int(digits[10:12]))


def is_resident_id(value: str) -> bool:
    """An 18-digit ID with a valid check character, or a 15-digit legacy ID with a plausible date."""
    value = value.upper()
    if len(value) == 18 and value[:17].isdigit() and (value[17].isdigit() or value[17] == "X"):
        return _id_shaped(value) and id_check_char(value[:17]) == value[17]
    return len(value) == 15 and value.isdigit() and _id_shaped(value)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def is_bank_card(digits: str) -> bool:
    """13–19 digits of a card network's range (2–6) that pass the Luhn check."""
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)


def is_mobile(digits: str) -> bool:
    return len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789"


def split_landline(digits: str) -> tuple[str, str] | None:
    """(area code, subscriber number) of a mainland landline written without separators."""
    if not digits.startswith("0") or not 10 <= len(digits) <= 12:
        return None
    area_length = 3 if digits[1] in "12" else 4
    area, subscriber = digits[:area_length], digits[area_length:]
    if _valid_landline(area, subscriber):
        return area, subscriber
    return None


def _valid_landline(area: str, subscriber: str) -> bool:
    if not (area.startswith("0") and len(area) in (3, 4)):
        return False
    if len(area) == 3 and not (area == "010" or area.startswith("02")):
        return False
    if len(area) == 4 and area[1] in "012":
        return False
    return len(subscriber) in (7, 8) and subscriber[0] in "23456789"


def is_ipv4(groups: list[str]) -> bool:
    return len(groups) == 4 and all(
        1 <= len(g) <= 3 and int(g) <= 255 and (g == "0" or g[0] != "0") for g in groups
    )


# ---- the scanner ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dictionary:
    """Terms supplied by a policy, found with one trie-shaped pattern."""

    pattern: re.Pattern[str]
    types: dict[str, str]  # term -> entity type

    @classmethod
    def build(cls, terms_by_type: dict[str, list[str]]) -> Dictionary | None:
        types: dict[str, str] = {}
        for entity_type, terms in terms_by_type.items():
            for term in terms:
                if term and term not in types:
                    types[term] = entity_type
        if not types:
            return None
        return cls(pattern=re.compile(_trie_pattern(sorted(types))), types=types)


def _trie_pattern(terms: list[str]) -> str:
    """A regex that matches any of `terms`, longest first, shaped as a trie so it branches per character."""
    trie: dict[str, dict] = {}
    for term in terms:
        node = trie
        for char in term:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict[str, dict]) -> str:
        ends_here = "" in node
        branches = [re.escape(char) + render(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends_here:
            return "(?:" + body + ")?"
        return body

    return render(trie)


class Scanner:
    """Finds the entities of the enabled types in a text; reusable and thread-safe."""

    def __init__(self, types: Iterable[str], *, dictionary: Dictionary | None = None) -> None:
        self.types = frozenset(types)
        self.dictionary = dictionary
        self._numbers = bool(self.types & {PHONE, LANDLINE, ID_CARD, BANK_CARD})
        self._chinese: list[Callable[[str], list[Finding]]] = []
        if self.types & {PERSON, ADDRESS}:
            # imported here: jieba loads its dictionary (about a second), and only these types need it
            from src.features.deid import zh_entities

            if PERSON in self.types:
                self._chinese.append(zh_entities.find_persons)
            if ADDRESS in self.types:
                self._chinese.append(zh_entities.find_addresses)

    def scan(self, text: str) -> list[Finding]:
        """Non-overlapping findings in text order."""
        found: list[Finding] = []
        types = self.types
        if self._numbers:
            self._scan_numbers(text, found)
        if IP_ADDRESS in types:
            self._scan_ipv4(text, found)
        if PASSPORT in types:
            self._scan_passports(text, found)
        if LANDLINE in types:
            self._scan_parenthesised_landlines(text, found)
        if EMAIL in types and "@" in text:
            self._scan_emails(text, found)
        if URL in types and ("://" in text or "www." in text):
            self._scan_urls(text, found)
        if IP_ADDRESS in types and ":" in text:
            self._scan_ipv6(text, found)
        if LICENSE_PLATE in types:
            self._scan_plates(text, found)
        if self._chinese and _CJK.search(text):
            for find in self._chinese:
                found.extend(find(text))
        if self.dictionary is not None:
            self._scan_dictionary(text, found)
        return _without_overlaps(found)

    # -- numbers: phones, landlines, IDs, cards, passports, IPv4

    def _scan_numbers(self, text: str, found: list[Finding]) -> None:
        size = len(text)
        for match in _NUMBER_RUN.finditer(text):
            start, end = match.span()
            before = text[start - 1] if start else ""
            if before in _ASCII_WORD or (end < size and text[end] in _ASCII_WORD):
                continue  # part of a longer identifier ("SO13812345678", "13812345678abc")
            token = match.group()
            if token.isascii() and token.isdigit():  # the common case: plain digits, no separators
                if end - start <= _MAX_DIGITS:
                    finding = self._contiguous(start, end, token, before)
                    if finding is not None:
                        found.append(finding)
                continue
            self._classify_run(start, token, before, found)

    def _scan_ipv4(self, text: str, found: list[Finding]) -> None:
        # anchored on ".d.d.d" (a dot is rarer than a digit); the first octet is read backwards
        for match in _IPV4_TAIL.finditer(text):
            start = match.start()
            while start > 0 and match.start() - start < 3 and "0" <= text[start - 1] <= "9":
                start -= 1
            end = match.end()
            if start == match.start() or (
                start and (text[start - 1] in _ASCII_WORD or text[start - 1] == ".")
            ):
                continue
            if end < len(text) and (
                text[end] in _ASCII_WORD or (text[end] == "." and text[end + 1 : end + 2].isdigit())
            ):
                continue  # 1.2.3.4.5 is a version, not an address
            address = text[start:end]
            if is_ipv4(address.split(".")):
                found.append(Finding(IP_ADDRESS, start, end, address))

    def _scan_passports(self, text: str, found: list[Finding]) -> None:
        for match in _PASSPORT_CANDIDATE.finditer(text):
            start, end = match.span()
            if (start and text[start - 1] in _ASCII_WORD) or (end < len(text) and text[end] in _ASCII_WORD):
                continue
            value = match.group()
            if len(value) == 9 and (value[1].isdigit() or value[0] == "E"):
                found.append(Finding(PASSPORT, start, end, value))

    def _classify_run(self, start: int, token: str, before: str, found: list[Finding]) -> None:
        plain = token if token.isascii() else token.translate(FULLWIDTH_TO_ASCII)
        if "." in plain:
            # no number spans a dot (addresses are found separately): each piece stands alone
            offset = 0
            for piece in plain.split("."):
                if len(piece) >= _MIN_DIGITS:
                    self._classify_run(start + offset, piece, "." if offset else before, found)
                offset += len(piece) + 1
            return
        separator_count = plain.count(" ") + plain.count("-")
        if not separator_count:
            self._classify_digits(start, start + len(plain), plain, before, found)
            return
        if len(plain) - separator_count < _MIN_DIGITS:
            return  # too few digits for anything
        groups, separators, offsets = [], [], []
        position = 0
        for sep in _SEPARATOR.finditer(plain):
            groups.append(plain[position : sep.start()])
            offsets.append(position)
            separators.append(sep.group())
            position = sep.end()
        groups.append(plain[position:])
        offsets.append(position)
        if len(groups) > _MAX_GROUPS:
            return
        self._windows(start, plain, groups, separators, offsets, before, found)

    def _windows(
        self,
        start: int,
        plain: str,
        groups: list[str],
        separators: list[str],
        offsets: list[int],
        before: str,
        found: list[Finding],
    ) -> None:
        """Try the whole run, then ever shorter runs of whole groups."""
        count = len(groups)
        taken = [False] * count
        for length in range(count, 0, -1):
            for first in range(count - length + 1):
                last = first + length - 1
                size = offsets[last] + len(groups[last]) - offsets[first] - (last - first)
                if not _MIN_DIGITS <= size <= _MAX_DIGITS + 3:
                    continue  # too short or too long to be anything (+3: a "+86 " prefix)
                if any(taken[first : last + 1]):
                    continue
                window_start = start + offsets[first]
                window_end = start + offsets[last] + len(groups[last])
                lead = before if first == 0 else plain[offsets[first] - 1]
                # one kind of separator per number; a country code may stand apart (+86 139-2876-5402), and
                # so may an area code (021-5888 6666)
                if len(set(separators[first:last])) > 1 and not (
                    ((groups[first] == "86" and lead in _PLUS) or groups[first][:1] == "0")
                    and len(set(separators[first + 1 : last])) == 1
                ):
                    continue
                if first == last:
                    finding = self._contiguous(window_start, window_end, groups[first], lead)
                else:
                    finding = self._grouped(window_start, window_end, groups[first : last + 1], lead)
                if finding is not None:
                    found.append(finding)
                    for index in range(first, last + 1):
                        taken[index] = True

    def _classify_digits(self, start: int, end: int, plain: str, before: str, found: list[Finding]) -> None:
        if _MIN_DIGITS <= len(plain) <= _MAX_DIGITS:
            finding = self._contiguous(start, end, plain, before)
            if finding is not None:
                found.append(finding)

    def _contiguous(self, start: int, end: int, digits: str, before: str) -> Finding | None:
        """A number written without separators (the common case, kept on a short path)."""
        types = self.types
        length = len(digits)
        if digits[-1] in "Xx":
            if length == 18 and ID_CARD in types and is_resident_id(digits):
                return Finding(ID_CARD, start, end, digits.upper())
            return None
        first = digits[0]
        if first == "1" and length == 11:
            if PHONE in types and is_mobile(digits) and before not in _PLUS:
                return Finding(PHONE, start, end, digits)
            return None
        if length == 13 and digits.startswith("861") and is_mobile(digits[2:]):
            if PHONE in types:
                return Finding(PHONE, start - (before in _PLUS), end, digits[2:])
            return None
        if first == "0" and LANDLINE in types:
            parts = split_landline(digits)
            if parts is not None:
                return Finding(LANDLINE, start, end, digits)
        if (length == 18 or length == 15) and _id_shaped(digits):
            # shaped like an ID: an ID when the check digit agrees, nothing otherwise
            if ID_CARD in types and is_resident_id(digits):
                return Finding(ID_CARD, start, end, digits)
            return None
        if BANK_CARD in types and is_bank_card(digits):
            return Finding(BANK_CARD, start, end, digits)
        return None

    def _grouped(self, start: int, end: int, groups: list[str], before: str) -> Finding | None:
        """A number written in groups with one kind of separator ("138 1234 5678")."""
        types = self.types
        digits = "".join(groups)
        lengths = tuple(len(g) for g in groups)
        if PHONE in types:
            if lengths in _MOBILE_GROUPINGS and is_mobile(digits):
                return None if before in _PLUS else Finding(PHONE, start, end, digits)
            if groups[0] == "86" and lengths[1:] in _MOBILE_GROUPINGS and is_mobile(digits[2:]):
                return Finding(PHONE, start - (before in _PLUS), end, digits[2:])
        if LANDLINE in types and lengths == (3, 3, 4) and groups[0] in _SERVICE_PREFIXES:
            return Finding(LANDLINE, start, end, digits)  # 400-820-8820: a company's national number
        if LANDLINE in types and digits[0] == "0":
            area = groups[0]
            if len(groups) == 2 and _valid_landline(area, groups[1]):
                return Finding(LANDLINE, start, end, digits)
            if len(groups) == 3 and len(groups[1]) >= 3 and _valid_landline(area, groups[1] + groups[2]):
                return Finding(LANDLINE, start, end, digits)
        card_grouping = all(n == 4 for n in lengths[:-1]) or lengths in ((4, 6, 5), (6, 13))
        if BANK_CARD in types and card_grouping and is_bank_card(digits):
            return Finding(BANK_CARD, start, end, digits)
        return None

    def _scan_parenthesised_landlines(self, text: str, found: list[Finding]) -> None:
        for pattern in _PAREN_LANDLINES:
            for match in pattern.finditer(text):
                start, end = match.span()
                if end < len(text) and (text[end].isdigit() or text[end] in _ASCII_WORD):
                    continue
                area, subscriber = (g.translate(FULLWIDTH_TO_ASCII) for g in match.groups())
                if _valid_landline(area, subscriber):
                    found.append(Finding(LANDLINE, start, end, area + subscriber))

    # -- emails, URLs, IPv6, plates, dictionary terms

    def _scan_emails(self, text: str, found: list[Finding]) -> None:
        for match in _AT_SIGN.finditer(text):
            at = match.start()
            local_start = at
            while local_start > 0 and text[local_start - 1] in _EMAIL_LOCAL and at - local_start < 64:
                local_start -= 1
            local = text[local_start:at]
            while local and local[0] in ".-+%":
                local_start += 1
                local = local[1:]
            if not local or local.endswith(".") or ".." in local:
                continue
            domain = _EMAIL_DOMAIN.match(text, at + 1)
            if domain is None:
                continue
            end = domain.end()
            if end < len(text) and (text[end] in _ASCII_WORD or text[end] == "-"):
                continue
            found.append(Finding(EMAIL, local_start, end, text[local_start:end].lower()))

    def _scan_urls(self, text: str, found: list[Finding]) -> None:
        starts: list[int] = []
        for match in _SCHEME.finditer(text):
            scheme_start = match.start()
            while scheme_start > 0 and text[scheme_start - 1] in _ASCII_LETTERS:
                scheme_start -= 1
            if text[scheme_start : match.start()].lower() in _URL_SCHEMES:
                starts.append(scheme_start)
        for match in _WWW.finditer(text):
            start = match.start()
            if start == 0 or (text[start - 1] not in _ASCII_WORD and text[start - 1] != "/"):
                starts.append(start)
        covered = -1
        for start in sorted(starts):
            if start < covered:
                continue  # inside the body of an earlier candidate: "www.www.www…" is read once
            body = _URL_BODY.match(text, start)
            if body is None:
                continue
            covered = body.end()
            url = body.group().rstrip(_URL_TRAILING)
            host = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
            host = host.rsplit("@", 1)[-1]
            if not _plausible_host(host):
                continue
            found.append(Finding(URL, start, start + len(url), url))

    def _scan_ipv6(self, text: str, found: list[Finding]) -> None:
        covered = -1
        for match in _DOUBLE_COLON_OR_GROUP.finditer(text):
            if match.start() < covered:
                continue
            start, end = match.start(), match.end()
            while start > 0 and text[start - 1] in _IPV6_CHARS:
                start -= 1
            while end < len(text) and text[end] in _IPV6_CHARS:
                end += 1
            covered = end
            candidate = text[start:end].rstrip(".")
            if (start > 0 and text[start - 1] in _ASCII_WORD) or (
                end < len(text) and text[end] in _ASCII_WORD
            ):
                continue
            groups = [group for group in candidate.split(":") if group]
            if len(groups) < 2 or not any(c.isdigit() for c in candidate):
                continue  # "::", "1::", "xs[::2]", "a::b": slicing and scope syntax, not addresses
            try:
                address = ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            found.append(Finding(IP_ADDRESS, start, start + len(candidate), address.compressed))

    def _scan_plates(self, text: str, found: list[Finding]) -> None:
        for match in _PLATE.finditer(text):
            start, end = match.span()
            if end < len(text) and text[end] in _ASCII_WORD:
                continue
            plate = match.group()
            body = plate[2:].lstrip("·• ")
            serial = body.rstrip("挂学警港澳")
            if sum(c.isdigit() for c in serial) < len(serial) - 2:
                continue  # real serials carry at most two letters
            if len(serial) == 6 and not (serial[0] in "DF" or serial[-1] in "DF"):
                continue  # six-character serials are new-energy plates, marked D or F
            if len(serial) == 6 and body != serial:
                continue
            found.append(Finding(LICENSE_PLATE, start, end, plate[:2] + body))

    def _scan_dictionary(self, text: str, found: list[Finding]) -> None:
        assert self.dictionary is not None
        types = self.dictionary.types
        for match in self.dictionary.pattern.finditer(text):
            start, end = match.span()
            if start == end:
                continue
            term = match.group()
            if term[0] in _ASCII_WORD and start > 0 and text[start - 1] in _ASCII_WORD:
                continue
            if term[-1] in _ASCII_WORD and end < len(text) and text[end] in _ASCII_WORD:
                continue
            found.append(Finding(types[term], start, end, term))


def _plausible_host(host: str) -> bool:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:].partition("]")[0])
        except ValueError:
            return False
        return True
    host = host.partition(":")[0]
    if host == "localhost":
        return True
    labels = host.split(".")
    return len(labels) >= 2 and all(labels) and labels[-1].isalnum() and len(host) <= 253


def _without_overlaps(found: list[Finding]) -> list[Finding]:
    if len(found) < 2:
        return found
    found.sort(key=lambda f: (f.start, f.start - f.end, _PRIORITY.get(f.type, len(_PRIORITY))))
    kept: list[Finding] = []
    last_end = -1
    for finding in found:
        if finding.start >= last_end:
            kept.append(finding)
            last_end = finding.end
        elif finding.end - finding.start > kept[-1].end - kept[-1].start and finding.start >= kept[-1].start:
            # a longer entity starting inside the previous one (a URL around an email) replaces it
            kept[-1] = finding
            last_end = finding.end
    return kept
