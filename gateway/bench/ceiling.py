"""Baseline "ceiling": a server that only decodes the IngestBatch and acks every envelope ACCEPTED.

Not a gateway: nothing is verified, journalled or stored. It measures what HTTP + protobuf on this
machine allow at all, so the real gateway's throughput can be read as a share of it.
Run: python -m gateway.bench.ceiling --port P
"""

from __future__ import annotations

import argparse
import time

from aiohttp import web

from gateway.wire import pb

PROTOBUF = "application/x-protobuf"


async def post_batch(request: web.Request) -> web.Response:
    """Decode and ack ACCEPTED, nothing else."""
    batch = pb.IngestBatch.FromString(await request.read())
    ack = pb.IngestAck(received_ms=time.time_ns() // 1_000_000, gateway_id="ceiling")
    for envelope in batch.envelopes:
        ack.acks.add(device_id=envelope.device_id, seq=envelope.seq, status=pb.ACCEPTED)
    return web.Response(body=ack.SerializeToString(), content_type=PROTOBUF)


async def healthz(request: web.Request) -> web.Response:
    """Always ready."""
    return web.json_response({"ok": True})


def main() -> None:
    """Serve on 127.0.0.1:--port until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/batches", post_batch)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
