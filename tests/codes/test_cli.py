"""`tracegate codes validate`: one JSON object per input line, split on \\n only, exactly validate_code's."""

from __future__ import annotations

import io
import json
import select
import subprocess
import sys

import pytest

from gateway.cli.codes import result_for_line, validate_stream
from gateway.cli.main import build_parser
from gateway.codes import validate_code
from gateway.codes.bench import generate_corpus
from gateway.codes.verdict_json import verdict_json
from tests.codes.code_builders import GS, dairy, raw_pack, shoes
from tests.codes.test_digital_link import INVALID as DL_INVALID
from tests.codes.test_digital_link import VALID as DL_VALID
from tests.codes.test_validate_code import INVALID, VALID


def _run(data: bytes, input_format: str = "text") -> list[dict[str, object]]:
    sink = io.BytesIO()
    validate_stream(io.BytesIO(data), sink, input_format)
    return [json.loads(line) for line in sink.getvalue().decode("utf-8").split("\n")[:-1]]


def test_lines_split_on_newline_only_and_match_validate_code() -> None:
    codes = [shoes(), dairy() + "\x0b", "]d2" + GS + dairy(), raw_pack(), "", dairy() + "\x1c" + "93abcd"]
    out = _run(("\n".join(codes) + "\n").encode())
    assert out == [validate_code(code).to_json_dict() for code in codes]
    assert out[0]["ok"] and not out[1]["ok"] and out[4]["error"] == "empty_input"


def test_crlf_last_line_without_newline_and_bom() -> None:
    data = b"\xef\xbb\xbf" + dairy().encode() + b"\r\n" + shoes().encode()
    out = _run(data)
    assert [row["ok"] for row in out] == [True, True]


def test_bad_utf8_line_is_an_error_object_in_place() -> None:
    out = _run(dairy().encode() + b"\n\xff\xfe01\n" + dairy().encode() + b"\n")
    assert [row["error"] for row in out] == [None, "bad_encoding", None]


def test_json_lines_take_string_literals_and_report_others() -> None:
    escaped = '"\\u001d' + dairy().replace(GS, "\\u001d") + '"'
    lines = [json.dumps(shoes()), escaped, "42", "", "not json", "null"]
    out = _run("\n".join(lines).encode(), "json")
    assert [row["error"] for row in out] == [None, None, "bad_json", "bad_json", "bad_json", "bad_json"]
    assert out[0] == validate_code(shoes()).to_json_dict()


def test_output_is_byte_for_byte_validate_code_as_json() -> None:
    code = "01" + "04600439931256" + "21Аb3!x%" + GS + "93abcd"  # non-ASCII detail text survives as UTF-8
    sink = io.BytesIO()
    validate_stream(io.BytesIO(code.encode() + b"\n"), sink, "text")
    expected = json.dumps(validate_code(code).to_json_dict(), ensure_ascii=False) + "\n"
    assert sink.getvalue() == expected.encode()


def test_many_lines_stream_in_order() -> None:
    codes = [dairy(serial=f"{n:06d}") for n in range(10_000)]
    out = _run(("\n".join(codes) + "\n").encode())
    assert [row["ais"]["21"] for row in out] == [f"{n:06d}" for n in range(10_000)]  # type: ignore[index]


def test_command_is_registered_with_room_for_more_codes_subcommands() -> None:
    args = build_parser().parse_args(["codes", "validate", "--input-format", "json"])
    assert args.input_format == "json"
    assert build_parser().parse_args(["codes", "bench", "--count", "10"]).count == 10


def test_other_modules_can_add_codes_subcommands() -> None:
    import argparse

    from gateway.cli.codes import codes_subparsers, register

    top = argparse.ArgumentParser().add_subparsers(dest="command")
    register(top)
    codes_subparsers(top).add_parser("import").set_defaults(func="imported")
    assert codes_subparsers(top) is codes_subparsers(top)
    root = top._name_parser_map["codes"]  # the same `codes` parser serves validate, bench and import
    assert root.parse_args(["import"]).func == "imported"
    assert root.parse_args(["validate"]).input_format == "text"


def test_real_process_reads_stdin_and_writes_stdout() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "codes", "validate"],
        input=(dairy() + "\r\n" + "]d1" + dairy() + "\n").encode(), capture_output=True, check=True,
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [row["error"] for row in rows] == [None, "not_gs1_data"]


def _every_kind_of_line() -> list[bytes]:
    """Generated codes, every valid and invalid case of the validator's tests, and what files hold."""
    codes = [*generate_corpus(2_000, seed=11), *VALID.values(), *(c for c, _ in INVALID.values()), *DL_VALID,
             *DL_INVALID, dairy(serial='Ab"\\x'), shoes(serial='a"b"c"d"e"f"g'), "\u2028", "\t\x00\x7f"]
    lines = [code.encode() for code in codes]
    return [*lines, b"", b"\xff\xfe01", dairy().encode() + b"\r", b"\r\r", b"01\r0460", "тест".encode()]


def _plain(data: bytes, input_format: str) -> bytes:
    """What the command wrote before it was made fast: json.dumps of each line's verdict, line by line."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    lines[0] = lines[0].removeprefix(b"\xef\xbb\xbf")
    return b"".join(
        (json.dumps(result_for_line(line, input_format).to_json_dict(), ensure_ascii=False) + "\n").encode()
        for line in lines
    )


@pytest.mark.parametrize("chunk_size", [1, 5, 97, 65_536])
@pytest.mark.parametrize("input_format", ["text", "json"])
def test_output_is_byte_for_byte_the_plain_path(input_format: str, chunk_size: int) -> None:
    lines = _every_kind_of_line()
    if input_format == "json":
        lines = [json.dumps(line.decode("utf-8", "replace")).encode() for line in lines] + lines[-6:]
    data = b"\xef\xbb\xbf" + b"\n".join(lines)  # a BOM first, no \n after the last line
    sink = io.BytesIO()
    count = validate_stream(io.BytesIO(data), sink, input_format, chunk_size)
    assert sink.getvalue() == _plain(data, input_format)
    assert count == len(lines)


def test_verdict_json_is_json_dumps_for_every_verdict() -> None:
    results = [result_for_line(line, "text") for line in _every_kind_of_line()]
    kinds = {r.error for r in results}
    assert {None, "bad_encoding", "non_ascii", "missing_crypto", "bad_digital_link"} <= kinds
    expected = [json.dumps(r.to_json_dict(), ensure_ascii=False) for r in results]
    assert [verdict_json(r) for r in results] == expected


def test_a_pipe_gets_each_answer_as_soon_as_its_line_is_complete() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "codes", "validate"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for code in (dairy(), "]d1" + dairy(), shoes()):
            proc.stdin.write(code.encode()[:10])  # a scanner typing: half a line first
            proc.stdin.flush()
            proc.stdin.write(code.encode()[10:] + b"\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            assert ready, "no answer while the input stays open"
            assert json.loads(proc.stdout.readline()) == validate_code(code).to_json_dict()
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_bench_without_biip_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli.main import main

    monkeypatch.setitem(sys.modules, "biip", None)  # what an install without the bench extra looks like
    assert main(["codes", "bench", "--count", "100"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "biip" in err and "pip install 'tracegate[bench]'" in err and "Traceback" not in err


def test_bench_reports_the_command_end_to_end_against_biip(capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli.main import main

    assert main(["codes", "bench", "--count", "300", "--biip-count", "30", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    for figure in ("validate_code (library):", "codes validate, end to end:", "biip:", "start-up of"):
        assert figure in out
    assert out.count("x biip") == 2


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "codes", "validate"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write((dairy() + "\n").encode())
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["ok"]
    proc.stdout.close()  # what `| head -1` does
    _, err = proc.communicate((dairy() + "\n").encode() * 20_000, timeout=60)
    assert proc.returncode == 1
    assert b"Traceback" not in err
