"""The per-connection logger: every message is prefixed with the connection's
id and URL (without credentials), which log records also carry as the
attributes ``geventws_id`` and ``geventws_url`` (for formats and filters)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

__all__ = ["ConnectionLog"]


class ConnectionLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every message with ``[id url]`` and adds both to the record."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        context = self.extra or {}
        url = str(context.get("url", ""))
        conn_id = str(context.get("id", ""))
        kwargs["extra"] = {"geventws_id": conn_id, "geventws_url": url, **(kwargs.get("extra") or {})}
        # The prefix becomes part of the format string: a "%" in the URL must not.
        prefix = f"{conn_id} {url}" if conn_id else url
        return f"[{prefix.replace('%', '%%')}] {msg}", kwargs
