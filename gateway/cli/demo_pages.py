"""The demo's last words: where the analyst and retailer pages are, with tokens issued for the demo."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gateway.cli.admin_client import AdminClient


def point_at_pages(client: AdminClient, url: str, retailer_tin: str | None) -> None:
    """Issue an analyst (and a retailer) token through the gateway and print the /ui URL with them."""
    analyst = client.call(
        "POST", "/v1/admin/tokens", {"scope": "analyst", "label": "demo", "expires_days": 7}
    )
    print("\nthe pages (dashboard, trace a code, anomaly queue, receipts, many codes, shifts, books;"
          " English, Russian or Kazakh):")
    print(f"  open {url}/ui/ and sign in with the analyst token {analyst['token']}")
    if retailer_tin:
        retailer = client.call(
            "POST",
            "/v1/admin/tokens",
            {"scope": "retailer", "seller_tin": retailer_tin, "label": "demo", "expires_days": 7},
        )
        print(f"  a retailer ({retailer_tin}) sees only its own data: {retailer['token']}")
    print(f"  the same in a terminal: tracegate anomalies --gateway {url} --token {analyst['token']}")
    print(f"  the API: {url}/v1/openapi.json")


def stop_or_keep(gateway: subprocess.Popen[bytes], keep_running: bool, url: str, data: Path,
                 ofd_port: int) -> None:
    """Say how to stop a gateway the demo leaves running, or how to bring the stopped one back."""
    port = url.rsplit(":", 1)[-1]
    if keep_running:
        print(
            f"\nthe gateway keeps running at {url} (pid {gateway.pid}); stop it with: kill -INT {gateway.pid}"
        )
    else:
        print(
            f"\nthe demo stops its gateway now; for the pages run `tracegate demo --keep-running`, or bring "
            f"this one back with `tracegate serve --data {data} --port {port} --ofd-port {ofd_port}` "
            "(the tokens stay valid)"
        )
