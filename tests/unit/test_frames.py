"""The frame writer's checks (the parser has tests/unit/test_parser.py). No greenlets, no I/O."""

from __future__ import annotations

import pytest

from geventws.protocol.frames import encode_close

# -- frames: encoding helpers ------------------------------------------------------------------


def test_encode_close_validates() -> None:
    for bad in (999, 1004, 1005, 1006, 1015, 2999, 5000):
        with pytest.raises(ValueError):
            encode_close(bad)
    with pytest.raises(ValueError):
        encode_close(1000, "x" * 124)
    encode_close(1000, "x" * 123)
    encode_close(4999)
