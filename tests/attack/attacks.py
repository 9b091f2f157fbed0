"""The attacks of the outside attack run (issue 18), each replayed against a real gateway: held or broke.

Each attack does what an attacker (a stolen admin token, a register under the attacker's control, anyone
on the network) did, then looks at what the gateway answered and kept, as the operator would.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.codes.parser import validate_code
from gateway.wire import pb, signing
from tests.attack.target import (
    OTHER_TIN,
    PROTOBUF,
    SELLER_TIN,
    Target,
    buyer_sale,
    json_of,
    sign_bytes,
    statuses,
)
from tests.codes.code_builders import shoes
from tests.e2e.chain_builder import ChainedRegister, sale

Outcome = tuple[bool, str]  # (held, what was observed)


@dataclass(frozen=True)
class Attack:
    """One attack: what must happen, and how to try it (short: the CI form, fewer repetitions)."""

    name: str
    expected: str
    run: Callable[[Target, bool], Outcome]


def _rotation(new_key: ec.EllipticCurvePrivateKey) -> pb.Event:
    point = new_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    rotation = pb.KeyRotation(new_public_key=point, new_key_id=signing.key_id_of(new_key.public_key()))
    return pb.Event(time_ms=int(time.time() * 1000), key_rotation=rotation)


def unregistered_key(target: Target, short: bool) -> Outcome:
    """A rotation the chain refuses, then an envelope signed by the key it named."""
    seen = []
    for how in ("prev_hash_mismatch", "bad_signature"):
        register = target.register(f"ATK-ROT-{how[:4]}")
        target.ingest([register.envelope(sale(100))])
        new_key = signing.new_private_key()
        prev = b"\x07" * 32 if how == "prev_hash_mismatch" else None
        rotation = register.envelope(_rotation(new_key), prev_hash=prev, advance=False)
        if how == "bad_signature":
            rotation.signature = bytes(64)
        register.key = new_key
        forged = register.envelope(sale(200))
        seen.append(statuses(target.ingest([rotation, forged])))
    held = all(s[1] == "unknown_key" for s in seen)
    return held, "; ".join(f"rotation {a}, envelope of its key {b}" for a, b in seen)


def revoked_key_returns(target: Target, short: bool) -> Outcome:
    """Revoke a key, register the register anew, rotate back to the revoked key, sign with it."""
    register = target.register("ATK-REVOKED")
    target.ingest([register.envelope(sale(100))])
    stolen = register.key
    target.gateway.admin("POST", "/v1/admin/devices/ATK-REVOKED/revoke")
    register.key = signing.new_private_key()
    target.add_device("ATK-REVOKED", register.key)
    back = register.envelope(_rotation(stolen))
    register.key = stolen
    thief = register.envelope(sale(300))
    rotation, signed = statuses(target.ingest([back, thief]))
    target.gateway.admin("POST", "/v1/admin/devices/ATK-REVOKED/revoke")
    again = target.add_device("ATK-REVOKED", stolen)  # and as a registration
    held = rotation != "ACCEPTED" and signed != "ACCEPTED" and again == 409
    return held, f"rotation back to it {rotation}, envelope it signed {signed}, registering it again {again}"


def blame_a_register(target: Target, short: bool) -> Outcome:
    """Anyone (no token, no key) posts envelopes in a seller's register's name that no signature proves."""
    victim = target.register("ATK-BLAMED")
    forged = []
    for seq in range(1, 1001 if not short else 201):
        envelope = victim.envelope(sale(100 + seq), seq=seq, advance=False)
        envelope.signature = b"\x01" * 64
        forged.append(envelope)
    answered = set(statuses(target.ingest(forged)))
    target.ingest([victim.envelope(sale(100))])  # the victim's own sale, after them in the journal
    target.wait_for("SELECT count() FROM tracegate.events WHERE device_id = 'ATK-BLAMED'", 1)
    blamed = target.count(f"SELECT count() FROM tracegate.rejections WHERE seller_tin = '{SELLER_TIN}'"
                          " AND device_id = 'ATK-BLAMED'")
    kept = target.count("SELECT count() FROM tracegate.rejections WHERE device_id = 'ATK-BLAMED'")
    held = answered == {"bad_signature"} and blamed == 0 and kept <= 1
    return held, (f"{len(forged)} answered {sorted(answered)}; rejections naming the seller: {blamed}, "
                  f"rows kept: {kept}")


def forget_unshipped(target: Target, short: bool) -> Outcome:
    """pii forget while the receipt naming the person is still in the journal."""
    phone = "+77017770001"
    register = target.register("ATK-FORGET")
    target.ingest([register.envelope(buyer_sale(500, phone))])
    _, answer = target.gateway.admin("POST", "/v1/admin/pii/forget", {"phone": phone})
    target.wait_for("SELECT count() FROM tracegate.events WHERE device_id = 'ATK-FORGET'", 1)
    time.sleep(2)  # a batch in flight when forget answered has landed by now
    rows = target.count("SELECT count() FROM tracegate.receipt_buyers WHERE device_id = 'ATK-FORGET'")
    in_journal = phone.encode() in target.journal_bytes()
    erased = isinstance(answer, dict) and answer.get("erased") == 1 and answer.get("remaining") == 0
    held = erased and rows == 0 and not in_journal
    return held, (f"forget answered {json.dumps(answer, sort_keys=True)}; then {rows} receipt_buyers row(s); "
                  f"phone in clear in the journal: {'yes' if in_journal else 'no'}")


def buyer_in_odd_events(target: Target, short: bool) -> Outcome:
    """Buyer data in a receipt hidden under another body of the oneof, in a malformed event, without
    consent: where does it end up in clear?"""
    phone = "+77017770002"
    register = target.register("ATK-ODD")
    with_buyer = buyer_sale(700, phone).SerializeToString()
    shift_open = pb.Event(shift_open=pb.ShiftOpen(shift_number=3)).SerializeToString()
    confused = sign_bytes(register, with_buyer + shift_open)  # parses as a shift_open
    no_consent = register.envelope(buyer_sale(800, phone, consent=False))
    malformed = sign_bytes(register, with_buyer + b"\x52\xff")  # authentic: stored, an anomaly
    answered = statuses(target.ingest([confused, no_consent, malformed]))
    in_journal = phone.encode() in target.journal_bytes()  # before shipping: what the journal keeps
    target.wait_for("SELECT count() FROM tracegate.events WHERE device_id = 'ATK-ODD'", 3)
    events = target.count(f"SELECT count() FROM tracegate.events WHERE position(event, '{phone}') > 0")
    refused = target.count(
        f"SELECT count() FROM tracegate.rejections WHERE position(envelope, '{phone}') > 0"
    )
    held = events == 0 and refused == 0 and not in_journal
    return held, (f"answered {answered}; phone in clear in events.event: {events}, rejections.envelope: "
                  f"{refused}, the journal: {'yes' if in_journal else 'no'}")


def verify_enumeration(target: Target, short: bool) -> Outcome:
    """Tell existing device ids and their event counts from /v1/verify, without a token, at speed."""
    register = target.register("ATK-VERIFY")
    target.ingest([register.envelope(sale(100))])
    target.wait_for("SELECT count() FROM tracegate.events WHERE device_id = 'ATK-VERIFY'", 1)
    sign = "0000-0000-0000-0000"
    answers = [
        json_of(target.call("GET", f"/v1/verify?device_id={device}&seq={seq}&fiscal_sign={sign}")[2])
        for device, seq in (("ATK-VERIFY", 1), ("ATK-VERIFY", 2), ("ATK-NOBODY", 1))
    ]
    alike = answers[0] == answers[1] == answers[2]
    tries = [target.call("GET", f"/v1/verify?device_id=ATK-{n}&seq=1&fiscal_sign=X")[0] for n in range(40)]
    limited = tries.count(429)
    held = alike and limited > 0
    return held, (f"existing vs unknown (device, seq) answered {'alike' if alike else 'differently'}; "
                  f"{limited} of 40 quick tries refused 429")


def unverified_signatures(target: Target, short: bool) -> Outcome:
    """A chained run whose older envelopes carry 0x01 x 64 as their signature."""
    register = target.register("ATK-SIG")
    run = [register.envelope(sale(100 + n)) for n in range(3)]
    run[0].signature = run[1].signature = b"\x01" * 64
    answered = statuses(target.ingest(run))
    target.wait_for("SELECT count() FROM tracegate.events WHERE device_id = 'ATK-SIG'", 3)
    stored = [str(r[0]) for r in target.sql(
        "SELECT hex(signature) FROM tracegate.events WHERE device_id = 'ATK-SIG' ORDER BY seq")]
    bogus = sum(1 for s in stored if s == "01" * 64)
    held = bogus == 0
    return held, (f"answered {answered}; stored as the device's signature: {bogus} bogus, "
                  f"{sum(1 for s in stored if not s)} empty (covered by a later one)")


def _check(register: ChainedRegister, codes: list[str], nonce: bytes | None = None) -> bytes:
    body = pb.CodeCheckBody(codes=codes, time_ms=int(time.time() * 1000),
                            nonce=os.urandom(12) if nonce is None else nonce).SerializeToString()
    signature = signing.sign(register.key, signing.code_check_preimage(register.device_id, body))
    return pb.CodeCheckRequest(device_id=register.device_id, body=body, signature=signature,
                               key_id=register.key_id).SerializeToString()


def check_replay(target: Target, short: bool) -> Outcome:
    """Replay one signed code check many times, then check as fast as the register can sign."""
    register = target.register("ATK-CHECK")
    signed = _check(register, [shoes(serial="ATKrep0000001")])
    replays = 20 if short else 200
    answers = [target.call("POST", "/v1/codes/check", signed, {"Content-Type": PROTOBUF})[0]
               for _ in range(replays)]
    target.wait_for("SELECT count() FROM tracegate.code_events WHERE device_id = 'ATK-CHECK'", 1)
    time.sleep(2)
    rows = target.count("SELECT count() FROM tracegate.code_events WHERE device_id = 'ATK-CHECK'")
    fresh = [target.call("POST", "/v1/codes/check", _check(register, [shoes(serial=f"ATKfst{n:07d}")]),
                         {"Content-Type": PROTOBUF})[0] for n in range(150)]
    held = answers.count(200) == 1 and rows == 1 and 429 in fresh
    return held, (f"{replays} sends of one check: {answers.count(200)} answered, {rows} code_events row(s); "
                  f"150 fresh checks at once: {fresh.count(429)} refused 429")


def check_names_other_seller(target: Target, short: bool) -> Outcome:
    """Ask the pre-sale check about a code another seller owns, and one another seller sold."""
    owned, sold = shoes(serial="ATKown0000001"), shoes(serial="ATKsld0000001")
    lines = "".join(json.dumps({"code": code, "owner_tin": OTHER_TIN, "status": "introduced"}) + "\n"
                    for code in (owned, sold))
    target.call("POST", "/v1/admin/codes/import", lines.encode(),
                {"Authorization": f"Bearer {target.gateway.token}", "X-Import-Version": "1"})
    seller = target.register("ATK-OWNER-A", tin=OTHER_TIN, store="their-store-77")
    sale_of = sale(900)
    sale_of.receipt.lines[0].marking_codes.append(sold)
    target.ingest([seller.envelope(sale_of)])
    asker = target.register("ATK-OWNER-B")
    status, _, body = target.call("POST", "/v1/codes/check", _check(asker, [owned, sold]),
                                  {"Content-Type": PROTOBUF})
    verdicts = [v.status for v in pb.CodeCheckResponse.FromString(body).verdicts] if status == 200 else []
    leaked = [name for name, secret in (("owner TIN", OTHER_TIN), ("their store", "their-store-77"))
              if secret.encode() in body]
    held = status == 200 and not leaked and bool(validate_code(owned).cis)
    return held, f"answered {status} {verdicts}; another seller's identity in the answer: {leaked or 'none'}"


def _cursor(key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def crafted_queries(target: Target, short: bool) -> Outcome:
    """Crafted cursors, times and amounts: 500s, or a filter that silently filters nothing."""
    analyst = {"Authorization": f"Bearer {target.token('analyst')}"}
    retailer = {"Authorization": f"Bearer {target.token('retailer', SELLER_TIN)}", "Content-Type": "text/csv"}
    books = "document_number,device_id,time,total\n1,KKM-1,{time},{total}\n"
    anomalies = "/v1/anomalies?cursor="
    tries = {
        "cursor seq -1": ("GET", anomalies + _cursor([1, "x", -1, 99999999999, "a", "b"]), None),
        "cursor true": ("GET", anomalies + _cursor([True, "x", 1, 1, "a", "b"]), None),
        "since 10^26": ("GET", "/v1/anomalies?since=99999999999999999999999999", None),
        "books time 10^20": ("POST", "/v1/reconcile/books",
                             books.format(time="99999999999999999999", total="10")),
        "books total Infinity": ("POST", "/v1/reconcile/books",
                                 books.format(time="2026-01-15", total="Infinity")),
        "books date 9999": ("POST", "/v1/reconcile/books?date=9999-12-31",
                            books.format(time="2026-01-15", total="10")),
    }
    seen = {}
    for name, (method, path, body) in tries.items():
        headers = retailer if body is not None else analyst
        seen[name] = target.call(method, path, body.encode() if body else None, headers)[0]
    held = all(status == 400 for status in seen.values())
    return held, ", ".join(f"{name}: {status}" for name, status in seen.items())


def bad_bearer_memory(target: Target, short: bool) -> Outcome:
    """Distinct made-up bearer strings of 4 KB each: does each keep memory in the gateway?"""
    count = 4_000 if short else 20_000
    target.flood("/v1/whoami", [{"Authorization": f"Bearer warmup-{n}"} for n in range(500)])
    before = target.gateway.rss_kib()
    answered = target.flood(
        "/v1/whoami", [{"Authorization": f"Bearer made-up-{n:06d}-" + "x" * 4_000} for n in range(count)]
    )
    grown = target.gateway.rss_kib() - before
    per_token = grown * 1024 / count
    held = per_token < 1_024
    return held, (f"{count} made-up tokens, answered {dict(sorted(answered.items()))}: resident memory "
                  f"+{grown / 1024:.1f} MiB ({per_token:.0f} B a token)")


def data_readable(target: Target, short: bool) -> Outcome:
    """Another local user reads the journal and ClickHouse's parts."""
    data = target.gateway.data
    mode = data.stat().st_mode & 0o777
    modes = []
    for root, dirs, files in os.walk(data):  # ClickHouse merges while we walk: a part may vanish
        for name in dirs + files:
            try:
                entry = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            if not stat.S_ISLNK(entry.st_mode):
                modes.append(entry.st_mode)
    shared = [m for m in modes if m & 0o077]
    held = mode & 0o077 == 0 and not shared
    return held, f"data directory {mode:o}; {len(shared)} of {len(modes)} entries open to group or others"


def page_headers(target: Target, short: bool) -> Outcome:
    """Frame the pages, or feed them another origin's script."""
    _, headers, _ = target.call("GET", "/ui/dashboard")
    wanted = ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy")
    missing = [name for name in wanted if name not in headers]
    framing = "frame-ancestors 'none'" in headers.get("Content-Security-Policy", "")
    held = not missing and framing
    return held, f"missing: {', '.join(missing) or 'none'}; frame-ancestors 'none': {framing}"


def admin_sql_freeze(target: Target, short: bool) -> Outcome:
    """One INSERT through the admin SQL door, then: does the gateway still ship, issue tokens, say ready?"""
    status, _ = target.gateway.admin(
        "POST", "/v1/admin/sql", {"query": "INSERT INTO tracegate.audit_log (action) VALUES ('x')"}
    )
    for text in ("SET readonly = 1", "SYSTEM STOP MERGES", "SELECT 1 SETTINGS readonly = 0"):
        target.gateway.admin("POST", "/v1/admin/sql", {"query": text})
    register = target.register("ATK-SQL")
    target.ingest([register.envelope(sale(100))])
    try:
        shipped = target.wait_for("SELECT count() FROM tracegate.events WHERE device_id = 'ATK-SQL'", 1, 20)
        queries = "queries work"
    except RuntimeError as exc:  # the operator's own queries fail too
        shipped, queries = 0, "every later query fails: " + str(exc).split("DB::Exception: ")[-1][:80]
    issued, _ = target.gateway.admin("POST", "/v1/admin/tokens", {"scope": "analyst"})
    ready, _ = target.gateway.readyz()
    held = status == 400 and shipped == 1 and issued == 201 and ready == 200
    return held, (f"INSERT answered {status}; then a receipt {'reached' if shipped else 'did not reach'} "
                  f"storage, a token issue answered {issued}, /readyz {ready}, {queries}")


# In this order: the SQL door last, since on a gateway where it breaks, storage is frozen after it.
ATTACKS = [
    Attack("unregistered_key", "an envelope signed by the key of a refused rotation is refused (unknown_key)",
           unregistered_key),
    Attack("revoked_key_returns", "a revoked key is refused in rotations, signatures and registrations",
           revoked_key_returns),
    Attack("blame_a_register", "envelopes no signature proves name no seller; one row a request, not 1,000",
           blame_a_register),
    Attack("forget_unshipped", "forget erases a receipt not yet shipped: erased 1, remaining 0, none lands",
           forget_unshipped),
    Attack("buyer_in_odd_events", "no buyer contact in clear in events, rejections or the journal",
           buyer_in_odd_events),
    Attack("verify_enumeration", "unknown and mismatched (device, seq) answered alike; 429 past the limit",
           verify_enumeration),
    Attack("unverified_signatures", "only verified signatures stored in events.signature",
           unverified_signatures),
    Attack("check_replay", "a signed check answered once; per-device limit answers 429", check_replay),
    Attack("check_names_other_seller", "the check's answer names no other seller, store or owner",
           check_names_other_seller),
    Attack("crafted_queries", "400 for crafted cursors, times, amounts, dates (no 500, no silent no-filter)",
           crafted_queries),
    Attack("bad_bearer_memory", "made-up bearer tokens keep no memory (< 1 KiB a token)", bad_bearer_memory),
    Attack("data_readable", "data directory 0700, nothing in it open to group or others", data_readable),
    Attack("page_headers", "/ui sends CSP with frame-ancestors 'none', X-Frame-Options, Referrer-Policy",
           page_headers),
    Attack("admin_sql_freeze", "the INSERT is refused (400); shipping, tokens and /readyz carry on",
           admin_sql_freeze),
]
