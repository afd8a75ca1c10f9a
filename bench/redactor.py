"""Redactor cost per output line: the redactor runs on every line Packer prints (50,000-line builds).

Usage: python bench/redactor.py [--lines N] [--repeat R]

Prints ``name: value`` lines, CPU nanoseconds per line (best of ``--repeat``; CPU time so that other
processes on the machine do not inflate it) for a redactor holding five secrets (one a multi-line
private key): typical machine-readable and debug-log lines with no secret, lines with escapes (JSON,
machine-readable ``\\n``) and no secret, lines holding one secret raw, JSON-escaped or
machine-readable-escaped, and one line holding all five.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from hybridcore.packer.secrets import Redactor

SECRETS = [
    "hunter2hunter2",
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "p@ss,w0rd<&>é",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBkZXZpY2Vfa2V5X2Zvcl90ZXN0aW5nX29ubHlfbm90X3JlYWwAAAAAAA==\n"
    "-----END OPENSSH PRIVATE KEY-----",
]

CLEAN = [
    "1700000000,file,ui,message,    file: Setting up nginx-common (1.18.0-6ubuntu14.4) ...",
    "1700000000,file,ui,say,==> file: Provisioning with shell script: /tmp/packer-shell123456789",
    "2024/01/01 12:00:00 packer-provisioner-shell plugin: [INFO] RPC client: Communicator ended with: 0",
    "1700000000,file,ui,message,    file: Get:12 http://deb.debian.org/debian bullseye/main amd64 libssl1.1",
]
ESCAPED = [
    "1700000000,file,ui,say,Build 'file' finished after 1 second 12 milliseconds.\\n\\n==> Wait completed",
    '    file: {"changed": true, "msg": "installed nginx", "path": "C:\\\\Program Files\\\\nginx", "rc": 0}',
    "1700000000,,ui,error,Error: Failed to prepare build: \"file\"\\n\\n1 error occurred:\\n\\t* unknown key",
]
ALL_FIVE = ["1700000000,file,ui,message,    file: " + " | ".join(s.splitlines()[1] if "\n" in s else s
                                                          for s in SECRETS)]
SECRET = [
    f"1700000000,file,ui,message,    file: password is {SECRETS[0]} ok",
    "1700000000,file,ui,message,    file: {\"key\": " + json.dumps(SECRETS[3]) + "}",
    "1700000000,file,ui,message,    file: " + SECRETS[3].replace(",", "%!(PACKER_COMMA)"),
    "    file: b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
]


def ns_per_line(redact: Redactor, lines: list[str], n: int, repeat: int) -> float:
    batch = (lines * (n // len(lines) + 1))[:n]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.thread_time_ns()
        for line in batch:
            redact(line)
        best = min(best, time.thread_time_ns() - t0)
    return best / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    t0 = time.thread_time_ns()
    redact = Redactor(SECRETS)
    print(f"build_us: {(time.thread_time_ns() - t0) / 1000:.0f}")
    for name, lines in (("clean", CLEAN), ("escaped", ESCAPED), ("one_secret", SECRET), ("all_five", ALL_FIVE)):
        print(f"{name}_ns_per_line: {ns_per_line(redact, lines, args.lines, args.repeat):.0f}")
    print(f"no_secrets_ns_per_line: {ns_per_line(Redactor(), CLEAN, args.lines, args.repeat):.0f}")


if __name__ == "__main__":
    main()
