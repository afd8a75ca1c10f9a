"""ULIDs: unique and sortable by creation time, also within one millisecond and across threads."""

from __future__ import annotations

import threading

from hybridcore.ids import new_ulid


def test_sorted_in_creation_order_and_unique() -> None:
    ids = [new_ulid() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 26 for i in ids)


def test_unique_across_threads() -> None:
    out: list[str] = []
    lock = threading.Lock()

    def make() -> None:
        local = [new_ulid() for _ in range(1000)]
        with lock:
            out.extend(local)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 8000


def test_time_prefix_roundtrip() -> None:
    import time

    before = time.time_ns() // 1_000_000
    ulid = new_ulid()
    after = time.time_ns() // 1_000_000
    ms = 0
    for ch in ulid[:10]:  # 48 bits of milliseconds, Crockford base32
        ms = ms * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(ch)
    assert before <= ms <= after + 1
