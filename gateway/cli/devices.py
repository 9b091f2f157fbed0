"""`tracegate devices add|list|revoke`: the operator registers registers' public keys."""

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
from gateway.devices import Device, new_device, registration_decision, revoked
from gateway.errors import GatewayError
from gateway.http.admin import device_json
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

    add = actions.add_parser("add", help="register a device and its public key")
    add.add_argument("--id", required=True, dest="device_id", help="the register's device id")
    add.add_argument("--tin", required=True, help="seller TIN (12-digit BIN/IIN)")
    add.add_argument("--store", required=True, help="store id")
    add.add_argument("--key", required=True, type=Path, help="file with the device's P-256 public key (PEM)")
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

    for action in (add, listing, revoke):
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
    try:
        pem = args.key.read_text()
    except OSError as exc:
        return _fail(f"cannot read {args.key}: {exc.strerror}")
    body = {
        "device_id": args.device_id,
        "seller_tin": args.tin,
        "store_id": args.store,
        "public_key_pem": pem,
    }
    try:
        client = gateway_client(settings, args.gateway, args.token)
        if client is not None:
            answer = client.call("POST", "/v1/admin/devices", body)
        else:
            answer = device_json(on_data_dir(settings, lambda c, db: _add_offline(c, db, new_device(**body))))
    except (AdminError, GatewayError) as exc:
        return _fail(str(exc))
    print(f"registered {answer['device_id']} (seller {answer['seller_tin']}, key {answer['key_id']})")
    return 0


def _add_offline(client: Any, db: str, device: Device) -> Device:
    registry = load_registry(client, db)
    existing = registry.get(device.device_id)
    to_save = registration_decision(existing, device, registry.revoked_keys(device.device_id))
    if to_save is None:
        assert existing is not None
        return existing
    save_device(client, db, to_save)
    return to_save


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
    print(f"{'DEVICE':<24} {'SELLER TIN':<12} {'STORE':<16} {'KEY ID':<16} STATUS")
    for d in devices:
        print(
            f"{d['device_id']:<24} {d['seller_tin']:<12} {d['store_id']:<16} {d['key_id']:<16} {d['status']}"
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
