"""Headers: the case-insensitive multi-dict and redaction. No greenlets, no I/O."""

from __future__ import annotations

import pytest

from geventws.protocol.headers import Headers, redact

# -- headers -----------------------------------------------------------------------------------


def test_headers_case_insensitive() -> None:
    headers = Headers({"Content-Type": "text/plain"})
    assert headers["content-type"] == "text/plain"
    assert headers["CONTENT-TYPE"] == "text/plain"
    assert "content-TYPE" in headers
    assert "Other" not in headers
    assert 1 not in headers
    assert headers.get("missing") is None
    with pytest.raises(KeyError):
        headers["missing"]


def test_headers_repeated_names() -> None:
    headers = Headers([("Set-Cookie", "a=1"), ("X-Other", "o"), ("set-cookie", "b=2")])
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert headers["Set-Cookie"] == "a=1, b=2"
    assert len(headers) == 2
    assert list(headers) == ["Set-Cookie", "X-Other"]
    assert headers.raw_items() == [("Set-Cookie", "a=1"), ("X-Other", "o"), ("set-cookie", "b=2")]


def test_headers_set_and_delete_replace_every_value() -> None:
    headers = Headers([("A", "1"), ("a", "2"), ("B", "3")])
    headers["A"] = "9"
    assert headers.get_all("a") == ["9"]
    del headers["b"]
    assert "B" not in headers
    assert headers.raw_items() == [("A", "9")]


def test_redact_hides_secrets() -> None:
    items = [
        ("Cookie", "PHPSID=secret"),
        ("authorization", "Basic c2VjcmV0"),
        ("Proxy-Authorization", "Bearer x"),
        ("X-Visible", "shown"),
    ]
    assert redact(items) == [
        ("Cookie", "***"),
        ("authorization", "***"),
        ("Proxy-Authorization", "***"),
        ("X-Visible", "shown"),
    ]


def test_headers_repr_is_redacted() -> None:
    text = repr(Headers({"Cookie": "PHPSID=topsecret", "Authorization": "Bearer tok3n", "X": "visible"}))
    assert "topsecret" not in text
    assert "tok3n" not in text
    assert "visible" in text
