"""Issue 14: close() and ping() check their argument types with clear errors."""

from __future__ import annotations

import pytest

import geventws
from tests.conftest import ServerProcess


def test_close_and_ping_refuse_wrong_types(ws_server: ServerProcess) -> None:
    with geventws.connect(ws_server.url("/"), ping_interval=None) as ws:
        with pytest.raises(TypeError):
            ws.close(1000.0)  # type: ignore[arg-type]  # was struct.error
        with pytest.raises(TypeError):
            ws.close(1000, None)  # type: ignore[arg-type]  # was AttributeError
        with pytest.raises(TypeError):
            ws.ping(5)  # type: ignore[arg-type]  # sent five NUL bytes
        with pytest.raises(ValueError):
            ws.ping(b"x" * 126)
        assert ws.state is geventws.State.OPEN  # refused before anything changed
        assert ws.ping("é").wait(3)  # str goes out as UTF-8
        assert ws.ping(memoryview(b"mv")).wait(3)
        ws.send("still usable")
        assert ws.recv(timeout=3) == "still usable"
    assert ws.close_code == 1000
