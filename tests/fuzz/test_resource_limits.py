"""Hostile load on the real gateway: huge, endless and trickling bodies, idle connections, huge batches."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.wire import pb
from tests.reliability.gateway_process import PROTOBUF, GatewayProcess

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]

MAX_BODY = 16 * 1024 * 1024
BODY_TIMEOUT_S = 3
RSS_GROWTH_LIMIT_KIB = 200 * 1024  # per test: a 16 MiB body is held at most a few times over


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(tmp_path_factory.mktemp("limits") / "data",
                        env={"TRACEGATE_BODY_READ_TIMEOUT_S": str(BODY_TIMEOUT_S),
                             "TRACEGATE_RATE_REMOTE_PER_S": "1e9",
                             "TRACEGATE_RATE_REMOTE_BURST": "1000000000"})
    gw.start()
    yield gw
    gw.stop()


def _headers(length: int | None, chunked: bool = False) -> bytes:
    lines = ["POST /v1/batches HTTP/1.1", "Host: gateway", f"Content-Type: {PROTOBUF}"]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status_and_error(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, json.loads(body)["error"] if body.startswith(b"{") else ""


def _read_answer(sock: socket.socket, timeout_s: float) -> bytes:
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        part = sock.recv(65536)
        if not part:
            break
        data += part
    return data


def _healthy_fast(gateway: GatewayProcess) -> float:
    began = time.monotonic()
    status, _, _ = gateway.request("GET", "/healthz", timeout=5)
    assert status == 200
    return time.monotonic() - began


def test_a_declared_huge_body_is_refused_before_it_is_sent(gateway: GatewayProcess) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        began = time.monotonic()
        sock.sendall(_headers(10 * 1024**3))
        assert _status_and_error(_read_answer(sock, 5)) == (413, "body_too_large")
        assert time.monotonic() - began < 2


def test_an_endless_chunked_body_stops_at_the_limit(gateway: GatewayProcess) -> None:
    rss_before = gateway.rss_kib()
    chunk = b"%x\r\n" % 65536 + b"\x0a" * 65536 + b"\r\n"
    sent = 0
    answer = b""
    answered_at: float | None = None
    sent_at_answer = 0
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(_headers(None, chunked=True))
        sock.settimeout(5)
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:  # endless, unless the gateway hangs up
                sock.sendall(chunk)
                sent += 65536
                if answered_at is None and select.select([sock], [], [], 0)[0]:
                    answer = sock.recv(65536)
                    answered_at, sent_at_answer = time.monotonic(), sent
        except OSError:  # reset or broken pipe: the gateway closed the connection
            pass
        closed_at = time.monotonic()
    assert _status_and_error(answer) == (413, "body_too_large")
    # Answered soon after the limit (socket buffers hold a few MiB more), then cut off after aiohttp's
    # lingering time (10 s of reading and discarding, so the client can read the answer).
    assert sent_at_answer < MAX_BODY + 8 * 1024 * 1024
    assert answered_at is not None and closed_at - answered_at < 15
    assert gateway.rss_kib() - rss_before < RSS_GROWTH_LIMIT_KIB
    _healthy_fast(gateway)


def test_a_trickling_sender_is_cut_off_and_does_not_block_others(gateway: GatewayProcess) -> None:
    slow = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", gateway.port))
        sock.sendall(_headers(1000))
        sock.sendall(b"\x0a")
        slow.append(sock)
    try:
        assert _healthy_fast(gateway) < 1.0  # others are served while the senders trickle
        began = time.monotonic()
        for i in range(int(BODY_TIMEOUT_S * 4)):
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.sendall(b"\x00")
            time.sleep(0.5)
            if i > 2 * BODY_TIMEOUT_S + 2:
                break
        answers = [_status_and_error(_read_answer(sock, BODY_TIMEOUT_S + 5)) for sock in slow]
        assert set(answers) == {(408, "request_timeout")}
        assert time.monotonic() - began < 4 * BODY_TIMEOUT_S + 10
    finally:
        for sock in slow:
            sock.close()


def test_many_idle_connections_cost_little_and_block_nobody(gateway: GatewayProcess) -> None:
    rss_before = gateway.rss_kib()
    idle = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(500)]
    try:
        time.sleep(0.5)
        assert _healthy_fast(gateway) < 1.0
        assert gateway.rss_kib() - rss_before < 50 * 1024
    finally:
        for sock in idle:
            sock.close()


def test_ten_thousand_tiny_envelopes_are_answered_in_bounded_time(gateway: GatewayProcess) -> None:
    rss_before = gateway.rss_kib()
    tiny = [pb.Envelope(device_id=f"nobody-{i % 7}", seq=i + 1) for i in range(10_000)]
    began = time.monotonic()
    status, _, body = gateway.post_batch(tiny)
    assert status == 200 and time.monotonic() - began < 15
    acks = pb.IngestAck.FromString(body).acks
    assert len(acks) == 10_000 and {a.status for a in acks} == {pb.REJECTED}
    status, _, body = gateway.post_batch([*tiny, tiny[0]])
    assert (status, json.loads(body)["error"]) == (413, "too_many_envelopes")
    assert gateway.rss_kib() - rss_before < RSS_GROWTH_LIMIT_KIB


def test_millions_of_repeated_fields_and_deep_nesting_are_refused_quickly(gateway: GatewayProcess) -> None:
    # 8 million one-byte unknown fields (tag 15, varint 0) in one 16 MiB body, then 10 000 nested messages.
    for body in (b"\x78\x00" * (MAX_BODY // 2 - 8), b"\x0a\x80\x01" * 10_000):
        began = time.monotonic()
        status, _, answer = gateway.request("POST", "/v1/batches", body, PROTOBUF)
        assert status in (200, 400, 413), answer[:200]
        assert time.monotonic() - began < 15
    _healthy_fast(gateway)
    assert gateway.sql("SELECT count() FROM tracegate.events") == [[0]]


def test_limits_are_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "reliability.md").read_text()
    for limit in ("16 MiB", "10 000 envelopes", "body_read_timeout_s", "keepalive_timeout_s"):
        assert limit in doc
