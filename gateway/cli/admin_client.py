"""How CLI commands reach a running gateway's admin API (blocking, standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from gateway.settings import Settings


class AdminError(Exception):
    """The gateway answered with an error (its stable code and text) or could not be reached."""


class AdminClient:
    """A tiny JSON client for /v1/admin/…, authenticated with the admin token."""

    def __init__(self, url: str, token: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request; returns the JSON answer or raises AdminError with the gateway's words."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer: dict[str, Any] = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            try:
                err = json.loads(exc.read())
                message = f"{err.get('error')}: {err.get('detail')}"
            except ValueError:
                message = f"HTTP {exc.code}"
            raise AdminError(message) from None
        except (urllib.error.URLError, OSError) as exc:
            raise AdminError(f"cannot reach the gateway at {self.url}: {exc}") from None


def admin_token(settings: Settings, given: str | None) -> str:
    """The token given on the command line, or the one in the data directory."""
    if given:
        return given
    try:
        return settings.admin_token_file.read_text().strip()
    except OSError:
        raise AdminError(
            f"no admin token: pass --token, or run where {settings.admin_token_file} is readable"
        ) from None
