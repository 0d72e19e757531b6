"""One JSON object per log line, for every node (node, level, event, and call/transaction fields)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

FIELDS = ("call_id", "transaction", "method", "status", "src", "dst", "session_id", "command", "impi", "impu",
          "session_case", "result")


class JsonFormatter(logging.Formatter):
    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": round(record.created, 6), "node": self.node,
                                 "level": record.levelname.lower(), "logger": record.name,
                                 "event": record.getMessage()}
        for key in FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup(node: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(node))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
