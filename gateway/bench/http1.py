"""Bare HTTP/1.1 keep-alive answers for the bench's load generators: one response taken off a buffer.

The generators speak HTTP/1.1 over asyncio.Protocol instead of aiohttp's client, whose CPU a request
was a measurable share of the cores they share with the gateway (docs/performance.md, rounds 8 and 10).
"""

from __future__ import annotations


def take_response(buffer: bytearray) -> tuple[int, dict[str, str], bytes] | None:
    """(status, lower-case header fields, body) of the first whole response in buffer, removed from it;
    None while it is incomplete (the body is read to Content-Length, as the gateway always sends one)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    fields = {name.strip().lower(): value.strip()
              for name, _, value in (line.partition(":") for line in head[1:])}
    length = int(fields.get("content-length", "0"))
    if len(buffer) < end + 4 + length:
        return None
    body = bytes(buffer[end + 4:end + 4 + length])
    del buffer[:end + 4 + length]
    return int(head[0].split()[1]), fields, body
