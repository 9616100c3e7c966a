"""permessage-deflate negotiation: the header grammar, our offer, the strict check
of the server's answer, and agreement with python-websockets' server factory
(an independent implementation). No greenlets, no I/O."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import NegotiationError as TheirNegotiationError
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.headers import build_extension as their_build_extension
from websockets.headers import parse_extension as their_parse_extension
from websockets.server import ServerProtocol

from geventws.exceptions import HandshakeError, NegotiationError
from geventws.protocol.extensions import DeflateOffer, DeflateParams, PerMessageDeflate
from geventws.protocol.extensions.header import build_extension, parse_extensions
from geventws.protocol.handshake import accept_upgrade, build_request, new_key, parse_response
from geventws.protocol.headers import Headers
from geventws.protocol.parser import FrameParser
from geventws.protocol.uri import parse_uri
from geventws.protocol.writer import OP_TEXT, message_chunks

# -- the header grammar ----------------------------------------------------------------------------


def test_parse_extensions_reads_every_value_in_order() -> None:
    values = ['a; x=1; y, b ;z="2"', ", , c", "d;e"]
    assert parse_extensions(values) == [
        ("a", [("x", "1"), ("y", None)]),
        ("b", [("z", "2")]),
        ("c", []),
        ("d", [("e", None)]),
    ]


@pytest.mark.parametrize(
    "value",
    ["a;", "a; =1", "a b", 'a; x="1 2"', 'a; x="1', "a; x=", "a;; x", "a, ;x", "a; x=1=2", "a; x=é"],
)
def test_parse_extensions_refuses_malformed_values(value: str) -> None:
    with pytest.raises(ValueError):
        parse_extensions([value])


def test_build_extension() -> None:
    assert build_extension("a", [("x", None), ("y", "3")]) == "a; x; y=3"
    assert build_extension("a", []) == "a"


_TOKEN = st.text("abcxyz019_-!#", min_size=1, max_size=8)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(_TOKEN, st.lists(st.tuples(_TOKEN, st.none() | _TOKEN), max_size=4)), max_size=4))
def test_build_then_parse_round_trips(extensions: list[tuple[str, list[tuple[str, str | None]]]]) -> None:
    values = [build_extension(name, params) for name, params in extensions]
    assert parse_extensions([", ".join(values)] if values else []) == extensions


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(st.text(alphabet=st.sampled_from(list('ab=;," \t\\x1-é')), max_size=30))
def test_parse_extensions_parses_or_raises_value_error(value: str) -> None:
    with contextlib.suppress(ValueError):
        parse_extensions([value])


# -- our offer -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offer", "header"),
    [
        (DeflateOffer(), "permessage-deflate; client_max_window_bits"),
        (DeflateOffer(client_max_window_bits=None), "permessage-deflate"),
        (DeflateOffer(client_max_window_bits=False), "permessage-deflate"),
        (
            DeflateOffer(12, 10, client_no_context_takeover=True, server_no_context_takeover=True),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=12",
        ),
    ],
)
def test_offer_header_value(offer: DeflateOffer, header: str) -> None:
    assert offer.header_value() == header


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"client_max_window_bits": 8}, ValueError),  # zlib cannot compress with a 256-byte window
        ({"client_max_window_bits": 16}, ValueError),
        ({"client_max_window_bits": "10"}, TypeError),
        ({"server_max_window_bits": 7}, ValueError),
        ({"server_max_window_bits": 16}, ValueError),
        ({"server_max_window_bits": True}, TypeError),
        ({"client_no_context_takeover": 1}, TypeError),
        ({"server_no_context_takeover": None}, TypeError),
    ],
)
def test_offer_refuses_bad_values(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        DeflateOffer(**kwargs)  # type: ignore[arg-type]


# -- the server's answer ---------------------------------------------------------------------------


def test_no_answer_means_no_compression() -> None:
    assert DeflateOffer().accept_response([]) is None


@pytest.mark.parametrize(
    ("offer", "answer", "agreed"),
    [
        (DeflateOffer(), "permessage-deflate", DeflateParams()),
        (DeflateOffer(client_max_window_bits=None), "permessage-deflate", DeflateParams()),
        (
            DeflateOffer(client_max_window_bits=11),
            "permessage-deflate",
            DeflateParams(client_max_window_bits=11),
        ),
        (
            DeflateOffer(),
            "permessage-deflate; client_max_window_bits=9",
            DeflateParams(client_max_window_bits=9),
        ),
        # A server may ask for 8 when we offered no value: we then send uncompressed.
        (
            DeflateOffer(),
            "permessage-deflate; client_max_window_bits=8",
            DeflateParams(client_max_window_bits=8),
        ),
        (
            DeflateOffer(client_max_window_bits=12),
            "permessage-deflate; client_max_window_bits=12",
            DeflateParams(client_max_window_bits=12),
        ),
        (
            DeflateOffer(server_max_window_bits=10),
            'permessage-deflate; server_max_window_bits="10"',
            DeflateParams(server_max_window_bits=10),
        ),
        (
            DeflateOffer(server_max_window_bits=10),
            "permessage-deflate;server_max_window_bits = 8",
            DeflateParams(server_max_window_bits=8),
        ),
        # The server may limit its own window and context unasked, and ask us to drop ours.
        (
            DeflateOffer(),
            "permessage-deflate; server_max_window_bits=9; server_no_context_takeover",
            DeflateParams(server_no_context_takeover=True, server_max_window_bits=9),
        ),
        (
            DeflateOffer(),
            "permessage-deflate; client_no_context_takeover",
            DeflateParams(client_no_context_takeover=True),
        ),
        # Offering client_no_context_takeover binds us, echoed or not.
        (
            DeflateOffer(client_no_context_takeover=True),
            "permessage-deflate",
            DeflateParams(client_no_context_takeover=True),
        ),
        (
            DeflateOffer(server_no_context_takeover=True),
            ", permessage-deflate; server_no_context_takeover ,",
            DeflateParams(server_no_context_takeover=True),
        ),
    ],
)
def test_good_answers_are_agreed_exactly(offer: DeflateOffer, answer: str, agreed: DeflateParams) -> None:
    assert offer.accept_response([answer]) == agreed


@pytest.mark.parametrize(
    ("offer", "answers", "message"),
    [
        (DeflateOffer(), ["x-webkit-deflate-frame"], "did not offer"),
        (DeflateOffer(), ["permessage-deflate, x-custom"], "did not offer"),
        (DeflateOffer(), ["permessage-deflate, permessage-deflate"], "more than once"),
        (DeflateOffer(), ["permessage-deflate", "permessage-deflate"], "more than once"),
        (DeflateOffer(), ["permessage-deflate; mem_level=8"], "unknown"),
        (
            DeflateOffer(),
            ["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
            "repeated",
        ),
        (
            DeflateOffer(),
            ["permessage-deflate; server_max_window_bits=9; server_max_window_bits=9"],
            "repeated",
        ),
        (DeflateOffer(), ["permessage-deflate; server_no_context_takeover=1"], "no value"),
        (DeflateOffer(), ["permessage-deflate; client_no_context_takeover=true"], "no value"),
        (DeflateOffer(), ["permessage-deflate; server_max_window_bits"], "without a value"),
        (DeflateOffer(), ["permessage-deflate; client_max_window_bits"], "without a value"),
        (DeflateOffer(), ["permessage-deflate; server_max_window_bits=16"], "8..15"),
        (DeflateOffer(), ["permessage-deflate; server_max_window_bits=7"], "8..15"),
        (DeflateOffer(), ["permessage-deflate; server_max_window_bits=010"], "8..15"),
        (DeflateOffer(), ["permessage-deflate; client_max_window_bits=+9"], "8..15"),
        (DeflateOffer(), ['permessage-deflate; client_max_window_bits="x"'], "8..15"),
        (
            DeflateOffer(client_max_window_bits=None),
            ["permessage-deflate; client_max_window_bits=15"],
            "did not offer",
        ),
        (
            DeflateOffer(client_max_window_bits=10),
            ["permessage-deflate; client_max_window_bits=11"],
            "exceeds",
        ),
        (
            DeflateOffer(server_max_window_bits=10),
            ["permessage-deflate; server_max_window_bits=11"],
            "exceeds",
        ),
        (DeflateOffer(server_max_window_bits=10), ["permessage-deflate"], "ignored server_max_window_bits"),
        (
            DeflateOffer(server_no_context_takeover=True),
            ["permessage-deflate"],
            "ignored server_no_context_takeover",
        ),
        (DeflateOffer(), ["permessage-deflate;"], "invalid Sec-WebSocket-Extensions"),
        (
            DeflateOffer(),
            ["permessage-deflate; server_max_window_bits=1 0"],
            "invalid Sec-WebSocket-Extensions",
        ),
    ],
)
def test_bad_answers_fail_the_handshake(offer: DeflateOffer, answers: list[str], message: str) -> None:
    with pytest.raises(NegotiationError, match=message) as info:
        offer.accept_response(answers)
    assert isinstance(info.value, HandshakeError)
    assert info.value.status == 101


# -- against python-websockets' server factory -----------------------------------------------------

OFFERS = [
    DeflateOffer(client_bits, server_bits, client_no, server_no)
    for client_bits, server_bits, client_no, server_no in itertools.product(
        [None, True, 9, 12, 15], [None, 8, 10, 15], [False, True], [False, True]
    )
]
SERVERS = [
    {
        "server_max_window_bits": server_bits,
        "client_max_window_bits": client_bits,
        "client_no_context_takeover": client_no,
        "server_no_context_takeover": server_no,
    }
    for server_bits, client_bits, client_no, server_no in itertools.product(
        [None, 9, 12, 15], [None, 8, 11, 15], [False, True], [False, True]
    )
]


@pytest.mark.parametrize("offer", OFFERS, ids=repr)
def test_websockets_server_answers_are_accepted_as_they_mean(offer: DeflateOffer) -> None:
    [(name, params)] = their_parse_extension(offer.header_value())
    accepted = 0
    for server in SERVERS:
        try:
            answer, theirs = ServerPerMessageDeflateFactory(**server).process_request_params(params, [])  # type: ignore[arg-type]
        except (TheirNegotiationError, ValueError):
            # They decline this offer (websockets 17: server_max_window_bits=8), or fail
            # building zlib with it (websockets 16: a ValueError): not our case.
            continue
        agreed = offer.accept_response([their_build_extension([(name, answer)])])
        assert agreed == DeflateParams(
            server_no_context_takeover=theirs.local_no_context_takeover,
            client_no_context_takeover=theirs.remote_no_context_takeover,
            server_max_window_bits=theirs.local_max_window_bits,
            client_max_window_bits=theirs.remote_max_window_bits,
        ), (server, answer)
        accepted += 1
    # Any offer but server_max_window_bits=8 meets a server that takes it (websockets 17
    # declines 8, since zlib cannot compress with it; 16 accepts it: both are checked above).
    if offer.server_max_window_bits != 8:
        assert accepted


# -- a whole exchange with python-websockets' sans-I/O server --------------------------------------


@pytest.mark.parametrize(
    ("offer", "factory"),
    [
        (DeflateOffer(), {}),
        (DeflateOffer(client_max_window_bits=10, server_max_window_bits=9), {}),
        (DeflateOffer(server_no_context_takeover=True), {"client_max_window_bits": 9}),
        (DeflateOffer(client_no_context_takeover=True), {"server_max_window_bits": 11}),
    ],
)
def test_handshake_and_messages_with_websockets_server_protocol(
    offer: DeflateOffer, factory: dict[str, object]
) -> None:
    server = ServerProtocol(extensions=[ServerPerMessageDeflateFactory(**factory)], max_size=None)  # type: ignore[arg-type]
    key = new_key()
    server.receive_data(
        build_request(parse_uri("ws://127.0.0.1:1/"), key, Headers(), extensions=offer.header_value())
    )
    [request] = server.events_received()
    server.send_response(server.accept(request))
    head = server.data_to_send()[0].partition(b"\r\n\r\n")[0]
    params = accept_upgrade(parse_response(head + b"\r\n\r\n"), key, (), offer).deflate
    assert params is not None
    deflate = PerMessageDeflate(params, max_message_size=None)
    parser = FrameParser(None, deflate)  # as the session wires them
    messages = ['{"op":"subscribe","channel":"trades"}' * n for n in (1, 3, 1, 200)]
    for message in messages:
        frame = b"".join(message_chunks(OP_TEXT, message.encode(), deflate))
        assert frame[0] == 0xC1  # FIN, RSV1, text
        server.receive_data(frame)
        [event] = server.events_received()
        assert event.data == message.encode()
        server.send_text(message.encode())
        assert parser.feed(b"".join(server.data_to_send())) == [message]
