"""The last few messages of each patient, which the risk model reads with a new one."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RecentMessages:
    """A patient's latest messages, in memory only, and only while they are recent: enough
    to read "i've made my mind up" after "i can't keep doing this", and nothing to keep."""

    def __init__(
        self, size: int, max_age_seconds: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = size
        self.max_age = max_age_seconds
        self.now = now
        self._messages: dict[str, deque[tuple[float, str]]] = {}

    def earlier(self, pseudonym: str) -> list[str]:
        """The patient's recent messages, oldest first."""
        kept = self._messages.get(pseudonym)
        if not kept:
            return []
        cutoff = self.now() - self.max_age
        while kept and kept[0][0] < cutoff:
            kept.popleft()
        return [text for _, text in kept]

    def add(self, pseudonym: str, text: str) -> None:
        if self.size:
            kept = self._messages.setdefault(pseudonym, deque(maxlen=self.size))
            kept.append((self.now(), text))

    def forget(self, pseudonym: str) -> None:
        self._messages.pop(pseudonym, None)
