"""A tiny raw disk image that boots, waits ~4 s, then makes the VM power itself off.

Used for the real (offline, seconds-long) qemu builds: Packer's qemu builder with
``disk_image = true`` boots this disk under ``-no-reboot``; the boot sector sleeps via the
BIOS, then triple-faults, which qemu turns into a shutdown instead of a reset. Packer sees
the VM stop within ``shutdown_timeout`` and records the artifact.

Usable as a script too (``make demo``)::

    python -m tests.support.bootdisk OUT [SIZE_BYTES]
    python tests/support/bootdisk.py OUT [SIZE_BYTES]

prints the sha256 of the written image.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

SECTOR = 512
LOAD_ADDR = 0x7C00  # the BIOS loads the boot sector here and jumps to it in real mode
WAIT_MICROSECONDS = 4_000_000  # int 15h AH=86h takes CX:DX microseconds

# Hand-assembled 16-bit real-mode code (offsets relative to 0x7C00). Kept as bytes with their
# mnemonics rather than an assembler call so the tests need no nasm.
_IDT_DESC_OFFSET = 25
_CODE: tuple[tuple[bytes, str], ...] = (
    (b"\x31\xc0", "00: xor ax, ax"),
    (b"\x8e\xd8", "02: mov ds, ax            ; ds=0 so the lidt operand is an absolute address"),
    (b"\xfb", "04: sti                   ; SeaBIOS' wait sleeps until the RTC interrupt fires"),
    (b"\xb4\x86", "05: mov ah, 0x86          ; BIOS 'wait' service"),
    (
        b"\xb9" + (WAIT_MICROSECONDS >> 16).to_bytes(2, "little"),
        "07: mov cx, 0x003d          ; CX:DX = 0x003d0900 = 4,000,000 us",
    ),
    (
        b"\xba" + (WAIT_MICROSECONDS & 0xFFFF).to_bytes(2, "little"),
        "0a: mov dx, 0x0900",
    ),
    (b"\xcd\x15", "0d: int 0x15              ; wait (if it fails, CF=1, we just fault sooner)"),
    (b"\xfa", "0f: cli"),
    (
        b"\x0f\x01\x1e" + (LOAD_ADDR + _IDT_DESC_OFFSET).to_bytes(2, "little"),
        "10: lidt [0x7c19]           ; IDT limit 0: every vector is out of bounds",
    ),
    (b"\xcc", "15: int3                  ; #GP -> #DF -> triple fault -> qemu -no-reboot exits"),
    (b"\xf4", "16: hlt                   ; never reached"),
    (b"\xeb\xfd", "17: jmp 0x16"),
    (b"\x00" * 6, "19: idt descriptor: limit=0 (word), base=0 (dword)"),
)


def boot_sector() -> bytes:
    """The 512-byte boot sector: code, zero padding, 0x55AA signature."""
    code = b"".join(chunk for chunk, _ in _CODE)
    # The lidt operand is hard-wired to the descriptor's offset; fail loudly if the code grows.
    if len(code) - 6 != _IDT_DESC_OFFSET:
        raise AssertionError(f"boot code is {len(code)} bytes; fix _IDT_DESC_OFFSET and the lidt operand")
    return code.ljust(SECTOR - 2, b"\x00") + b"\x55\xaa"


def make_boot_disk(path: Path, size: int = 1 << 20) -> str:
    """Write a raw disk of ``size`` bytes (boot sector + zeros) to ``path``; return its sha256 hex."""
    if size < SECTOR or size % SECTOR:
        raise ValueError(f"size must be a positive multiple of {SECTOR}, got {size}")
    data = boot_sector() + bytes(size - SECTOR)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print("usage: bootdisk.py OUT [SIZE_BYTES]", file=sys.stderr)
        return 2
    size = int(args[1]) if len(args) == 2 else 1 << 20
    print(make_boot_disk(Path(args[0]), size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
