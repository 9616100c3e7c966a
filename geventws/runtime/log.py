"""The per-connection logger: every message is prefixed with the connection's
id and URL (without credentials), which log records also carry as the
attributes ``geventws_id`` and ``geventws_url`` (for formats and filters)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

__all__ = ["ConnectionLog"]


class ConnectionLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every message with ``[id url]`` and adds both to the record.

    The id and URL are plain attributes, not an ``extra`` dictionary: one
    logger of these lives on each of thousands of connections.
    """

    def __init__(self, logger: logging.Logger, url: str, conn_id: str = "") -> None:
        super().__init__(logger)
        #: The connection's URL, without credentials (the current attempt's).
        self.url = url
        #: The connection's id (``Connection.id``).
        self.conn_id = conn_id

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        url = self.url
        conn_id = self.conn_id
        kwargs["extra"] = {"geventws_id": conn_id, "geventws_url": url, **(kwargs.get("extra") or {})}
        # The prefix becomes part of the format string: a "%" in the URL must not.
        prefix = f"{conn_id} {url}" if conn_id else url
        return f"[{prefix.replace('%', '%%')}] {msg}", kwargs
