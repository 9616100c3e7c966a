"""Property test: no part of the URL's credentials ever shows, however malformed
the URL (issue 9 #5). No greenlets, no I/O.

Credentials are built so that every 3-character piece holds a marker letter
that no template, host or error message contains: then any 3-character piece
of them found in a message, a repr, a chained exception or a redacted URL is
a leak, never a coincidence.
"""

from __future__ import annotations

import urllib.parse

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from geventws.exceptions import InvalidURL
from geventws.protocol.options import make_options
from geventws.protocol.uri import parse_uri, redact_url

# Not W ("WebSocket" is in messages) nor X (a shape's host holds "X-Injected"):
# a piece such as " We" would then be a coincidence, not a leak.
MARKERS = "QJZKV€"
# Everything a careless password holds: URL delimiters, %, spaces, controls, non-ASCII.
ANY = "abcdefghijklmnopqrstuvwxyz0123456789!$&'()*+,;=:@/?#%[]-._~ \t\r\n\x00\\\"<>é"

SHAPES = [
    "ws://{u}:{p}@127.0.0.1:99999/",
    "ws://{u}:{p}@host/",
    "wss://{u}:{p}@host:port/",
    "ws://{u}:{p}@host:0/",
    "ws://{u}:{p}@host:/",
    "ws://{u}:{p}@[::1/",
    "ws://{u}:{p}@[zz::1]/",
    "ws://{u}:{p}@[fe80::1%25eth0]/",
    "ws://{u}:{p}@::1/",
    "wss://{u}:{p}@/nohost",
    "ws://{u}:{p}@host/#frag",
    "ws://{u}:{p}@host/path#a@b",
    "http://{u}:{p}@host/",
    "ftp://{u}:{p}@host/",
    "ws:{u}:{p}@host/",
    "ws:/{u}:{p}@host/",
    "{u}:{p}@host/",
    "  ws://{u}:{p}@host:65536?x=1  ",
    "ws://{u}:{p}@bad host/",
    "ws://{u}:{p}@xn--.bücher..example/",
    "ws://{u}:{p}@h\r\nX-Injected: 1/",
    "ws://{u}:{p}@host:99999/path@with@ats",
    "ws://{u}@{p}@host:99999/",
    "ws://{u}:{p}@@host:99999/",
]


def marked(min_pairs: int) -> st.SearchStrategy[str]:
    """Text where every other character is a marker: every 3-character piece has one."""
    pair = st.tuples(st.sampled_from(MARKERS), st.sampled_from(ANY)).map("".join)
    return st.lists(pair, min_size=min_pairs, max_size=12).map("".join)


def pieces(secret: str) -> set[str]:
    return {secret[i : i + 3] for i in range(len(secret) - 2)}


def shown_texts(url: str, user: str, password: str) -> list[str]:
    """Everything geventws may show about ``url``: messages, reprs, causes, redacted forms."""
    try:
        uri = parse_uri(url)
    except InvalidURL as exc:
        texts = [exc.url]
        seen: BaseException | None = exc
        while seen is not None:
            texts += [str(seen), repr(seen), *map(str, seen.args)]
            seen = seen.__cause__ or seen.__context__
        return texts
    # A valid URL means what RFC 3986 says: "ws://us/er:pw@h/" is host "us" and path
    # "/er:pw@h/" (like "wss://host:9443/ws/btcusdt@trade"), there are no credentials.
    assume((uri.user, uri.password) == (urllib.parse.unquote(user), urllib.parse.unquote(password)))
    return [str(uri), repr(uri), uri.host_header, redact_url(url), repr(make_options(url))]


@settings(max_examples=400, deadline=None)
@given(shape=st.sampled_from(SHAPES), user=marked(2), password=marked(2), quote=st.booleans())
@example(shape=SHAPES[0], user="QJX", password="p@ssW0rd", quote=False)
@example(shape=SHAPES[1].replace(":{p}@", ":{p}"), user="QJX", password="pa/ssW0rd@", quote=False)
def test_no_piece_of_the_credentials_is_ever_shown(shape: str, user: str, password: str, quote: bool) -> None:
    secrets = pieces(user) | pieces(password)
    if quote:
        user, password = urllib.parse.quote(user, safe=""), urllib.parse.quote(password, safe="")
        # "%2F" alone could be the host's; a piece with a marker can only be the secret's.
        secrets |= {piece for piece in pieces(user) | pieces(password) if set(piece) & set(MARKERS)}
    url = shape.format(u=user, p=password)
    for text in shown_texts(url, user, password):
        leaked = sorted(piece for piece in secrets if piece in text)
        assert not leaked, (url, text, leaked)


@settings(max_examples=200, deadline=None)
@given(user=marked(1), password=marked(1))
def test_redact_url_keeps_everything_but_the_userinfo_of_a_valid_url(user: str, password: str) -> None:
    url = "wss://{}:{}@stream.example:9443/ws/btcusdt@trade?x=1".format(
        *(urllib.parse.quote(part, safe="") for part in (user, password))
    )
    assert redact_url(url) == "wss://***@stream.example:9443/ws/btcusdt@trade?x=1"
    uri = parse_uri(url)
    assert (uri.user, uri.password) == (user, password)
