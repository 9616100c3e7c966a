"""Headers: the case-insensitive multi-dict and redaction. No greenlets, no I/O."""

from __future__ import annotations

import pytest

from geventws.protocol.headers import Headers, check_headers, is_token, redact

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


def test_by_name_gathers_every_value_under_its_lower_case_name() -> None:
    headers = Headers.of_strings([("Set-Cookie", "a=1"), ("X-Other", "o"), ("set-COOKIE", "b=2")])
    assert headers.by_name() == {"set-cookie": ["a=1", "b=2"], "x-other": ["o"]}
    assert headers.get_all("set-cookie") == ["a=1", "b=2"]  # the same answer, one name at a time
    assert Headers().by_name() == {}


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


# -- issue 9 #12/#14: user headers are checked, values never quoted ---------------------------------


def test_check_headers_accepts_mappings_pairs_and_none() -> None:
    assert check_headers({"Cookie": "a=1", "X-Tab": "a\tb"}).raw_items() == [
        ("Cookie", "a=1"),
        ("X-Tab", "a\tb"),
    ]
    assert check_headers([("A", "1"), ["a", "2"]]).get_all("a") == ["1", "2"]
    assert check_headers(iter([("A", "é")])).raw_items() == [("A", "é")]
    assert len(check_headers(None)) == 0
    repeated = Headers([("Cookie", "a=1"), ("cookie", "b=2")])
    assert check_headers(repeated).raw_items() == repeated.raw_items()


@pytest.mark.parametrize("bad", ["Cookie: x", b"Cookie: x", 5, ["Cookie: x"], [("A", "1", "2")], [("A",)]])
def test_check_headers_refuses_what_is_not_a_mapping_or_pairs(bad: object) -> None:
    with pytest.raises(TypeError, match="mapping or \\(name, value\\) pairs"):
        check_headers(bad)


def test_a_str_points_to_the_mapping_form() -> None:
    with pytest.raises(TypeError, match="pass \\{'Cookie'"):
        check_headers("Cookie: x")


@pytest.mark.parametrize(
    ("headers", "error", "words"),
    [
        ({"X-A": None}, TypeError, "value of 'X-A' must be a str, not NoneType"),
        ({"X-A": 5}, TypeError, "must be a str, not int"),
        ({"X-A": b"v"}, TypeError, "must be a str, not bytes"),
        ({5: "v"}, TypeError, "header name must be a str"),
        ({"Bad Name": "v"}, ValueError, "not a valid header name"),
        ({"Bad:Name": "v"}, ValueError, "not a valid header name"),
        ({"": "v"}, ValueError, "not a valid header name"),
        ({"X-Evil": "s3cret\r\nInjected: 1"}, ValueError, "CR, LF, NUL"),
        ({"X-Evil": "s3cret\n"}, ValueError, "CR, LF, NUL"),
        ({"X-Evil": "s3cret\x00"}, ValueError, "CR, LF, NUL"),
        ({"X-Evil": "s3cret\x7f"}, ValueError, "control character"),
    ],
)
def test_check_headers_refuses_bad_names_and_values(
    headers: dict[object, object], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=r"^headers: ") as info:
        check_headers(headers)
    assert words in str(info.value)
    assert "s3cret" not in str(info.value)  # a value may be a secret


def test_is_token() -> None:
    assert is_token("chat") and is_token("v2.json") and is_token("X-Api-Key")
    assert not any(is_token(t) for t in ["", "a b", "a,b", "a/b", "é", None, 5])


def test_redact_also_hides_extra_names() -> None:
    items = [("X-Api-Key", "k3y"), ("Cookie", "c"), ("X-Other", "o")]
    assert redact(items, {"x-api-key"}) == [("X-Api-Key", "***"), ("Cookie", "***"), ("X-Other", "o")]
