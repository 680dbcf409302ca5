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
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import NamedTuple

from src.features.deid.operators import OperatorRule, hash_value, mask, pseudonym, shaped_like
from src.features.deid.recognizers import Dictionary, Finding, Scanner
from src.models.deid import Operator

_BATCH_SEPARATOR = "\n"
SCAN_BATCH_CHARS = 256 * 1024
_PSEUDONYM_ATTEMPTS = 50
_KEEP, _REDACT, _MASK, _REPLACE, _HASH, _PSEUDONYMIZE = (
    Operator.keep,
    Operator.redact,
    Operator.mask,
    Operator.replace,
    Operator.hash,
    Operator.pseudonymize,
)


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
        # a dictionary type that is also a built-in one (PERSON) adds terms: its recognizer still runs
        scanner = Scanner(all_rules, dictionary=Dictionary.build(dict(dictionary)))
        return cls(
            policy_id=policy_id,
            scanner=scanner,
            rules=all_rules,
            allow=frozenset(allow_list),
            secret=secret,
        )


class Entity(NamedTuple):
    type: str
    start: int
    end: int
    replacement: str


class Deidentified(NamedTuple):
    text: str
    entities: list[Entity]


class MappingEntry(NamedTuple):
    type: str
    original: str


class Deidentifier:
    """Applies a compiled policy; not thread-safe (one per request or job).

    Its memory is kept in dicts of strings by entity type, which the garbage
    collector does not track: a job with millions of distinct values would
    otherwise pay for ever longer collections.
    """

    def __init__(
        self, policy: CompiledPolicy, *, seed: int | None = None, keep_mapping: bool = False
    ) -> None:
        self.policy = policy
        self.keep_mapping = keep_mapping  # the mapping costs memory per distinct value: only when asked
        seed_text = str(seed) if seed is not None else secrets.token_hex(16)
        # pseudonyms derive from the policy's secret too, so knowing the seed alone does not let
        # anyone recompute the pseudonym of a guessed value
        self._pseudonym_key = hmac.new(policy.secret, f"pseudonym:{seed_text}".encode(), "sha256").digest()
        # type -> canonical value -> placeholder, hash or canonical pseudonym
        self._by_value: dict[str, dict[str, str]] = defaultdict(dict)
        # type -> text as written -> replacement: once the first occurrence has fixed placeholders
        # and pseudonyms, every operator's output depends on nothing else
        self._by_surface: dict[str, dict[str, str]] = defaultdict(dict)
        self._fakes: set[str] = set()  # canonical pseudonyms, kept distinct
        self.mapping: dict[str, MappingEntry] = {}
        self.counts: Counter[str] = Counter()

    def deidentify(self, text: str) -> Deidentified:
        return self.deidentify_many([text])[0]

    def deidentify_many(self, texts: list[str]) -> list[Deidentified]:
        """De-identify a batch of texts; each result lists its entities."""
        results = [Deidentified(text, []) for text in texts]
        for index, findings, base in self._found(texts):
            entities: list[Entity] = []
            results[index] = Deidentified(self._apply(texts[index], findings, base, entities), entities)
        return results

    def deidentify_texts(self, texts: list[str]) -> list[str]:
        """Only the de-identified texts: the streaming path of dataset jobs, which need no entity lists."""
        results = list(texts)
        for index, findings, base in self._found(texts):
            results[index] = self._apply(texts[index], findings, base, None)
        return results

    def _found(self, texts: list[str]) -> Iterator[tuple[int, list[Finding], int]]:
        """(index, findings, offset in its batch) for each text that holds something.

        Texts are scanned in batches of about `SCAN_BATCH_CHARS`: few enough scans to
        amortise their fixed cost, small enough that the findings of one batch stay cheap to
        hold (a 20 MB scan at once is a third slower). Texts without findings cost nothing more.
        """
        first = 0
        while first < len(texts):
            last, size = first, 0
            while last < len(texts) and (size < SCAN_BATCH_CHARS or last == first):
                size += len(texts[last]) + 1
                last += 1
            batch = texts[first:last]
            findings = self.policy.scanner.scan(_BATCH_SEPARATOR.join(batch))
            if findings:
                # ends[i]: where text i's separator ends; no recognizer crosses a separator
                ends = list(accumulate(len(text) + len(_BATCH_SEPARATOR) for text in batch))
                current, group = -1, []
                for finding in findings:
                    index = bisect_right(ends, finding.start)
                    if index != current:
                        if group:
                            yield first + current, group, ends[current] - len(batch[current]) - 1
                        current, group = index, []
                    group.append(finding)
                yield first + current, group, ends[current] - len(batch[current]) - 1
            first = last

    def _apply(self, text: str, findings: list[Finding], base: int, entities: list[Entity] | None) -> str:
        pieces: list[str] = []
        position = 0
        allow = self.policy.allow
        by_surface = self._by_surface
        counts = self.counts
        for entity_type, found_start, found_end, value in findings:
            start, end = found_start - base, found_end - base
            surface = text[start:end]
            if allow and (surface in allow or value in allow):
                continue
            known = by_surface[entity_type]
            replacement = known.get(surface)
            if replacement is None:
                replacement = known[surface] = self._replacement(entity_type, value, surface)
            pieces.append(text[position:start])
            pieces.append(replacement)
            position = end
            if entities is not None:
                entities.append(Entity(entity_type, start, end, replacement))
            counts[entity_type] += 1
        pieces.append(text[position:])
        return "".join(pieces)

    def _replacement(self, entity_type: str, value: str, surface: str) -> str:
        rule = self.policy.rules[entity_type]
        operator = rule.operator
        if operator is _KEEP:
            return surface
        if operator is _REDACT:
            return ""
        if operator is _MASK:
            return mask(surface, entity_type, rule)
        by_value = self._by_value[entity_type]
        token = by_value.get(value)
        if token is None:
            if operator is _REPLACE:
                token = f"<{entity_type}_{len(by_value) + 1}>"
            elif operator is _HASH:
                token = hash_value(self.policy.secret, entity_type, value)
            else:
                token = self._pseudonym(entity_type, value)
            by_value[value] = token
        replacement = shaped_like(entity_type, token, surface) if operator is _PSEUDONYMIZE else token
        if self.keep_mapping and replacement not in self.mapping:
            self.mapping[replacement] = MappingEntry(entity_type, surface)
        return replacement

    def _pseudonym(self, entity_type: str, value: str) -> str:
        """The canonical fake for a value: repeatable under one seed, never the value itself."""
        digest = hmac.new(self._pseudonym_key, f"{entity_type}\x00{value}".encode(), hashlib.sha256).digest()
        rng = random.Random(digest)
        fake = value
        for _ in range(_PSEUDONYM_ATTEMPTS):
            fake = pseudonym(rng, entity_type, value)
            if fake != value and fake not in self._fakes:
                break
        else:
            # a small space of fakes (names) is used up: number them, so two values never share one
            base, number = fake, 2
            while fake == value or fake in self._fakes:
                fake, number = f"{base}{number}", number + 1
        self._fakes.add(fake)
        return fake
