"""Listings as tables: runs, artifact records, cache entries, and what prune/verify did.

The id a person copies into the next command (run id, build id, cache entry) sits in a column that
never wraps or truncates; the other columns fold to fit, and the least useful ones are left out on a
narrow terminal (80 columns). Every cell is a ``rich.text.Text`` of cleaned text: no value is read as
markup. Sizes are human-readable (KiB, MiB...).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hybridcore.packer.console.terminal import clean, console, emit

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

WIDE = 110   # columns from which the optional columns are shown


def human_bytes(size: int | float | None) -> str:
    """``1536`` → ``1.5 KiB``; bytes below 1 KiB as ``512 B``."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover


def short_time(iso: object) -> str:
    """``2024-05-01T12:34:56.789+00:00`` → ``2024-05-01 12:34``."""
    text = str(iso or "")
    return text[:16].replace("T", " ") if len(text) >= 16 else text


def _table(*columns: tuple[str, dict[str, Any]]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, header_style="bold", padding=(0, 1, 0, 0))
    for title, options in columns:
        table.add_column(title, **options)
    return table


def _row(table: Table, values: Sequence[object]) -> None:
    from rich.text import Text

    table.add_row(*(Text(clean("" if v is None else v)) for v in values))


def _print(table: Table, out: Console | None) -> None:
    (out or console()).print(table)


def _id_column(values: Sequence[str]) -> dict[str, Any]:
    return {"no_wrap": True, "min_width": max((len(v) for v in values), default=8)}


_GAP = 2  # between two columns: SIMPLE_HEAD's blank divider and a cell's right padding


def _fitting(width: int, columns: Sequence[tuple[str, Sequence[str]]], priority: Sequence[str]) -> set[str]:
    """The columns that fit side by side in ``width`` without folding, taken in ``priority`` order (the
    first is always kept): a narrow terminal loses whole columns, never the readability of the rest."""
    sizes = {title: max([len(title), *(len(v) for v in values)]) for title, values in columns}
    kept: set[str] = set()
    used = -_GAP
    for title in priority:
        if title in sizes and (not kept or used + _GAP + sizes[title] <= width):
            kept.add(title)
            used += _GAP + sizes[title]
    return kept


def runs_table(rows: Sequence[Mapping[str, Any]], out: Console | None = None) -> None:
    """Runs, newest first. On a narrow terminal the target (already the end of the run id), the env
    and then the least useful columns are left out, so that the rest never folds mid-word."""
    out = out or console()
    narrow = out.width < WIDE
    cells: dict[str, list[str]] = {"run": [], "target": [], "kind": [], "env": [], "status": [],
                                   "category": [], "started": []}
    for r in rows:
        code = r.get("exit_code")
        cells["run"].append(str(r["id"]))
        cells["target"].append(str(r.get("target") or ""))
        cells["kind"].append(str(r.get("kind") or ""))
        cells["env"].append(str(r.get("env") or ""))
        cells["status"].append(f"{r['status']}" + (f" ({code})" if code not in (None, 0) else ""))
        category = str(r.get("category") or "")
        cells["category"].append("" if category == r["status"] else category)  # "ok" twice says nothing
        started = short_time(r.get("started_at"))
        cells["started"].append(started[5:] if narrow and len(started) == 16 else started)
    redundant = all(i.endswith(f"/{t}") for i, t in zip(cells["run"], cells["target"], strict=True))
    priority = ["run", "status", "kind", "started", "category"]  # which failed, and when; why: explain ID
    if not (narrow and redundant):
        priority.append("target")
    if not narrow:
        priority.append("env")
    kept = _fitting(out.width, list(cells.items()), priority)
    titles = [t for t in cells if t in kept]
    table = _table(*((t, {"no_wrap": True}) for t in titles))
    for n in range(len(rows)):
        _row(table, [cells[t][n] for t in titles])
    _print(table, out)


def artifacts_table(rows: Sequence[Mapping[str, Any]], out: Console | None = None) -> None:
    out = out or console()
    wide = out.width >= WIDE
    fold: dict[str, Any] = {"overflow": "fold"}
    cols: list[tuple[str, dict[str, Any]]] = [
        ("build_id", _id_column([str(r["build_id"]) for r in rows])), ("target", fold), ("builder", fold),
        ("platform", fold), ("image", {"overflow": "fold", "ratio": 1})]
    if wide:
        cols.insert(4, ("region", fold))
    table = _table(*cols)
    for r in rows:
        image = ", ".join(r.get("image_ids") or []) or (f"{len(r['files'])} files" if r.get("files") else "")
        values: list[object] = [r["build_id"], r.get("target"), r.get("builder_type") or r.get("builder_id"),
                                r.get("platform"), image]
        if wide:
            values.insert(4, r.get("region") or "")
        _row(table, values)
    _print(table, out)


def cache_table(entries: Sequence[Mapping[str, Any]], out: Console | None = None) -> None:
    if not entries:
        emit("the shared cache is empty (builds fill it with what Packer downloads)", style="dim", stderr=True)
        return
    out = out or console()
    table = _table(("entry", _id_column([str(e["entry"]) for e in entries])), ("size", {"justify": "right"}),
                   ("last used", {"overflow": "fold"}), ("url", {"overflow": "fold", "ratio": 1}))
    for e in entries:
        used = time.strftime("%Y-%m-%d %H:%M", time.gmtime(e["last_used"])) if e.get("last_used") else ""
        _row(table, [e["entry"], human_bytes(e.get("size")), used, e.get("url") or "(not recorded)"])
    _print(table, out)
    total = sum(int(e.get("size") or 0) for e in entries)
    emit(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, {human_bytes(total)}", style="dim",
         stderr=True)


def cache_verified(report: Sequence[Mapping[str, Any]]) -> None:
    for r in report:
        emit(f"{'ok ' if r['ok'] else 'BAD'} {r['entry']} {r.get('problem') or ''}".rstrip(),
             style=None if r["ok"] else "red")


def pruned(what: str, removed: Sequence[str], freed: int) -> None:
    for item in removed:
        emit(f"removed {item}")
    emit(f"{what}: removed {len(removed)}, freed {human_bytes(freed)}", style="dim", stderr=True)
