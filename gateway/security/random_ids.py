"""Random ids (request, check and exchange ids) from the OS's generator, read a page at a time.

One getrandom call serves 256 request ids. A system call on the event loop lets go of the GIL, and on a
busy gateway taking it back from the journal and verify threads costs more than the call itself; the
bytes are the same cryptographic randomness os.urandom gives one id at a time. A forked child forgets
what its parent had read, so two processes never hand out the same bytes.
"""

from __future__ import annotations

import os
import threading

_PAGE = 4096


class _Entropy:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._page = b""
        self._at = 0
        os.register_at_fork(after_in_child=self._forget)

    def take(self, size: int) -> bytes:
        with self._lock:
            if self._at + size > len(self._page):
                self._page = os.urandom(max(_PAGE, size))
                self._at = 0
            at = self._at
            self._at = at + size
            return self._page[at:at + size]

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._page = b""
        self._at = 0


_ENTROPY = _Entropy()


def random_bytes(size: int) -> bytes:
    """size bytes from the OS's cryptographic generator, each handed out once in this process."""
    return _ENTROPY.take(size)


def random_id() -> str:
    """A uuid4 in hex (32 characters): 16 random bytes with the version 4 and RFC 4122 variant bits set."""
    raw = bytearray(_ENTROPY.take(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return raw.hex()
