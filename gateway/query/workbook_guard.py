"""What an uploaded XLSX may hold before openpyxl reads it: bounded inflation, no DOCTYPE, no huge token.

An XLSX is a zip of XML parts, and openpyxl trusts both: a 205 KB upload whose one cell inflated to 200 MiB
was read whole and echoed back (three at once took 1.2 GiB and stalled the gateway), and a DOCTYPE made the
XML parser expand entities (a 500 at its amplification limit). So every part is inflated here first, by
our own bounded inflater over its raw stream, and counted, before openpyxl opens the file:

* all parts together inflate to at most MAX_INFLATED_BYTES (the declared sizes are checked first, then
  each part's real stream, which must end where its size says: zipfile cuts a longer stream off only
  after inflating it, whole, when a part is read at once as openpyxl reads most of them);
* deflate or stored only, as Excel writes: zipfile inflates bzip2 and LZMA without bounding one read;
* no part that is XML has a DOCTYPE (entities are the only use of one; Excel never writes it), so no
  entity is ever expanded and no file is ever read;
* no XML token (a cell's text, a tag, an attribute) runs over MAX_TOKEN_BYTES without a '<': Excel holds
  at most 32 767 characters a cell, so a longer run is no spreadsheet, and nothing huge is built in memory.

Inflating twice costs some tenths of a second for the largest workbook allowed; it runs off the event loop.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from xml.parsers import expat

from gateway import errors
from gateway.errors import GatewayError

MAX_INFLATED_BYTES = 64 * 1024 * 1024  # four times the body limit; 200 000 books rows inflate to about 45 MB
MAX_PARTS = 1_000  # a workbook has a dozen parts, a few more a sheet
MAX_TOKEN_BYTES = 256 * 1024  # 32 767 characters, escaped (&amp; is 5 bytes), fit with room
_CHUNK = 1024 * 1024
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, 22 bytes we take from the central directory, lengths
UNREADABLE = "the file looks like XLSX but cannot be read"


def check_workbook(raw: bytes) -> None:
    """Refuse (413 upload_too_large, else 400 malformed_request) a workbook openpyxl must not read."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError):
        raise GatewayError(errors.MALFORMED_REQUEST, UNREADABLE) from None
    if len(parts) > MAX_PARTS:
        raise GatewayError(errors.MALFORMED_REQUEST, f"the workbook has more than {MAX_PARTS} parts")
    if sum(part.file_size for part in parts) > MAX_INFLATED_BYTES:
        raise _too_large()
    for part in parts:
        _check_part(raw, part)


def _too_large() -> GatewayError:
    limit = MAX_INFLATED_BYTES // (1024 * 1024)
    return GatewayError(errors.UPLOAD_TOO_LARGE, f"the workbook unpacks to more than {limit} MiB; split it")


def _check_part(raw: bytes, part: zipfile.ZipInfo) -> None:
    name = part.filename[:100]
    if part.flag_bits & 0x1:
        raise GatewayError(errors.MALFORMED_REQUEST, "the workbook is encrypted: save it without a password")
    if part.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        refused = f"the workbook part {name} is not compressed with deflate, as Excel writes it"
        raise GatewayError(errors.MALFORMED_REQUEST, refused)
    scan = _XmlScan(name)
    size = 0
    for chunk in _inflated(_stream(raw, part), part.compress_type == zipfile.ZIP_DEFLATED):
        size += len(chunk)
        if size > part.file_size:
            refused = f"the workbook part {name} inflates past the size it declares"
            raise GatewayError(errors.MALFORMED_REQUEST, refused)
        scan.feed(chunk)
    if size != part.file_size:
        raise GatewayError(errors.MALFORMED_REQUEST, UNREADABLE)


def _stream(raw: bytes, part: zipfile.ZipInfo) -> memoryview:
    """A part's compressed bytes, found as zipfile finds them (its local header names their start)."""
    start = part.header_offset
    if start < 0 or start + _LOCAL_HEADER.size > len(raw):
        raise GatewayError(errors.MALFORMED_REQUEST, UNREADABLE)
    signature, name_length, extra_length = _LOCAL_HEADER.unpack_from(raw, start)
    begin = start + _LOCAL_HEADER.size + name_length + extra_length
    if signature != b"PK\x03\x04" or begin + part.compress_size > len(raw):
        raise GatewayError(errors.MALFORMED_REQUEST, UNREADABLE)
    return memoryview(raw)[begin : begin + part.compress_size]


def _inflated(stream: memoryview, deflated: bool) -> Iterator[bytes]:
    """The part's bytes a chunk at a time: never more than _CHUNK inflated at once, whatever the ratio."""
    if not deflated:
        for at in range(0, len(stream), _CHUNK):
            yield bytes(stream[at : at + _CHUNK])
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    rest: bytes | memoryview = stream
    try:
        while not inflater.eof:
            chunk = inflater.decompress(rest, _CHUNK)
            rest = inflater.unconsumed_tail
            if not chunk and not rest:
                break  # the stream stops before its end: the size check refuses it
            yield chunk
    except zlib.error:
        raise GatewayError(errors.MALFORMED_REQUEST, UNREADABLE) from None


class _XmlScan:
    """Reads a part's prolog with expat (it refuses any DOCTYPE) and measures its runs without a '<'.

    A part expat cannot start reading is no XML (an image, a printer's settings): only its size counts,
    and openpyxl, which reads XML parts with the same expat, cannot read it as XML either.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.xml = True
        self.in_prolog = True
        self.run = 0  # bytes since the last '<'
        self.parser = expat.ParserCreate()
        self.parser.StartDoctypeDeclHandler = self._doctype
        self.parser.StartElementHandler = self._root

    def feed(self, chunk: bytes) -> None:
        """Check the next bytes of the part."""
        if self.in_prolog:
            try:
                self.parser.Parse(chunk, False)
            except _PrologRead:
                self.in_prolog = False
            except expat.ExpatError:
                self.xml = self.in_prolog = False
        if self.xml:
            self._measure(chunk)

    def _measure(self, chunk: bytes) -> None:
        first, *others = chunk.split(b"<")
        self.run += len(first)
        longest = self.run
        if others:
            longest = max(longest, *map(len, others))
            self.run = len(others[-1])
        if longest > MAX_TOKEN_BYTES:
            refused = (
                f"the workbook part {self.name} holds a cell or tag longer than {MAX_TOKEN_BYTES // 1024} KiB"
                " (Excel holds at most 32 767 characters a cell)"
            )
            raise GatewayError(errors.MALFORMED_REQUEST, refused)

    def _doctype(self, *_: object) -> None:
        refused = f"the workbook part {self.name} has a DOCTYPE: a workbook needs none, and it is not read"
        raise GatewayError(errors.MALFORMED_REQUEST, refused)

    def _root(self, *_: object) -> None:
        raise _PrologRead


class _PrologRead(Exception):
    """The root element began: no DOCTYPE can follow."""
