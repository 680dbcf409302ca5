"""Server-Sent Events from the run log stream."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


class SseParser:
    """Feed lines; yields (event, data) per event."""

    def __init__(self) -> None:
        self.event = "message"
        self.data: list[str] = []
        self.last_id: str | None = None

    def feed(self, lines: Iterable[str]) -> Iterable[tuple[str, Any]]:
        for line in lines:
            if line == "":
                if self.data:
                    yield self.event, json.loads("\n".join(self.data))
                self.event, self.data = "message", []
            elif line.startswith("event:"):
                self.event = line[6:].strip()
            elif line.startswith("data:"):
                self.data.append(line[5:].strip())
            elif line.startswith("id:"):
                self.last_id = line[3:].strip()
