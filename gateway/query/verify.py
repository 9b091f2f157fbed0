"""Verify a printed fiscal sign against what the gateway stored (the consumer check page).

Anyone may ask, without a token: the answer to a sign that does not match is the same whether or not the
device and seq exist, so the page tells nobody which devices there are or how many events each has.
"""

from __future__ import annotations

import hmac
from typing import Any

from gateway.service import GatewayService

NOT_VALID = {
    "valid": False,
    "reason": "no registered event matches this device, seq and fiscal sign (a receipt just printed may "
    "take a few seconds to appear)",
}
_EVENT_SQL = """
SELECT e.seller_tin, e.store_id, e.kind, toUnixTimestamp64Milli(e.event_time), e.envelope_hash,
       e.fiscal_sign, r.operation, r.total, r.document_number
FROM {db}.events AS e
LEFT JOIN (SELECT device_id, seq, operation, total, document_number FROM {db}.receipts
           WHERE device_id = {{device_id:String}} AND seq = {{seq:UInt64}}) AS r
  ON r.device_id = e.device_id AND r.seq = e.seq
WHERE e.device_id = {{device_id:String}} AND e.seq = {{seq:UInt64}}
LIMIT 1
"""


async def verify_fiscal_sign(
    service: GatewayService, device_id: str, seq: int, fiscal_sign: str
) -> dict[str, Any]:
    """{"valid": bool, "reason"?, and for a valid sign the event's public facts}."""
    sql = _EVENT_SQL.format(db=service.storage.database)
    params = {"device_id": device_id, "seq": seq}
    rows = await service.storage.run(lambda c: c.query(sql, parameters=params).result_rows)
    if not rows:
        return dict(NOT_VALID)
    seller_tin, store_id, kind, time_ms, envelope_hash, stored_sign, operation, total, document = rows[0]
    given = fiscal_sign.strip().upper()
    matches = hmac.compare_digest(given, str(stored_sign).upper()) and service.fiscal.verify(
        device_id, seq, _as_bytes(envelope_hash), int(time_ms), given
    )
    if not matches:
        return dict(NOT_VALID)
    result: dict[str, Any] = {
        "valid": True,
        "device_id": device_id,
        "seq": seq,
        "seller_tin": seller_tin,
        "store_id": store_id,
        "kind": kind,
        "event_time_ms": int(time_ms),
    }
    if kind == "receipt":
        result.update(operation=operation, total=int(total), document_number=int(document))
    return result


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("latin-1")
