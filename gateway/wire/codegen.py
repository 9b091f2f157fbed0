"""Generates the Python protobuf code in gateway/wire from proto/; used by `make proto` and its test."""

from __future__ import annotations

import sys
from pathlib import Path

_PROTO = Path(__file__).resolve().parents[2] / "proto"
# (source directory, .proto file): our own contract, and the registers' OFD protocol.
SOURCES = (
    (_PROTO / "tracegate" / "v1", "tracegate.proto"),
    (_PROTO / "ofd" / "v2", "ofd.proto"),
)
GENERATED = ("tracegate_pb2.py", "tracegate_pb2.pyi", "ofd_pb2.py", "ofd_pb2.pyi")


def generate(out_dir: Path) -> None:
    """Run protoc (from grpcio-tools) on every source, writing *_pb2.py and .pyi into out_dir."""
    from grpc_tools import protoc  # dev dependency: only needed to regenerate

    out_dir.mkdir(parents=True, exist_ok=True)
    for root, name in SOURCES:
        args = ["protoc", f"-I{root}", f"--python_out={out_dir}", f"--pyi_out={out_dir}", name]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {root / name}")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
