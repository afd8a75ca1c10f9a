"""ULIDs: unique and sortable by creation time, also within one millisecond and across threads."""

from __future__ import annotations

import threading

from hybridcore.ids import new_ulid, ulid_time_ms


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
    ms = ulid_time_ms(new_ulid())
    assert before <= ms <= time.time_ns() // 1_000_000 + 1
