"""Proof that a gzip file is whole: decompressed to its end-of-stream marker, on whole lines.

The download proves it while the bytes arrive when nothing else reads the file; when the
month's one pass follows, the pass reads the file through `VerifiedGzipFile`, which proves
the same while it decompresses for the CSV reader - one decompression of the month
instead of two (8 s of a 20M-row yellow month). Inflated by ISA-L (`isal`, zlib's API):
half zlib's CPU (a 60 MB slice of a yellow month: 0.67 s against 1.22 s), on a machine
where the month's pass is bound by CPU.
"""

from __future__ import annotations

import io
from pathlib import Path

from isal import isal_zlib

READ_BYTES = 256 << 10
"""Compressed bytes inflated at a time (~1-2 MiB of CSV, the CSV reader's block)."""


class SourceFileCorrupt(Exception):
    """The file arrived but is not a complete gzip stream of whole lines."""


class GzipVerifier:
    """Decompresses a gzip stream as it is fed, to prove it is complete.

    Counts lines, so a truncated stream or a file cut mid-line is reported with the
    last complete line, the way an interrupted copy of a release file looks.
    """

    def __init__(self, name: str):
        self.name = name
        self._inflater = _inflater()
        self.lines = 0
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        """Inflate `chunk` (ISA-L releases the GIL while it inflates), counting its lines."""
        while chunk:
            try:
                data = self._inflater.decompress(chunk)
            except isal_zlib.error as err:
                raise SourceFileCorrupt(
                    f"{self.name}: not a valid gzip stream after line {self.lines} ({err})."
                ) from None
            self._take(data)
            chunk = b""
            if self._inflater.eof and self._inflater.unused_data:
                # A concatenated (multi-member) gzip file: start the next member.
                chunk = self._inflater.unused_data
                self._inflater = _inflater()

    def _take(self, data: bytes) -> None:
        if data:
            self.lines += data.count(b"\n")
            self._tail = (self._tail + data)[-200:] if len(data) < 200 else data[-200:]

    def finish(self) -> int:
        """The lines of the whole stream; SourceFileCorrupt if it is truncated or cut mid-line."""
        self._take(self._inflater.flush())
        if not self._inflater.eof:
            raise SourceFileCorrupt(
                f"{self.name}: the gzip stream is truncated: it ends after line {self.lines}, "
                "before the end-of-stream marker."
            )
        if self._tail and not self._tail.endswith(b"\n"):
            cut = self._tail.rsplit(b"\n", 1)[-1].decode("utf-8", "replace")
            raise SourceFileCorrupt(
                f"{self.name}: the file is cut off at line {self.lines + 1}: its last line "
                f"{cut!r} has no line end (an interrupted copy?)."
            )
        return self.lines


class VerifiedGzipFile(io.RawIOBase):
    """A gzip file read decompressed, raising SourceFileCorrupt where the stream proves
    incomplete - before a reader sees a cut-off last line as data.

    The hot path inflates straight into the reader's request (no buffer copies, no line
    counting: both cost seconds on a 2.6 GB month); only a file found broken is read
    again, by `GzipVerifier`, for the message with its line."""

    def __init__(self, path: Path, name: str):
        self._path, self._name = path, name
        self._file = open(path, "rb")  # noqa: SIM115 - closed with this object
        self._inflater = _inflater()
        self._input = b""  # compressed bytes read and not yet inflated
        self._member_open = False  # inside a gzip member that has not reached its end
        self._last = b""  # the last byte handed out: a whole file ends on a line end

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return self.readall()
        while True:
            if not self._input:
                self._input = self._file.read(READ_BYTES)
                if not self._input:
                    if self._member_open or (self._last and self._last != b"\n"):
                        self._fail()
                    return b""
            self._member_open = True
            try:
                data = self._inflater.decompress(self._input, size)
            except isal_zlib.error:
                self._fail()
            self._input = self._inflater.unconsumed_tail
            if self._inflater.eof:  # the member's end; more bytes: the next member
                self._input, self._member_open = self._inflater.unused_data, False
                self._inflater = _inflater()
            if data:
                self._last = data[-1:]
                return data

    def _fail(self):
        """The file is not whole: say where, as the download's check words it."""
        verifier = GzipVerifier(self._name)
        with open(self._path, "rb") as again:
            for chunk in iter(lambda: again.read(READ_BYTES), b""):
                verifier.feed(chunk)
        verifier.finish()
        raise SourceFileCorrupt(f"{self._name}: not a whole gzip stream.")

    def close(self) -> None:
        self._file.close()
        super().close()


def _inflater():
    return isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
