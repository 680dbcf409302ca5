"""The engine: one policy applied to many texts, remembering what it replaced.

A `Deidentifier` lives for one request or one dataset job, so the same value
gets the same replacement everywhere within it. Texts are scanned in batches:
joined with newlines (which no recognizer crosses) so the per-call cost of the
scans is paid once per batch rather than once per short string.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from src.features.deid.operators import OperatorRule, hash_value, mask, pseudonym, shaped_like
from src.features.deid.recognizers import Dictionary, Finding, Scanner
from src.models.deid import Operator

_BATCH_SEPARATOR = "\n"
_PSEUDONYM_ATTEMPTS = 50


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy ready to run: its scanner, the rule for each type, the allow-list and its secret."""

    policy_id: str
    scanner: Scanner
    rules: Mapping[str, OperatorRule]
    allow: frozenset[str]
    secret: bytes

    @classmethod
    def build(
        cls,
        *,
        policy_id: str,
        rules: Mapping[str, OperatorRule],
        allow_list: Iterable[str],
        dictionary: Mapping[str, list[str]],
        secret: bytes,
    ) -> CompiledPolicy:
        all_rules = dict(rules)
        for entity_type in dictionary:
            all_rules.setdefault(entity_type, OperatorRule(Operator.replace))
        scanner = Scanner(
            (t for t in all_rules if t not in dictionary), dictionary=Dictionary.build(dict(dictionary))
        )
        return cls(
            policy_id=policy_id,
            scanner=scanner,
            rules=all_rules,
            allow=frozenset(allow_list),
            secret=secret,
        )


@dataclass(frozen=True, slots=True)
class Entity:
    type: str
    start: int
    end: int
    replacement: str


@dataclass(frozen=True, slots=True)
class Deidentified:
    text: str
    entities: list[Entity]


@dataclass(frozen=True, slots=True)
class MappingEntry:
    type: str
    original: str


class Deidentifier:
    """Applies a compiled policy; not thread-safe (one per request or job)."""

    def __init__(self, policy: CompiledPolicy, *, seed: int | None = None) -> None:
        self.policy = policy
        seed_text = str(seed) if seed is not None else secrets.token_hex(16)
        # pseudonyms derive from the policy's secret too, so knowing the seed alone does not let
        # anyone recompute the pseudonym of a guessed value
        self._pseudonym_key = hmac.new(policy.secret, f"pseudonym:{seed_text}".encode(), "sha256").digest()
        self._replacements: dict[tuple[str, str], str] = {}
        self._fakes: set[str] = set()  # canonical pseudonyms, kept distinct
        self._placeholders: Counter[str] = Counter()
        self.mapping: dict[str, MappingEntry] = {}
        self.counts: Counter[str] = Counter()

    def deidentify(self, text: str) -> Deidentified:
        return self.deidentify_many([text])[0]

    def deidentify_many(self, texts: list[str]) -> list[Deidentified]:
        """De-identify a batch of texts with one scan."""
        if not texts:
            return []
        joined = _BATCH_SEPARATOR.join(texts)
        findings = self.policy.scanner.scan(joined)
        results: list[Deidentified] = []
        cursor = 0
        base = 0
        for text in texts:
            end = base + len(text)
            mine: list[Finding] = []
            while cursor < len(findings) and findings[cursor].start < end:
                finding = findings[cursor]
                if finding.end <= end:  # never false: no recognizer crosses the separator
                    mine.append(finding)
                cursor += 1
            results.append(self._apply(text, mine, base))
            base = end + len(_BATCH_SEPARATOR)
        return results

    def _apply(self, text: str, findings: list[Finding], base: int) -> Deidentified:
        if not findings:
            return Deidentified(text, [])
        pieces: list[str] = []
        entities: list[Entity] = []
        position = 0
        allow = self.policy.allow
        for finding in findings:
            start, end = finding.start - base, finding.end - base
            surface = text[start:end]
            if surface in allow or finding.value in allow:
                continue
            replacement = self._replacement(finding, surface)
            pieces.append(text[position:start])
            pieces.append(replacement)
            position = end
            entities.append(Entity(finding.type, start, end, replacement))
            self.counts[finding.type] += 1
        pieces.append(text[position:])
        return Deidentified("".join(pieces), entities)

    def _replacement(self, finding: Finding, surface: str) -> str:
        rule = self.policy.rules[finding.type]
        operator = rule.operator
        if operator is Operator.keep:
            return surface
        if operator is Operator.redact:
            return ""
        if operator is Operator.mask:
            return mask(surface, finding.type, rule)
        key = (finding.type, finding.value)
        if operator is Operator.pseudonymize:
            fake = self._replacements.get(key)
            if fake is None:
                fake = self._replacements[key] = self._pseudonym(finding)
            replacement = shaped_like(finding.type, fake, surface)
        else:
            replacement = self._replacements.get(key) or self._token(finding, operator)
        if replacement not in self.mapping:
            self.mapping[replacement] = MappingEntry(finding.type, surface)
        return replacement

    def _token(self, finding: Finding, operator: Operator) -> str:
        if operator is Operator.replace:
            self._placeholders[finding.type] += 1
            token = f"<{finding.type}_{self._placeholders[finding.type]}>"
        else:
            token = hash_value(self.policy.secret, finding.type, finding.value)
        self._replacements[(finding.type, finding.value)] = token
        return token

    def _pseudonym(self, finding: Finding) -> str:
        """The canonical fake for a value: repeatable under one seed, never the value itself."""
        digest = hmac.new(
            self._pseudonym_key, f"{finding.type}\x00{finding.value}".encode(), hashlib.sha256
        ).digest()
        rng = random.Random(digest)
        fake = finding.value
        for _ in range(_PSEUDONYM_ATTEMPTS):
            fake = pseudonym(rng, finding.type, finding.value)
            if fake != finding.value and fake not in self._fakes:
                break
        self._fakes.add(fake)
        return fake
