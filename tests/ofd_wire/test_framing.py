"""OFD framing and payload decoding, proved on the three published frames and on broken ones."""

from __future__ import annotations

import copy

import pytest
from google.protobuf import json_format

from gateway.ofd.framing import (
    APPCODE,
    HEADER_SIZE,
    Command,
    FrameError,
    FrameErrorReason,
    FrameHeader,
    ResultCode,
    as_text,
    decode_request,
    decode_response,
    encode_frame,
    next_reqnum,
    parse_header,
    peek_command,
    peek_result_code,
    split_frame,
)
from gateway.ofd.handler import result_answer
from gateway.wire import ofd_pb2
from tests.ofd_wire.published import as_published, expected, frame, spec

INFO_202 = "ext_fsl_info_response_202"
TICKET_203 = "ext_sk_ticket_response_203"
INFO_REQUEST_203 = "derived_info_request_203"


def _header_as_published(header: FrameHeader) -> dict[str, object]:
    return {"appcode": f"0x{APPCODE:04X}", "version": header.version, "size": header.size,
            "id": header.device_id, "token": header.token, "reqnum": header.reqnum}


def test_command_and_result_constants_are_the_protos() -> None:
    assert {f"COMMAND_{c.name}": c.value for c in Command} == dict(ofd_pb2.CommandType.items())
    assert {f"RESULT_TYPE_{r.name}": r.value for r in ResultCode} == dict(ofd_pb2.ResultType.items())


def test_captured_202_info_answer_decodes_and_its_tenant_id_is_an_unknown_field() -> None:
    raw = frame(INFO_202)
    header, payload = split_frame(raw)
    published = expected(INFO_202)
    assert _header_as_published(header) == published["header"]
    decoded = decode_response(payload)
    assert decoded.complete and decoded.command == Command.INFO
    # 2.0.2 put an int32 tenantId into OrgRegInfo field 6, which 2.0.3 made the string address_kz: the
    # varint is kept as an unknown field (not an error, not an address).
    want = copy.deepcopy(published["response"])
    tenant_id = want["service"]["reg_info"]["org"].pop("tenantId")
    want["service"]["reg_info"]["org"]["_unknown"] = [{"field": 6, "wire": 0, "hex": f"30{tenant_id:02x}"}]
    assert as_published(decoded.message) == want
    org = decoded.message.service.reg_info.org
    assert not org.HasField("address_kz") and not org.HasField("tenant_id")


def test_damaged_ticket_answer_reads_exactly_size_and_skips_the_unknown_field() -> None:
    raw = frame(TICKET_203)
    header, payload = split_frame(raw)
    published = expected(TICKET_203)
    assert _header_as_published(header) == published["header"]
    assert len(raw) - header.size == 2485  # the junk after SIZE is not this frame's
    decoded = decode_response(payload)
    assert decoded.complete
    assert decoded.message.ticket.ticket_number == "4228143549"
    assert decoded.message.ticket.qr_code.decode() == published["response"]["ticket"]["qr_code"]["utf8"]
    assert as_published(decoded.message) == published["response"]


def test_info_request_decodes_and_reencodes_byte_for_byte() -> None:
    raw = frame(INFO_REQUEST_203)
    header, payload = split_frame(raw)
    published = expected(INFO_REQUEST_203)
    assert _header_as_published(header) == published["header"]
    decoded = decode_request(payload)
    assert decoded.complete and decoded.command == Command.INFO
    assert as_published(decoded.message) == published["request"]
    built = spec(INFO_REQUEST_203)
    request = json_format.ParseDict(built["request"], ofd_pb2.Request())
    h = built["header"]
    encoded = encode_frame(request.SerializeToString(), version=h["version"], device_id=h["id"],
                           token=h["token"], reqnum=h["reqnum"])
    assert encoded == raw


def _header_bytes(appcode: int = APPCODE, version: int = 203, size: int = 18, device_id: int = 7,
                  token: int = 0xFFFF_FFFE, reqnum: int = 65535) -> bytes:
    # Spelled out field by field, not with framing.HEADER: the parser is checked against the table.
    return (appcode.to_bytes(2, "little") + version.to_bytes(2, "little") + size.to_bytes(4, "little")
            + device_id.to_bytes(4, "little") + token.to_bytes(4, "little") + reqnum.to_bytes(2, "little"))


@pytest.mark.parametrize(
    ("data", "reason", "has_header"),
    [
        (b"\xa2\x81\xcb\x00", FrameErrorReason.SHORT_HEADER, False),
        (b"GET / HTTP/1.1\r\nHost: x\r\n", FrameErrorReason.BAD_APPCODE, False),
        (_header_bytes(size=17), FrameErrorReason.SIZE_TOO_SMALL, True),
        (_header_bytes(size=4096 + 1), FrameErrorReason.SIZE_TOO_LARGE, True),
        (_header_bytes(version=124), FrameErrorReason.UNKNOWN_VERSION, True),
        (_header_bytes(size=30) + b"\x08\x01", FrameErrorReason.TRUNCATED, True),
    ],
)
def test_bytes_that_are_not_a_usable_frame_say_why(
    data: bytes, reason: FrameErrorReason, has_header: bool
) -> None:
    with pytest.raises(FrameError) as caught:
        split_frame(data, max_frame_bytes=4096)
    assert caught.value.reason == reason
    assert (caught.value.header is not None) == has_header
    if has_header:  # an answer can echo the request's ID and REQNUM
        assert caught.value.header is not None
        assert (caught.value.header.device_id, caught.value.header.reqnum) == (7, 65535)


def test_header_fields_use_their_full_unsigned_width() -> None:
    raw = encode_frame(b"\x08\x00", version=202, device_id=0xFFFF_FFFF, token=0xFFFF_FFFF, reqnum=0xFFFF)
    assert parse_header(raw) == FrameHeader(202, HEADER_SIZE + 2, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF)
    for bad in ({"token": 1 << 32}, {"reqnum": 65536}, {"device_id": -1}):
        with pytest.raises(ValueError):
            encode_frame(b"", **{"version": 203, "device_id": 1, "token": 1, "reqnum": 1, **bad})
    assert [next_reqnum(n) for n in (0, 41, 65535)] == [1, 42, 0]


def test_a_missing_required_field_is_reported_not_raised() -> None:
    request = ofd_pb2.Request(command=ofd_pb2.COMMAND_TICKET)
    request.ticket.operation = ofd_pb2.OPERATION_SELL
    decoded = decode_request(request.SerializePartialToString())
    assert not decoded.complete
    assert set(decoded.missing) == {"ticket.date_time", "ticket.operator", "ticket.amounts"}
    assert decode_request(b"").missing == ("command",)


def test_a_command_the_schema_does_not_know_is_still_read() -> None:
    decoded = decode_request(b"\x08\x64")  # "2.0.4" QR payment, command 100
    assert decoded.command == 100 and decoded.missing == ("command",)
    answer = result_answer(FrameHeader(203, 0, 5, 6, 7), ResultCode.UNKNOWN_COMMAND, "no", command=100)
    header, payload = split_frame(answer)
    assert (header.version, header.device_id, header.token, header.reqnum) == (203, 5, 6, 7)
    echoed = decode_response(payload)
    assert echoed.command == 100 and echoed.message.result.result_code == ResultCode.UNKNOWN_COMMAND


def test_bytes_that_are_not_protobuf_are_undecodable() -> None:
    for junk in (b"\xff\xff\xff", b"\x0a\x05ab", b"\x12\x02\x08"):
        with pytest.raises(FrameError) as caught:
            decode_request(junk)
        assert caught.value.reason == FrameErrorReason.UNDECODABLE


def test_an_error_answer_echoes_the_request() -> None:
    request = FrameHeader(202, 100, 200773, 26264070, 9)
    header, payload = split_frame(result_answer(request, ResultCode.PROTOCOL_ERROR, "bad", command=None))
    assert (header.version, header.device_id, header.token, header.reqnum) == (202, 200773, 26264070, 9)
    response = decode_response(payload)
    assert response.complete and response.command == Command.SYSTEM
    assert (response.message.result.result_code, response.message.result.result_text) == (3, "bad")


def test_a_string_that_is_not_utf8_decodes_and_reads_as_text() -> None:
    kkm = b"\x1a\x02\xff\xfe"  # KkmRegInfo.fns_kkm_id, two bytes that are not UTF-8
    reg_info = b"\x0a" + bytes([len(kkm)]) + kkm
    service = b"\x62" + bytes([len(reg_info)]) + reg_info
    decoded = decode_request(b"\x08\x05\x32" + bytes([len(service)]) + service)
    assert decoded.complete
    assert as_text(decoded.message.service.reg_info.kkm.fns_kkm_id) == "\ufffd\ufffd"
    assert as_text("КГД") == "КГД"


def test_command_and_result_are_peeked_without_decoding() -> None:
    _, request = split_frame(frame(INFO_REQUEST_203))
    _, answer = split_frame(frame(TICKET_203))
    assert peek_command(request) == Command.INFO
    assert (peek_command(answer), peek_result_code(answer)) == (Command.TICKET, ResultCode.OK)
    assert peek_result_code(split_frame(result_answer(FrameHeader(203, 0, 1, 2, 3), ResultCode.BLOCKED,
                                                      command=1))[1]) == ResultCode.BLOCKED
    for junk in (b"", b"\xff", b"\x0a\x05ab", b"\x08", b"\x0b"):
        assert peek_command(junk) is None and peek_result_code(junk) is None
