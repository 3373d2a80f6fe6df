"""What a recording's WAV header says: its format, how long it lasts, whether it is finished.

Asterisk writes a WAV file's sizes into its header only when it closes the file, so a file
whose header agrees with its length on disk has been written to the end; one still being
written (or cut short) does not. Pure parsing of bytes, no I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_RIFF = struct.Struct("<4sI4s")
_CHUNK = struct.Struct("<4sI")
_FMT = struct.Struct("<HHIIHH")


@dataclass(frozen=True, slots=True)
class WavInfo:
    channels: int
    rate: int  # samples a second
    bits: int  # per sample
    riff_size: int  # as the header says: the file's length less 8
    data_offset: int  # where the samples start
    data_size: int  # as the header says

    @property
    def byte_rate(self) -> int:
        return self.rate * self.channels * max(self.bits // 8, 1)

    @property
    def duration(self) -> float:
        """Seconds of audio, from the header's data size."""
        return self.data_size / self.byte_rate if self.byte_rate else 0.0

    def complete(self, file_size: int) -> bool:
        """The header's sizes agree with ``file_size`` (an odd data chunk may carry the one
        pad byte RIFF asks for, written after the header was updated)."""
        end = self.data_offset + self.data_size
        pad = self.data_size % 2
        return (
            self.data_size > 0
            and end + pad >= file_size >= end
            and (self.riff_size + 8 in (file_size, file_size - pad))
        )


def wav_info(head: bytes) -> WavInfo | None:
    """The format and sizes of a RIFF/WAVE file from its first bytes (the ``fmt `` and
    ``data`` chunk headers must be within ``head``); None for anything else."""
    if len(head) < _RIFF.size:
        return None
    riff, riff_size, wave = _RIFF.unpack_from(head)
    if riff != b"RIFF" or wave != b"WAVE":
        return None
    offset = _RIFF.size
    fmt: tuple[int, ...] | None = None
    while offset + _CHUNK.size <= len(head):
        name, size = _CHUNK.unpack_from(head, offset)
        body = offset + _CHUNK.size
        if name == b"fmt " and body + _FMT.size <= len(head):
            fmt = _FMT.unpack_from(head, body)
        elif name == b"data":
            if fmt is None:
                return None
            _tag, channels, rate, _byte_rate, _align, bits = fmt
            return WavInfo(channels, rate, bits, riff_size, body, size)
        offset = body + size + size % 2
    return None
