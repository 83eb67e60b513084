"""Structured logs without health data: pseudonyms and event names, never message text."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import structlog


def where_it_failed(
    logger: object, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """An exception as its type and the line it came from, nothing more: its message and a
    traceback's local variables can hold a patient's words."""
    exc_info = event.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and exc_info[0] is not None:
        kind, _, trace = exc_info
        frames = traceback.extract_tb(trace)
        place = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        event["error"] = f"{kind.__name__}{place}"
    return event


def configure_logging(level: int = logging.INFO) -> None:
    """Key-value lines on stderr; library loggers that could print tokens are quietened."""
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s %(name)s %(message)s")
    # httpx logs request URLs, and Telegram's carry the bot token.
    for noisy in ("httpx", "httpcore", "telegram", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            where_it_failed,
            structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"]),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
