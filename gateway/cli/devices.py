"""`tracegate devices add|list|revoke|ofd-token`: the operator registers registers (their public keys, or
for an OFD register its OFD id, KGD number and token, the gateway holding its key)."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from gateway import errors
from gateway.cli.admin_client import AdminError, gateway_client, on_data_dir
from gateway.cli.main import add_common_options, settings_from_args
from gateway.devices import new_device, registration_decision, revoked
from gateway.errors import GatewayError
from gateway.http.admin import device_json
from gateway.ofd import registration as ofd_registration
from gateway.ofd.keys import OfdKeys
from gateway.settings import Settings
from gateway.storage.device_store import load_devices, load_registry, save_device


def register(sub: Any) -> None:
    """Add the devices subcommand and its actions."""
    parser = sub.add_parser(
        "devices",
        help="register, list and revoke cash registers",
        description="Manage the registers allowed to send. Talks to the running gateway of --data (or "
        "--gateway URL) with the admin token; when no gateway runs, opens the data directory itself.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add", help="register a device and its public key, or an OFD register",
        description="Register a register. One speaking our contract: --key (its public key). One speaking "
        "OFD 2.0.2/2.0.3: --protocol ofd --ofd-id --kgd-number [--ofd-token]; the gateway holds its key.",
    )
    add.add_argument("--id", required=True, dest="device_id", help="the register's device id")
    add.add_argument("--tin", required=True, help="seller TIN (12-digit BIN/IIN)")
    add.add_argument("--store", required=True, help="store id")
    add.add_argument("--key", type=Path, help="file with the device's P-256 public key (PEM)")
    add.add_argument("--protocol", choices=("tracegate", "ofd"), default="tracegate",
                     help="what the register speaks (default tracegate)")
    add.add_argument("--ofd-id", type=int, help="OFD register: the ID of its frames' header")
    add.add_argument("--kgd-number", help="OFD register: its 12-digit KGD registration number")
    add.add_argument("--ofd-token", type=int,
                     help="OFD register: the token it was configured with (default: make one, shown once)")
    add.set_defaults(func=run_add)

    listing = actions.add_parser("list", help="list registered devices")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=run_list)

    revoke = actions.add_parser("revoke", help="revoke a device: its events are rejected from now on")
    revoke.add_argument("device_id", help="the device id")
    revoke.add_argument(
        "--from-seq",
        type=int,
        default=None,
        help="the key is compromised from this seq on: stored events from it are flagged "
        "signed_after_compromise (needs a running gateway)",
    )
    revoke.set_defaults(func=run_revoke)

    token = actions.add_parser(
        "ofd-token", help="give an OFD register a new token (after a reset or INVALID_TOKEN)",
        description="Set the token an OFD register must send next: the one configured in it (--ofd-token), "
        "or a new one made and shown once.",
    )
    token.add_argument("device_id", help="the device id")
    token.add_argument("--ofd-token", type=int, help="the token (default: make one, shown once)")
    token.set_defaults(func=run_ofd_token)

    for action in (add, listing, revoke, token):
        add_common_options(action)
        action.add_argument(
            "--gateway",
            default=None,
            help="URL of a running gateway (default: the one serving --data, if any)",
        )
        action.add_argument(
            "--token", default=None, help="admin token (default: read from <data>/admin.token)"
        )


def _fail(message: str) -> int:
    print(f"tracegate devices: {message}", file=sys.stderr)
    return 1


def run_add(args: argparse.Namespace) -> int:
    """Register one device."""
    settings = settings_from_args(args)
    body: dict[str, Any] = {"device_id": args.device_id, "seller_tin": args.tin, "store_id": args.store}
    if args.protocol == "ofd":
        if args.key is not None:
            return _fail("an OFD register has no key of its own: leave --key out")
        if args.ofd_id is None or args.kgd_number is None:
            return _fail("an OFD register needs --ofd-id and --kgd-number")
        body.update(protocol="ofd", ofd_id=args.ofd_id, kgd_number=args.kgd_number, ofd_token=args.ofd_token)
    else:
        if args.key is None:
            return _fail("--key is required (or --protocol ofd for an OFD register)")
        try:
            body["public_key_pem"] = args.key.read_text()
        except OSError as exc:
            return _fail(f"cannot read {args.key}: {exc.strerror}")
    try:
        client = gateway_client(settings, args.gateway, args.token)
        if client is not None:
            answer = client.call("POST", "/v1/admin/devices", body)
        else:
            answer = on_data_dir(settings, lambda c, db: _add_offline(c, db, settings, body))
    except (AdminError, GatewayError) as exc:
        return _fail(str(exc))
    ofd = f", OFD id {answer['ofd_id']}, KGD number {answer['kgd_number']}" if "ofd_id" in answer else ""
    print(f"registered {answer['device_id']} (seller {answer['seller_tin']}, key {answer['key_id']}{ofd})")
    _print_made_token(answer)
    return 0


def _print_made_token(answer: dict[str, Any]) -> None:
    if "ofd_token" in answer:
        print(f"OFD token {answer['ofd_token']} (shown once: enter it in the register)")


def _add_offline(client: Any, db: str, settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    registry = load_registry(client, db)
    made = None
    if body.get("protocol") == "ofd":
        registration = ofd_registration.parse_registration(body)
        keys = OfdKeys.load_or_create(settings.ofd_key_file)
        to_save, device, made = ofd_registration.register(registry, registration, keys)
    else:
        device = new_device(**body)
        to_save = registration_decision(
            registry.get(device.device_id), device, registry.revoked_keys(device.device_id)
        )
    if to_save is None:
        existing = registry.get(device.device_id)
        assert existing is not None
        return device_json(existing)
    save_device(client, db, to_save)
    return device_json(to_save) | ofd_registration.registration_json(to_save, made)


def run_list(args: argparse.Namespace) -> int:
    """List devices as a table or JSON."""
    settings = settings_from_args(args)
    try:
        client = gateway_client(settings, args.gateway, args.token)
        if client is not None:
            devices = client.call("GET", "/v1/admin/devices")["devices"]
        else:
            devices = [device_json(d) for d in on_data_dir(settings, load_devices)]
    except (AdminError, GatewayError) as exc:
        return _fail(str(exc))
    devices.sort(key=lambda d: d["device_id"])
    if args.json:
        print(json.dumps(devices, indent=2))
        return 0
    print(f"{'DEVICE':<24} {'SELLER TIN':<12} {'STORE':<16} {'KEY ID':<16} {'STATUS':<8} PROTOCOL")
    for d in devices:
        protocol = d.get("protocol", "tracegate")
        if "ofd_id" in d:
            protocol += f" (OFD id {d['ofd_id']}, KGD {d['kgd_number']})"
        print(
            f"{d['device_id']:<24} {d['seller_tin']:<12} {d['store_id']:<16} {d['key_id']:<16} "
            f"{d['status']:<8} {protocol}"
        )
    print(f"{len(devices)} device(s)")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    """Revoke one device."""
    settings = settings_from_args(args)
    try:
        client = gateway_client(settings, args.gateway, args.token)
        quoted = urllib.parse.quote(args.device_id, safe="")
        if args.from_seq is not None:
            if client is None:
                return _fail("--from-seq needs a running gateway (start tracegate serve)")
            body = {"from_seq": args.from_seq}
            answer = client.call("POST", f"/v1/admin/devices/{quoted}/revoke-from", body)
            print(f"flagged {answer['flagged']} stored events signed from seq {args.from_seq} on")
        elif client is not None:
            client.call("POST", f"/v1/admin/devices/{quoted}/revoke")
        else:
            on_data_dir(settings, lambda c, db: _revoke_offline(c, db, args.device_id))
    except (AdminError, GatewayError) as exc:
        return _fail(str(exc))
    print(f"revoked {args.device_id}")
    return 0


def _revoke_offline(client: Any, db: str, device_id: str) -> None:
    device = {d.device_id: d for d in load_devices(client, db)}.get(device_id)
    if device is None:
        raise GatewayError(errors.NOT_FOUND, f"no device {device_id}")
    save_device(client, db, revoked(device))


def run_ofd_token(args: argparse.Namespace) -> int:
    """Set an OFD register's token."""
    settings = settings_from_args(args)
    body = {} if args.ofd_token is None else {"ofd_token": args.ofd_token}
    try:
        client = gateway_client(settings, args.gateway, args.token)
        quoted = urllib.parse.quote(args.device_id, safe="")
        if client is not None:
            answer = client.call("POST", f"/v1/admin/devices/{quoted}/ofd-token", body)
        else:
            answer = on_data_dir(
                settings, lambda c, db: _token_offline(c, db, settings, args.device_id, body)
            )
    except (AdminError, GatewayError) as exc:
        return _fail(str(exc))
    print(f"new OFD token set for {args.device_id}")
    _print_made_token(answer)
    return 0


def _token_offline(
    client: Any, db: str, settings: Settings, device_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    device = {d.device_id: d for d in load_devices(client, db)}.get(device_id)
    if device is None:
        raise GatewayError(errors.NOT_FOUND, f"no device {device_id}")
    given = body.get("ofd_token")
    token = ofd_registration.new_token() if given is None else ofd_registration.parse_token(given)
    updated = ofd_registration.with_token(device, token, OfdKeys.load_or_create(settings.ofd_key_file))
    save_device(client, db, updated)
    made = token if given is None else None
    return device_json(updated) | ofd_registration.registration_json(updated, made)
