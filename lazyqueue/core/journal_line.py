"""One line of tasks.journal: the entry's JSON, a tab, its CRC-32 in hex, a newline.

The checksum catches a flipped bit that would still parse (a status, an id,
a seq digit). A line without one, written before checksums, is read as it is.
"""

from __future__ import annotations

import zlib


def seal(body: bytes) -> bytes:
    """A journal line: the JSON, a tab, its CRC-32 in hex, a newline."""
    return b"%s\t%08x\n" % (body, zlib.crc32(body))


def unseal_line(line: bytes) -> bytes | None:
    """The JSON of a journal line, or None when its checksum does not match.

    A line without a checksum (written before checksums) is taken as it is.
    """
    if len(line) > 9 and line[-9:-8] == b"\t":
        body = line[:-9]
        try:
            crc = int(line[-8:], 16)
        except ValueError:
            return None
        return body if zlib.crc32(body) == crc else None
    return line


__all__ = ["seal", "unseal_line"]
