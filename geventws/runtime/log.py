"""The per-connection logger: every message is prefixed with the connection's URL."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

__all__ = ["ConnectionLog"]


class ConnectionLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every message with the connection's URL (without credentials)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        # The prefix becomes part of the format string: a "%" in the URL must not.
        prefix = str(self.extra["url"] if self.extra else "").replace("%", "%%")
        return f"[{prefix}] {msg}", kwargs
