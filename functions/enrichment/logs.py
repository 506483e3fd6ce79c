"""Structured JSON log lines as Cloud Logging reads them from stdout (`severity`, `message`, fields)."""

import json
import logging
import sys


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={"fields": {...}}` adds fields next to the message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"severity": record.levelname, "message": record.getMessage(), "logger": record.name}
        entry.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def get_logger(name: str = "enrichment", level: str = "INFO") -> logging.Logger:
    """A logger that writes JSON lines to stdout (configured once), from `level` up."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)
    return logger
