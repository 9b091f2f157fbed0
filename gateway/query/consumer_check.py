"""The consumer check of an OFD register's receipt: "is this receipt genuine", from its printed QR link.

An OFD register prints, as a QR code, `<ofd_check_url>/check?i=<fiscal number>&f=<KGD number>&s=<total>
&t=<local time yyyyMMddTHHmmss>` (gateway/ofd/answers.py). A receipt is genuine when tracegate stores a
receipt of that register with that fiscal number, total and time, and the number is the gateway's MAC
over the stored event (ingest/fiscal_sign.py). The answer says that and nothing else: no seller, no
goods, nothing a guessed number could read out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway import errors
from gateway.errors import GatewayError
from gateway.ofd.units import parse_compact_local
from gateway.service import GatewayService

_NUMBER = re.compile(r"^\d{1,20}$")
_TOTAL = re.compile(r"^(\d{1,15})(?:\.(\d{1,2}))?$")
_SQL = """
SELECT r.seq, toUnixTimestamp64Milli(r.event_time), r.total, e.envelope_hash
FROM {db}.receipts AS r
INNER JOIN (SELECT seq, envelope_hash FROM {db}.events
            WHERE seller_tin = {{tin:String}} AND device_id = {{device_id:String}}
              AND fiscal_sign = {{sign:String}}) AS e ON e.seq = r.seq
WHERE r.seller_tin = {{tin:String}} AND r.device_id = {{device_id:String}} AND r.fiscal_sign = {{sign:String}}
LIMIT 10
"""


@dataclass(frozen=True)
class CheckQuery:
    """The four facts a printed consumer-check link carries."""

    ticket_number: str
    kgd_number: str
    total: int  # tiyn
    time_ms: int  # UTC


def parse_query(query: Mapping[str, str], offset_min: int) -> CheckQuery:
    """The link's i, f, s and t; raises malformed_request saying which is wrong."""
    number, kgd, total_text, time_text = (query.get(k, "").strip() for k in ("i", "f", "s", "t"))
    if not _NUMBER.match(number) or not _NUMBER.match(kgd):
        raise GatewayError(errors.MALFORMED_REQUEST, "i (fiscal number) and f (KGD number) must be digits")
    total = _TOTAL.match(total_text)
    if total is None:
        raise GatewayError(errors.MALFORMED_REQUEST, "s must be the total, e.g. 1250.00")
    time_ms = parse_compact_local(time_text, offset_min)
    if time_ms is None:
        raise GatewayError(errors.MALFORMED_REQUEST, "t must be the receipt's time as yyyyMMddTHHmmss")
    tiyn = int(total.group(1)) * 100 + int((total.group(2) or "0").ljust(2, "0"))
    return CheckQuery(number, kgd, tiyn, time_ms)


async def check_receipt(service: GatewayService, query: CheckQuery) -> dict[str, Any]:
    """{"genuine": bool, "reason": text}."""
    device = service.registry.by_kgd_number(query.kgd_number)
    if device is None:
        return {"genuine": False, "reason": "no register with this KGD number is served here"}
    sql = _SQL.format(db=service.storage.database)
    params = {"tin": device.seller_tin, "device_id": device.device_id, "sign": query.ticket_number}
    rows = await service.storage.run(
        lambda c: c.query(sql, parameters=params, column_formats={"envelope_hash": "bytes"}).result_rows
    )
    for seq, time_ms, total, envelope_hash in rows:
        if (int(time_ms), int(total)) != (query.time_ms, query.total):
            continue
        if service.fiscal.verify(device.device_id, int(seq), bytes(envelope_hash), int(time_ms),
                                 query.ticket_number):
            return {"genuine": True, "reason": "this receipt was registered"}
    # Whether the number exists with other facts is not said: that would let a guesser find numbers.
    return {"genuine": False, "reason": "no receipt with this number, total and time is stored (a new "
                                        "receipt shows here within seconds of its sale)"}
