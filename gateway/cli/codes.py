"""`tracegate codes …`: validate marking codes from stdin and benchmark the validator against biip."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, BinaryIO

from gateway.codes.parser import CodeResult, failure, validate_code
from gateway.codes.verdict_json import verdict_json

_CHUNK = 1 << 16


def codes_subparsers(subparsers: Any) -> Any:
    """The `codes` command's own sub-subparsers, created once; other modules add `codes import` etc. here."""
    existing = subparsers.choices.get("codes")
    if existing is not None:
        return existing._tracegate_codes_sub
    parser = subparsers.add_parser("codes", help="goods-marking codes: validate, benchmark")
    sub = parser.add_subparsers(dest="codes_command", metavar="CODES_COMMAND")
    parser._tracegate_codes_sub = sub
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)
    return sub


def register(subparsers: Any) -> None:
    """Add `codes validate` and `codes bench`."""
    sub = codes_subparsers(subparsers)
    validate = sub.add_parser(
        "validate", help="read codes from stdin (one per line, split on \\n only), write one JSON object each"
    )
    validate.add_argument(
        "--input-format", choices=("text", "json"), default="text",
        help="text: raw UTF-8 lines (one trailing CR stripped); json: one JSON string literal per line",
    )
    validate.set_defaults(func=_run_validate)
    bench = sub.add_parser(
        "bench", help="codes/s of the validator, of `codes validate` end to end and of biip on one corpus",
        description="Generate a corpus of marking codes and measure, in alternating rounds and CPU time, "
        "validate_code in this process, `tracegate codes validate` as a separate process from a file of "
        "the corpus to a file of JSON lines (start-up included), and biip's parser on a slice of it; "
        "print codes/s, the ratios to biip and the command's start-up time. Needs biip: "
        "pip install 'tracegate[bench]'.",
    )
    bench.add_argument("--count", type=int, default=200_000, help="codes for our validator and the command")
    bench.add_argument("--biip-count", type=int, default=5_000, help="codes for biip (it is slow)")
    bench.add_argument("--rounds", type=int, default=5, help="alternating rounds; each keeps its best")
    bench.set_defaults(func=_run_bench)


def result_for_line(line: bytes, input_format: str) -> CodeResult:
    """The verdict for one input line (without its \\n): decoding errors become error results."""
    if line.endswith(b"\r"):
        line = line[:-1]  # CRLF files; CR is in no GS1 set, so it can never be part of a code
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return failure("bad_encoding", f"not UTF-8 at byte {exc.start + 1}")
    if input_format == "json":
        try:
            value = json.loads(text)
        except ValueError:
            return failure("bad_json", "the line is not valid JSON")
        if not isinstance(value, str):
            return failure("bad_json", f"the line is JSON {type(value).__name__}, not a string")
        text = value
    return validate_code(text)


def _text_verdicts(block: bytes) -> list[str]:
    """JSON lines for a block of whole text lines: decoded and split at C speed, one pass of
    validate_code and verdict_json; a block with a line that is not UTF-8 goes line by line."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        return [verdict_json(result_for_line(line, "text")) for line in block.split(b"\n")]
    lines = text.split("\n")
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return list(map(verdict_json, map(validate_code, lines)))


def _json_verdicts(block: bytes) -> list[str]:
    """JSON lines for a block of whole JSON-string lines."""
    return [verdict_json(result_for_line(line, "json")) for line in block.split(b"\n")]


def validate_stream(source: BinaryIO, sink: BinaryIO, input_format: str, chunk_size: int = _CHUNK) -> int:
    """Stream source lines to sink as JSON objects, in order, in constant memory; returns the line count.

    Input is read in chunks of whatever is available (so a terminal gets each answer at once and a pipe
    or file about 64 KiB at a time), cut after the last \\n; the rest waits for the next chunk.
    """
    read = getattr(source, "read1", source.read)
    verdicts = _text_verdicts if input_format == "text" else _json_verdicts
    count = 0
    tail: list[bytes] = []  # the start of a line still without its \n, in pieces (no quadratic copying)
    first = True
    while True:
        data = read(chunk_size)
        if data:
            cut = data.rfind(b"\n")
            if cut == -1:
                tail.append(data)
                continue
            block = b"".join([*tail, data[:cut]]) if tail else data[:cut]
            tail = [data[cut + 1:]] if cut + 1 < len(data) else []
        elif tail:
            block, tail = b"".join(tail), []  # a last line without \n is still a line
        else:
            break
        if first:
            first = False
            if block.startswith(b"\xef\xbb\xbf"):
                block = block[3:]  # a UTF-8 BOM from Windows editors is file framing, not code
        answers = verdicts(block)
        count += len(answers)
        answers.append("")
        sink.write("\n".join(answers).encode("utf-8"))
        sink.flush()
    return count


def _run_validate(args: argparse.Namespace) -> int:
    try:
        validate_stream(sys.stdin.buffer, sys.stdout.buffer, args.input_format)
    except BrokenPipeError:
        # The reader stopped early (`| head`): no traceback; point stdout at /dev/null so that Python's
        # own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def _run_bench(args: argparse.Namespace) -> int:
    from gateway.codes.bench import BiipMissing, run_bench

    try:
        figures = run_bench(args.count, args.biip_count, args.rounds)
    except BiipMissing as exc:
        print(f"tracegate codes bench: {exc}", file=sys.stderr)
        return 2
    print(f"corpus: {figures.count:,} generated marking codes (5 shapes); CPU time, one core, "
          f"best of {args.rounds}")
    for name, per_s, note in (
        ("validate_code (library)", figures.ours_per_s, f"{figures.ratio:.1f}x biip (target >= 50x)"),
        ("codes validate, end to end", figures.cli_per_s,
         f"{figures.cli_ratio:.1f}x biip (target >= 25x; a process from file to file, start-up included)"),
        ("biip", figures.biip_per_s, ""),
    ):
        print(f"{name + ':':28} {per_s:>9,.0f} codes/s  {note}")
    print(f"{'start-up of codes validate:':28} {figures.startup_s:.3f} s wall, "
          f"{figures.startup_cpu_s:.3f} s CPU (target < 0.3 s; the bare interpreter "
          f"{figures.python_startup_s:.3f} s wall)")
    return 0
