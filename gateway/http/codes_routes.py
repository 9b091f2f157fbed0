"""Marking-code routes: POST /v1/codes/check (signed by a register) and POST /v1/admin/codes/import.

A check changes no state, so its answer does not wait for a disk: the check is recorded through the
journal (a record outside any device chain, JournalRecord.code_check) by the next group commit, handed to
the writer before the answer is sent but not awaited. The check id a register prints on a receipt line is
then in code_events (kind=check) exactly once, through storage outages and any crash but one of the
process or the machine within that group commit (a few ms after the answer); the nonce is refused again
at once in memory, and after a restart as far as the journal holds it (docs/security.md). A full journal
answers 503 backpressure, like /v1/batches. The answer is advice: a sale after it is judged again on
ingest, never refused.
"""

from __future__ import annotations

import asyncio
import io
import time

from aiohttp import web
from google.protobuf.message import DecodeError

from gateway import errors
from gateway.codes.registry_file import RegistryRow, RegistryRowError, read_registry
from gateway.devices import Device
from gateway.errors import GatewayError
from gateway.http.admin import require_admin
from gateway.http.audit_trail import audit_request
from gateway.http.ingest_routes import PROTOBUF, read_protobuf_body
from gateway.http.keys import SERVICE
from gateway.http.limits import CHECK_LIMITS
from gateway.http.uploads import upload_work
from gateway.ingest.code_verdicts import CheckAnswer, CodeVerdicts, verdict_record
from gateway.security import audit
from gateway.security.random_ids import random_id
from gateway.service import GatewayService
from gateway.storage.code_registry_store import insert_registry_rows
from gateway.wire import pb, signing

MAX_CHECK_BODY_BYTES = 256 * 1024
MAX_IMPORT_CHUNK_BYTES = 64 * 1024 * 1024
# An import chunk is read in an upload thread (~25 µs a row: a 64 MiB chunk is ~20 s of parsing, which on the
# loop stalled every register's answers) and put into the status index on the loop, this many rows (~35 ms)
# between two turns of it.
APPLY_SLICE_ROWS = 5_000
_DETAILS = {
    "valid": "may be sold",
    "syntax_error": "the code is not a valid marking code",
    "not_marking_code": "valid GS1 data but not a marking code (no GTIN or no serial)",
    "unknown": "the operator's registry does not know this code",
    "blocked": "the code is blocked",
    "not_in_circulation": "the code is not in circulation",
    "already_sold": "the code was sold and not returned",
    "expired": "the goods are past their expiry date",
    "not_owner": "the goods belong to another owner",
}


def _verified_check(
    request: web.Request, service: GatewayService, body: bytes, now_ms: int
) -> tuple[Device, pb.CodeCheckBody]:
    try:
        check_request = pb.CodeCheckRequest.FromString(body)
        check = pb.CodeCheckBody.FromString(check_request.body)
    except DecodeError:
        raise GatewayError(errors.MALFORMED_REQUEST, "the body is not a CodeCheckRequest") from None
    device = service.registry.get(check_request.device_id)
    key = service.registry.key(check_request.device_id)
    if device is None or key is None:
        raise GatewayError(errors.UNKNOWN_DEVICE)
    if not device.active:
        raise GatewayError(errors.DEVICE_REVOKED)
    if check_request.key_id != device.key_id:
        raise GatewayError(errors.UNKNOWN_KEY)
    preimage = signing.code_check_preimage(check_request.device_id, check_request.body)
    signature = check_request.signature
    # On the loop, not the tg-verify thread: cryptography's ECDSA verify holds the GIL, so a hand-off there
    # blocked the loop just as long and added two thread wake-ups a check (docs/performance.md, round 9).
    if not signing.verify_signature(key, preimage, signature):
        raise GatewayError(errors.BAD_SIGNATURE, "the signature does not verify over the check body")
    # Only now, so nobody can spend a register's budget with checks it did not sign.
    request.app[CHECK_LIMITS].check(device.device_id, "device")
    service.check_nonces.admit(device.device_id, check.nonce, check.time_ms, now_ms)
    limits = service.settings.limits
    if not check.codes:
        raise GatewayError(errors.MALFORMED_REQUEST, "no codes to check")
    if len(check.codes) > limits.max_codes_per_line:
        raise GatewayError(errors.TOO_MANY_CODES, f"at most {limits.max_codes_per_line} codes a check")
    if any(len(code) > limits.max_string_chars for code in check.codes):
        raise GatewayError(errors.FIELD_TOO_LONG, f"a code is longer than {limits.max_string_chars} chars")
    return device, check


def check_response(check_id: str, now_ms: int, answers: list[CheckAnswer]) -> pb.CodeCheckResponse:
    """The answer a register gets: per code, may it be sold now, and why not."""
    response = pb.CodeCheckResponse()
    response.check_id = check_id
    response.time_ms = now_ms
    add = response.verdicts.add
    for answer in answers:
        result, verdict = answer.result, answer.judgement.verdict
        # The findings' own texts name other sellers, stores and the registry's owner: a register is told
        # why in words that name nobody, the code's own syntax error aside.
        detail = _DETAILS.get(verdict, "")
        if verdict == "syntax_error" and result.detail:
            detail = f"{detail}: {result.detail}"
        # Field by field, the empty ones left unset (the same message): upb's keyword form costs more.
        out = add()
        out.code = answer.code
        out.status = verdict
        out.detail = detail
        if result.cis:
            out.cis = result.cis
        if answer.may_sell:
            out.may_sell = True
        if result.error:
            out.error_code = result.error
    return response


def check_record(device: Device, gateway_id: str, check_id: str, check: pb.CodeCheckBody, now_ms: int,
                 answers: list[CheckAnswer]) -> pb.JournalRecord:
    """The journal's record of an answered check: who asked, the verdicts, the check id and its nonce."""
    record = pb.JournalRecord()
    record.envelope.device_id = device.device_id
    record.received_ms = now_ms
    record.seller_tin = device.seller_tin
    record.store_id = device.store_id
    record.gateway_id = gateway_id
    add = record.code_verdicts.add
    for i, answer in enumerate(answers):
        verdict_record(0, i, answer.result, answer.judgement, raw_code=answer.code, record=add())
    entry = record.code_check
    entry.check_id = check_id
    entry.device_time_ms = check.time_ms
    entry.answered_ms = now_ms
    entry.nonce = check.nonce
    return record


async def post_code_check(request: web.Request) -> web.Response:
    """May these codes be sold now? Signed by a registered register; the check is journalled first."""
    service = request.app[SERVICE]
    body = await read_protobuf_body(request, MAX_CHECK_BODY_BYTES)
    now_ms = time.time_ns() // 1_000_000
    device, check = _verified_check(request, service, body, now_ms)
    assert service.code_verdicts is not None
    answers = service.code_verdicts.check(check.codes[:], device.seller_tin, device.store_id, now_ms)
    check_id = random_id()
    record = check_record(device, service.settings.gateway_id, check_id, check, now_ms, answers)
    try:
        # A write that fails after the answer (disk failing) is logged by the journal with this label.
        service.journal.append_soon([record.SerializeToString()], f"answered check {check_id}")
    except BaseException:
        service.check_nonces.release(device.device_id, check.nonce)
        raise
    response = check_response(check_id, now_ms, answers)
    return web.Response(body=response.SerializeToString(), content_type=PROTOBUF)


async def read_whole_body(request: web.Request, max_bytes: int) -> bytes:
    """The whole body, up to max_bytes (StreamReader.read(n) may return less than is coming)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise GatewayError(errors.BODY_TOO_LARGE, f"a chunk is at most {max_bytes} bytes")
    parts: list[bytes] = []
    size = 0
    while True:
        part = await request.content.read(1024 * 1024)
        if not part:
            return b"".join(parts)
        size += len(part)
        if size > max_bytes:
            raise GatewayError(errors.BODY_TOO_LARGE, f"a chunk is at most {max_bytes} bytes")
        parts.append(part)


def apply_registry_rows(codes: CodeVerdicts, rows: list[RegistryRow]) -> None:
    """Make imported registry rows visible to verdicts and checks at once."""
    index = codes.index
    for row in rows:
        index.put_registry(row.cis, row.status, row.owner_tin, row.expires_day)
    index.compact()


def _read_import(body: bytes) -> tuple[list[RegistryRow], list[str]]:
    """An import chunk's rows, and a line of text for each one it refuses."""
    rows: list[RegistryRow] = []
    rejected: list[str] = []
    for item in read_registry(io.BytesIO(body)):
        if isinstance(item, RegistryRowError):
            rejected.append(str(item))
        else:
            rows.append(item)
    return rows, rejected


async def post_code_import(request: web.Request) -> web.Response:
    """One chunk of a registry import (JSON lines); X-Import-Version names the import run (its version)."""
    require_admin(request)
    service = request.app[SERVICE]
    try:
        version = int(request.headers.get("X-Import-Version", ""))
    except ValueError:
        raise GatewayError(errors.MALFORMED_REQUEST, "X-Import-Version must be a whole number") from None
    body = await read_whole_body(request, MAX_IMPORT_CHUNK_BYTES)
    rows, rejected = await upload_work(lambda: _read_import(body))
    if rows:
        database = service.storage.database
        token = await service.storage.run(lambda c: insert_registry_rows(c, database, rows, version))
        assert service.code_verdicts is not None
        for start in range(0, len(rows), APPLY_SLICE_ROWS):  # registers are answered between the slices
            apply_registry_rows(service.code_verdicts, rows[start : start + APPLY_SLICE_ROWS])
            await asyncio.sleep(0)
        detail = f"{len(rows)} rows, {len(rejected)} rejected"
        await audit_request(request, audit.REGISTRY_IMPORTED, f"import {version}", detail)
    else:
        token = ""
    return web.json_response(
        {"imported": len(rows), "rejected": rejected[:100], "rejected_count": len(rejected), "token": token,
         "index_codes": len(service.code_verdicts.index) if service.code_verdicts else 0}
    )


def setup_code_check(app: web.Application) -> None:
    """Add the pre-sale check route and the admin registry import route."""
    app.router.add_post("/v1/codes/check", post_code_check)
    app.router.add_post("/v1/admin/codes/import", post_code_import)
