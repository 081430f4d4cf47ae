"""Incoming-message checks shared by the nodes: stale and out-of-order stamps, rate-limited skip logs."""

from __future__ import annotations

import threading
import time

import numpy as np

from equimanip.ros.messages import MessageError, header_seconds
from equimanip.ros.transport import Message, log


class RateLimitedLog:
    """One log line per key per ``every`` seconds, with the number suppressed meanwhile: a flood of
    bad messages must not become a flood of log lines."""

    def __init__(self, every: float = 2.0):
        self.every = every
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def warn(self, key: str, text: str) -> None:
        now = time.monotonic()
        with self._lock:
            last, skipped = self._last.get(key, (-1e9, 0))
            if now - last < self.every:
                self._last[key] = (last, skipped + 1)
                return
            self._last[key] = (now, 0)
        log.warning("%s%s", text, f" ({skipped} more like it since the last report)" if skipped else "")


class MessageChecks:
    """Skip bookkeeping for one node: :meth:`skip` counts and logs, :meth:`fresh` checks stamps.

    Args:
        max_age: a message stamped longer ago than this (seconds) is stale.
    """

    def __init__(self, max_age: float = 0.5):
        self.max_age = max_age
        self.skipped: dict[str, int] = {}  # reason -> messages skipped (tests and logs read it)
        self._last_stamp: dict[str, float] = {}
        self._log = RateLimitedLog()

    def skip(self, topic: str, reason: str, text: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        # one report per kind of problem: the text's start tells an encoding from a size problem
        self._log.warn(f"{topic}:{reason}:{text[:24]}", f"{topic}: message skipped ({reason}): {text}")

    def fresh(self, topic: str, msg: Message) -> float | None:
        """The message's stamp if it is neither stale nor older than the last accepted one, else ``None`` (logged)."""
        try:
            t = header_seconds(msg)
        except MessageError as exc:
            self.skip(topic, "malformed", str(exc))
            return None
        age = time.time() - t
        if age > self.max_age:
            self.skip(topic, "stale", f"stamped {age:.3f} s ago (max {self.max_age} s; clocks synchronised?)")
            return None
        if t < self._last_stamp.get(topic, -np.inf):
            self.skip(topic, "out_of_order", f"stamp {t:.6f} is older than the last accepted {self._last_stamp[topic]:.6f}")
            return None
        self._last_stamp[topic] = t
        return t
