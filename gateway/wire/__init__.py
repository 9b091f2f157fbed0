"""The v1 wire contract: generated protobuf messages and the signing/chaining rules of proto/README.md."""

from gateway.wire import tracegate_pb2 as pb

__all__ = ["pb"]
