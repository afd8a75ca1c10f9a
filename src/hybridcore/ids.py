"""Time-sortable unique ids (ULIDs) for commands and builds.

A ULID is 48 bits of milliseconds since the epoch and 80 random bits, in Crockford base32, so ids sort
by creation time as plain strings. Ids made in the same millisecond by this process increment the
random part instead of drawing a new one, so they still sort in creation order (the ULID spec's
monotonic mode). Written here rather than imported because python-ulid costs ~60 ms of start-up.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# A ULID as a regex fragment: 26 Crockford base32 characters, the first at most 7 (48-bit time).
ULID_PATTERN = "[0-7][0-9A-HJKMNP-TV-Z]{25}"
_lock = threading.Lock()
_last = (0, 0)


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


def new_ulid() -> str:
    global _last
    with _lock:
        ms = time.time_ns() // 1_000_000
        last_ms, last_rand = _last
        if ms <= last_ms:
            ms, rand = last_ms, last_rand + 1
            if rand >= 1 << 80:  # 2**80 ids in one millisecond: borrow the next millisecond
                ms, rand = ms + 1, int.from_bytes(os.urandom(10), "big") >> 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # headroom for increments
        _last = (ms, rand)
    return _encode(ms, 10) + _encode(rand, 16)



def ulid_time_ms(ulid: str) -> int:
    """Milliseconds since the epoch at which ``ulid`` was made (its first 10 characters)."""
    value = 0
    for ch in ulid[:10].upper():
        value = value * 32 + _ALPHABET.index(ch)
    return value
