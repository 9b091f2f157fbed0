"""The register's pre-sale check: ask the gateway whether marked goods may be sold, write the answer's id."""

from __future__ import annotations

import os
import random
import time

import aiohttp

from firmware_sim.device import Register
from firmware_sim.receipts import random_basket
from gateway.wire import pb, signing

CHECK_TIMEOUT_S = 1.5  # the permissive-mode rule: no answer in 1.5 s, the register sells on its own
PROTOBUF = "application/x-protobuf"


def signed_check(register: Register, codes: list[str], time_ms: int) -> pb.CodeCheckRequest:
    """A CodeCheckRequest signed with the register's key (preimage: signing.code_check_preimage)."""
    body = pb.CodeCheckBody(codes=codes, time_ms=time_ms, nonce=os.urandom(12)).SerializeToString()
    preimage = signing.code_check_preimage(register.identity.device_id, body)
    return pb.CodeCheckRequest(
        device_id=register.identity.device_id, body=body, signature=signing.sign(register.key, preimage),
        key_id=register.key_id,
    )


async def check_codes(session: aiohttp.ClientSession, gateway_url: str, register: Register,
                      codes: list[str]) -> pb.CodeCheckResponse | None:
    """The gateway's answer, or None if it did not come in time (the sale goes on without one)."""
    request = signed_check(register, codes, time.time_ns() // 1_000_000)
    url = gateway_url.rstrip("/") + "/v1/codes/check"
    headers = {"Content-Type": PROTOBUF, "X-Device-Id": register.identity.device_id}
    try:
        async with session.post(url, data=request.SerializeToString(), headers=headers,
                                timeout=aiohttp.ClientTimeout(total=CHECK_TIMEOUT_S)) as response:
            if response.status != 200:
                return None
            return pb.CodeCheckResponse.FromString(await response.read())
    except (TimeoutError, aiohttp.ClientError, OSError):
        return None


async def sell_checked(session: aiohttp.ClientSession, gateway_url: str, register: Register,
                       rng: random.Random, buyer: pb.BuyerContacts | None) -> bytes:
    """Scan a basket, check its marking codes first, and sell it with the check id on the marked lines.

    The simulated cashier sells even what the check advised against (as a shop in permissive-mode
    fallback would); the gateway then records those sales with their verdicts and anomalies.
    """
    items = random_basket(register.catalog, register.rng, register.code_source)
    codes = [code for item in items for code in item.codes]
    answer = await check_codes(session, gateway_url, register, codes) if codes else None
    check = (answer.check_id, answer.time_ms) if answer is not None else None
    return register.sell(items=items, buyer=buyer, code_check=check)
