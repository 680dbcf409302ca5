"""Benchmark: de-identification throughput against Presidio and a combined-regex floor.

All three read the same generated corpus (mixed Chinese/English chat messages
with PII, bench/deid_corpus.py), find the same entity types and replace what
they find:

- this service's engine: the default policy over the list of messages, as a
  dataset job streams string values (`Deidentifier.deidentify_texts`: anchor
  scans, validators, typed placeholders);
- Presidio (presidio-analyzer + presidio-anonymizer) with the same types as
  custom pattern recognizers using the floor's patterns, and no NLP model (none
  can be downloaded here): spaCy's blank English pipeline as its tokenizer;
  `analyze` + `anonymize` per message, as it is used on records;
- the floor: one combined `re` pattern, one `sub` pass over the whole corpus
  joined into a single string (the floor's best case).

Presidio reads a prefix of the corpus (it is too slow for all of it). Figures are
MB/s of UTF-8 input, best of --rounds rounds run alternately.

PERSON and ADDRESS (Chinese names and addresses) are measured on their own: the
engine with and without them, and against the naive way, jieba's part-of-speech
tagger over every message (`nr`, `ns`), on a prefix.

    pip install -r requirements-bench.txt
    .venv/bin/python -m bench.deid [--mb 20] [--presidio-mb 1] [--jieba-mb 0.5] [--rounds 3] [--pii-rate 0.18]
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable

from bench.deid_corpus import corpus
from src.features.deid import service as deid_service
from src.features.deid.engine import CompiledPolicy, Deidentifier
from src.models.deid import BUILTIN_TYPES

# One pattern per entity type, written as one would for a single regex pass (lookarounds for
# boundaries, no validation). The floor joins them; Presidio gets each as a recognizer.
PATTERNS = {
    "URL": r"(?:https?|ftp)://[^\s，。]+|www\.[^\s，。]+",
    "EMAIL": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "ID_CARD": r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])|(?<![0-9])[0-9]{15}(?![0-9])",
    "BANK_CARD": r"(?<![0-9])[2-6][0-9]{12,18}(?![0-9])",
    "PHONE": r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9][- ]?[0-9]{4}[- ]?[0-9]{4}(?![0-9])",
    "LANDLINE": r"(?<![0-9])0[0-9]{2,3}-?[2-9][0-9]{6,7}(?![0-9])",
    "IP_ADDRESS": r"(?<![0-9])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9])"
    r"|(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}",
    "PASSPORT": r"(?<![A-Za-z0-9])[EGDSPHM][0-9]{8}(?![0-9])",
    "LICENSE_PLATE": "[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]"
    r"[A-HJ-NP-Z][A-HJ-NP-Z0-9]{5,6}",
}
COMBINED = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in PATTERNS.items()))


def floor(messages: list[str]) -> None:
    replace = lambda match: f"<{match.lastgroup}>"  # noqa: E731
    COMBINED.sub(replace, "\n".join(messages))


# found with a surname/suffix anchor and a jieba confirmation on a small window (issue 19)
WORD_TYPES = ("PERSON", "ADDRESS")
# Presidio's issue #1461: 7 MB in 7-10 minutes with its spaCy NER model (cannot be downloaded here)
PRESIDIO_NER_MBPS = 7 / (8.5 * 60)


def default_policy(*, word_types: bool = True) -> CompiledPolicy:
    entities = {
        name: rule
        for name, rule in deid_service.DEFAULT_ENTITIES.items()
        if word_types or name not in WORD_TYPES
    }
    snapshot = {
        "entities": entities,
        "allow_list": [],
        "dictionary": {},
        "secret": "00" * 32,
    }
    return deid_service.compile_snapshot("default", snapshot)


def engine(messages: list[str]) -> None:
    Deidentifier(default_policy(), seed=1).deidentify_texts(messages)


def engine_without_words(messages: list[str]) -> None:
    """The engine as it was before PERSON and ADDRESS: the same policy without them."""
    Deidentifier(default_policy(word_types=False), seed=1).deidentify_texts(messages)


def naive_jieba(messages: list[str]) -> None:
    """The naive way to find names and places: jieba's tagger over every character, `nr`/`ns` replaced."""
    import jieba.posseg

    for message in messages:
        "".join(
            f"<{'PERSON' if pair.flag == 'nr' else 'ADDRESS'}>" if pair.flag in ("nr", "ns") else pair.word
            for pair in jieba.posseg.lcut(message)
        )


def presidio_runner() -> Callable[[list[str]], None]:
    import spacy
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_anonymizer import AnonymizerEngine

    class TokenizerOnly(SpacyNlpEngine):
        """spaCy's blank pipeline: tokens, no model to download."""

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}

    nlp = TokenizerOnly(models=[{"lang_code": "en", "model_name": "blank"}])
    nlp.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    for name, pattern in PATTERNS.items():
        registry.add_recognizer(
            PatternRecognizer(supported_entity=name, patterns=[Pattern(name, pattern, 0.6)])
        )
    analyzer = AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])
    anonymizer = AnonymizerEngine()

    def run(messages: list[str]) -> None:
        for message in messages:
            found = analyzer.analyze(message, language="en", entities=list(PATTERNS))
            anonymizer.anonymize(text=message, analyzer_results=found)

    return run


def best_mbps(run: Callable[[list[str]], None], texts: list[str], megabytes: float, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run(texts)
        best = min(best, time.perf_counter() - started)
    return megabytes / best


def words(messages: list[str], size: float, floor_mbps: float, args: argparse.Namespace) -> None:
    """PERSON and ADDRESS: the engine with them on and off, and jieba's tagger over a prefix."""
    prefix = messages[: len(corpus(int(args.jieba_mb * 1e6), pii_rate=args.pii_rate))]
    prefix_size = sum(len(m.encode()) + 1 for m in prefix) / 1e6
    naive_jieba(prefix[:10])  # jieba loads its dictionary on first use: not part of the figure
    on_runs, off_runs, naive_runs, on_prefix_runs = [], [], [], []
    for _ in range(args.rounds):
        on_runs.append(best_mbps(engine, messages, size, 1))
        off_runs.append(best_mbps(engine_without_words, messages, size, 1))
        naive_runs.append(best_mbps(naive_jieba, prefix, prefix_size, 1))
        on_prefix_runs.append(best_mbps(engine, prefix, prefix_size, 1))
    on, off, naive, on_prefix = max(on_runs), max(off_runs), max(naive_runs), max(on_prefix_runs)
    print(f"engine without PERSON/ADDRESS: {off:8.2f} MB/s")
    print(f"with on / with off:     {on / off:8.2f}x  (goal >= 0.25)")
    print(f"without / floor:        {off / floor_mbps:8.2f}x  (the floor finds no names or addresses)")
    print(f"jieba.posseg ({prefix_size:.1f} MB): {naive:8.2f} MB/s")
    print(f"engine, same messages:  {on_prefix:8.2f} MB/s")
    print(f"engine / jieba.posseg:  {on_prefix / naive:8.2f}x  (goal >= 10)")
    cited = f"its #1461 figure, {PRESIDIO_NER_MBPS:.3f} MB/s"
    print(f"engine / Presidio NER:  {on / PRESIDIO_NER_MBPS:8.0f}x  ({cited})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=20.0, help="corpus size for the engine and the floor")
    parser.add_argument("--presidio-mb", type=float, default=1.0, help="corpus prefix Presidio reads")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jieba-mb", type=float, default=0.5, help="corpus prefix jieba's tagger reads")
    parser.add_argument("--pii-rate", type=float, default=0.18, help="share of sentences that carry PII")
    args = parser.parse_args()

    messages = corpus(int(args.mb * 1e6), pii_rate=args.pii_rate)
    size = sum(len(m.encode()) + 1 for m in messages) / 1e6
    prefix = messages[: len(corpus(int(args.presidio_mb * 1e6), pii_rate=args.pii_rate))]
    prefix_size = sum(len(m.encode()) + 1 for m in prefix) / 1e6
    counter = Deidentifier(default_policy())
    counter.deidentify_texts(messages)
    found = sum(counter.counts.values())
    print(f"corpus: {size:.1f} MB, {len(messages)} messages, {found / size:.0f} entities per MB")
    print(f"entity types: {', '.join(BUILTIN_TYPES)}")

    engine_runs, floor_runs = [], []
    for _ in range(args.rounds):  # alternate, so a noisy neighbour slows both alike
        engine_runs.append(best_mbps(engine, messages, size, 1))
        floor_runs.append(best_mbps(floor, messages, size, 1))
    engine_mbps, floor_mbps = max(engine_runs), max(floor_runs)
    print(f"engine (this service):  {engine_mbps:8.2f} MB/s")
    print(f"combined-re floor:      {floor_mbps:8.2f} MB/s")
    print(f"engine / floor:         {engine_mbps / floor_mbps:8.2f}x  (goal >= 3)")
    words(messages, size, floor_mbps, args)
    try:
        presidio = presidio_runner()
    except ImportError:
        print("Presidio: not installed (pip install -r requirements-bench.txt)")
        return
    presidio_runs, engine_prefix_runs = [], []
    for _ in range(args.rounds):
        presidio_runs.append(best_mbps(presidio, prefix, prefix_size, 1))
        engine_prefix_runs.append(best_mbps(engine, prefix, prefix_size, 1))
    presidio_mbps, engine_prefix = max(presidio_runs), max(engine_prefix_runs)
    print(f"Presidio ({prefix_size:.1f} MB):     {presidio_mbps:8.2f} MB/s")
    print(f"engine, same messages:  {engine_prefix:8.2f} MB/s")
    print(f"engine / Presidio:      {engine_prefix / presidio_mbps:8.2f}x  (goal >= 50)")


if __name__ == "__main__":
    main()
