"""The three published frames (../shared/data/ofd) get answers a register can read: the INFO request as
a real OFD answered it, the two captured answers (fed back as if requests) as the protocol faults they are."""

from __future__ import annotations

import pytest

from gateway.ofd.framing import ResultCode, decode_response, split_frame
from gateway.service import GatewayService
from gateway.wire import ofd_pb2
from tests.ofd.conftest import register_ofd
from tests.ofd_wire.published import expected, frame

pytestmark = pytest.mark.clickhouse


async def _answer(service: GatewayService, name: str) -> tuple[ofd_pb2.Response, int]:
    header, payload = split_frame(frame(name))
    answer = await service.ofd_handler.exchange(header, payload)
    answer_header, answer_payload = split_frame(answer)
    assert (answer_header.device_id, answer_header.reqnum, answer_header.version) == (
        header.device_id, header.reqnum, header.version)
    decoded = decode_response(answer_payload)
    assert decoded.complete, decoded.missing
    return decoded.message, answer_header.token


async def test_the_published_info_request_is_answered_as_a_real_ofd_answered_one(
    service: GatewayService,
) -> None:
    request = expected("derived_info_request_203")
    kkm = request["request"]["service"]["reg_info"]["kkm"]
    await register_ofd(service, "KKM-201873", request["header"]["id"], request["header"]["token"],
                       kkm["fns_kkm_id"])
    ours, token = await _answer(service, "derived_info_request_203")
    assert token == request["header"]["token"], "INFO keeps the token"
    assert ours.result.result_code == ResultCode.OK
    assert ours.service.reg_info.kkm.fns_kkm_id == kkm["fns_kkm_id"]
    assert ours.service.reg_info.kkm.kkm_id == kkm["kkm_id"]
    assert ours.report.zx_report.shift_number == 0, "no shift yet: the documented empty report"
    # What a captured answer of a real OFD carries, ours carries too (but ads, which tracegate has none of).
    real = decode_response(split_frame(frame("ext_fsl_info_response_202"))[1]).message
    assert {f.name for f, _ in ours.ListFields()} == {f.name for f, _ in real.ListFields()}
    assert {f.name for f, _ in ours.report.zx_report.ListFields()} >= {
        f.name for f, _ in real.report.zx_report.ListFields()}
    assert ours.report.report == real.report.report == ofd_pb2.REPORT_Z


@pytest.mark.parametrize("name", ["ext_fsl_info_response_202", "ext_sk_ticket_response_203"])
async def test_an_answer_sent_as_if_a_request_is_a_protocol_fault(service: GatewayService, name: str) -> None:
    header = expected(name)["header"]
    unknown, _ = await _answer(service, name)
    assert unknown.result.result_code == ResultCode.UNKNOWN_ID
    await register_ofd(service, f"KKM-{header['id']}", header["id"], header["token"], "010101099999")
    fault, token = await _answer(service, name)
    assert fault.result.result_code == ResultCode.PROTOCOL_ERROR and token == header["token"]
    assert fault.result.result_text, "the text says what is wrong"
