"""A FUSE filesystem that keeps every write in memory until it is fsynced: kill it, and power is cut.

What Jepsen's LazyFS does, small enough to read: the files live in a backing directory; a write, a
truncate or an append changes only this process's copy of the file until fsync (or fdatasync) writes that
copy to the backing file and fsyncs it there. Names (create, mkdir, rename, link, unlink) go to the
backing directory at once, as a journalling filesystem makes metadata durable, so after a "power cut" a
file written but never fsynced is there with the contents it had at its last fsync: empty, short or old.

    python -m tests.reliability.lazyfs BACKING MOUNTPOINT   # serves until killed

The power cut: SIGKILL every process using the mount, SIGKILL this one (its unsynced data is gone),
`fusermount3 -u -z MOUNTPOINT`, and mount again over the same backing directory (power_cut.py).
"""

from __future__ import annotations

import errno
import os
import sys
import threading
from typing import Any

import mfusepy

_STAT_KEYS = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino", "st_blocks")


class LazyFS(mfusepy.Operations):  # type: ignore[misc]
    """Passthrough for names, in-memory until fsync for contents (keyed by inode, so links and renames
    share it)."""

    use_ns = True

    def __init__(self, backing: str) -> None:
        self.backing = os.path.realpath(backing)
        self._lock = threading.RLock()
        self._dirty: dict[int, bytearray] = {}  # inode -> the file's contents as written, not yet synced
        self._handles: dict[int, tuple[int, int, bool]] = {}  # fh -> (backing fd, inode, append)
        self._next_fh = 1

    def _path(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    # ── names: straight to the backing directory ──

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        """The backing file's attributes, with the size of its unsynced contents."""
        try:
            st = os.lstat(self._path(path))
        except OSError as exc:
            raise mfusepy.FuseOSError(exc.errno) from None
        attrs: dict[str, Any] = {key: getattr(st, key) for key in _STAT_KEYS}
        for key in ("st_atime", "st_mtime", "st_ctime"):
            attrs[key] = getattr(st, key + "_ns")  # use_ns: times in nanoseconds
        with self._lock:
            contents = self._dirty.get(st.st_ino)
            if contents is not None:
                attrs["st_size"] = len(contents)
                attrs["st_blocks"] = (len(contents) + 511) // 512
        return attrs

    def readdir(self, path: str, fh: int) -> list[str]:
        """The backing directory's entries."""
        return [".", "..", *os.listdir(self._path(path))]

    def readlink(self, path: str) -> str:
        """The backing symlink's target."""
        return os.readlink(self._path(path))

    def mkdir(self, path: str, mode: int) -> int:
        """mkdir in the backing directory."""
        os.mkdir(self._path(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        """rmdir in the backing directory."""
        os.rmdir(self._path(path))
        return 0

    def symlink(self, target: str, source: str) -> int:
        """A symlink at target pointing to source."""
        os.symlink(source, self._path(target))
        return 0

    def link(self, target: str, source: str) -> int:
        """A hard link target to source (they share the inode, and so the unsynced contents)."""
        os.link(self._path(source), self._path(target))
        return 0

    def unlink(self, path: str) -> int:
        """Remove a name; the unsynced contents go with the last name of an inode nobody holds open."""
        backing = self._path(path)
        st = os.lstat(backing)
        os.unlink(backing)
        self._forget_if_gone(st.st_ino, st.st_nlink - 1)
        return 0

    def rename(self, old: str, new: str) -> int:
        """rename in the backing directory (a file it replaces loses its unsynced contents)."""
        try:
            replaced = os.lstat(self._path(new))
        except FileNotFoundError:
            replaced = None
        os.rename(self._path(old), self._path(new))
        if replaced is not None:
            self._forget_if_gone(replaced.st_ino, replaced.st_nlink - 1)
        return 0

    def _forget_if_gone(self, inode: int, links_left: int) -> None:
        with self._lock:
            in_use = any(handle[1] == inode for handle in self._handles.values())
            if links_left <= 0 and not in_use:
                self._dirty.pop(inode, None)

    def chmod(self, path: str, mode: int) -> int:
        """chmod in the backing directory."""
        os.chmod(self._path(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        """chown in the backing directory."""
        os.chown(self._path(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        """utime in the backing directory."""
        os.utime(self._path(path), ns=times)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        """The backing filesystem's figures."""
        st = os.statvfs(self._path(path))
        return {key: getattr(st, key) for key in (
            "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag",
            "f_frsize", "f_namemax")}

    def access(self, path: str, amode: int) -> int:
        """access() on the backing file."""
        if not os.access(self._path(path), amode):
            raise mfusepy.FuseOSError(errno.EACCES)
        return 0

    # ── contents: in memory until fsync ──

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        """A new, empty file (its name is durable, its contents are not)."""
        fd = os.open(self._path(path), os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
        return self._handle(fd, append=False)

    def open(self, path: str, flags: int) -> int:
        """Open the backing file read-write (the kernel checked the caller's access already)."""
        fd = os.open(self._path(path), os.O_RDWR if os.access(self._path(path), os.W_OK) else os.O_RDONLY)
        return self._handle(fd, append=bool(flags & os.O_APPEND))

    def _handle(self, fd: int, *, append: bool) -> int:
        with self._lock:
            fh = self._next_fh
            self._next_fh += 1
            self._handles[fh] = (fd, os.fstat(fd).st_ino, append)
        return fh

    def _contents(self, fd: int, inode: int) -> bytearray:
        """The unsynced copy of a file, made from the backing file at its first change (lock held)."""
        contents = self._dirty.get(inode)
        if contents is None:
            size = os.fstat(fd).st_size
            contents = self._dirty[inode] = bytearray(os.pread(fd, size, 0))
        return contents

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        """What the file holds now, synced or not."""
        fd, inode, _ = self._handles[fh]
        with self._lock:
            contents = self._dirty.get(inode)
            if contents is not None:
                return bytes(contents[offset : offset + size])
        return os.pread(fd, size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        """Change the in-memory copy only."""
        fd, inode, append = self._handles[fh]
        with self._lock:
            contents = self._contents(fd, inode)
            if append:
                offset = len(contents)
            if offset > len(contents):
                contents.extend(bytes(offset - len(contents)))
            contents[offset : offset + len(data)] = data
        return len(data)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        """Change the in-memory copy's length only."""
        backing = self._path(path) if path is not None else None
        with self._lock:
            if fh is not None and fh in self._handles:
                fd, inode, _ = self._handles[fh]
                contents = self._contents(fd, inode)
            else:
                assert backing is not None
                fd = os.open(backing, os.O_RDONLY)
                try:
                    contents = self._contents(fd, os.fstat(fd).st_ino)
                finally:
                    os.close(fd)
            if length < len(contents):
                del contents[length:]
            else:
                contents.extend(bytes(length - len(contents)))
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        """Write the in-memory copy to the backing file and fsync it: from now on it survives a cut."""
        fd, inode, _ = self._handles[fh]
        with self._lock:
            contents = self._dirty.pop(inode, None)
            if contents is not None:
                os.pwrite(fd, bytes(contents), 0)
                os.ftruncate(fd, len(contents))
        os.fsync(fd)
        return 0

    def release(self, path: str, fh: int) -> int:
        """Close the backing file (closing does not sync: unsynced contents stay in memory)."""
        with self._lock:
            fd, inode, _ = self._handles.pop(fh)
            os.close(fd)
            try:
                links = os.lstat(self._path(path)).st_nlink if path else 0
            except OSError:
                links = 0
        if links == 0:
            self._forget_if_gone(inode, 0)
        return 0


def main() -> None:
    """Serve BACKING at MOUNTPOINT until killed."""
    backing, mountpoint = sys.argv[1], sys.argv[2]
    mfusepy.FUSE(LazyFS(backing), mountpoint, foreground=True, nothreads=False)


if __name__ == "__main__":
    main()
