"""Shared tools of the fault suite: temp projects, the real CLI in a subprocess, FIFO gates, canary
search over trees and texts, and process polling through /proc.

Everything drives the installed ``hybridcore-packer`` console script (the one beside this
interpreter) against the real Packer; nothing here imports the wrapper's internals, so the suite
measures the contract, not the module layout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLI = Path(sys.executable).with_name("hybridcore-packer")
PYTHON = sys.executable
PACKER = shutil.which("packer") or "/usr/bin/packer"
# Names the wrapper's heuristic treats as secret: stripped from the inherited environment so that a
# developer's own FOO_TOKEN cannot redact (or leak into) what a test looks at.
_SECRET_LIKE = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL", re.I)
KILL_GRACE = 1.0   # [build] kill_grace in the projects that test interrupts: 2 * 1 + 5 s to return
STATE_DB = Path(".hybridcore") / "state.db"


# ------------------------------------------------------------------------------------------ texts


def hcl_str(text: str) -> str:
    """An HCL double-quoted string; ``${...}`` stays an interpolation on purpose."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def null_template(inline: Sequence[str], *, variables: str = "", extra_build: str = "",
                  extra: str = "", source: str = "a") -> str:
    """One null source ``null.<source>`` and one shell-local provisioner running ``inline``."""
    lines = ",\n      ".join(hcl_str(c) for c in inline)
    return f"""{variables}
source "null" "{source}" {{
  communicator = "none"
}}
{extra}
build {{
  sources = ["source.null.{source}"]

  provisioner "shell-local" {{
    inline = [
      {lines}
    ]
  }}
{extra_build}
}}
"""


def sensitive_var(name: str, default: str | None = None, *, sensitive: bool = True) -> str:
    body = f'  type = string\n  sensitive = {"true" if sensitive else "false"}\n'
    if default is not None:
        body += f"  default = {default}\n"
    return f'variable "{name}" {{\n{body}}}\n'


def has_traceback(*texts: str) -> bool:
    return any("Traceback (most recent call last)" in t for t in texts)


# --------------------------------------------------------------------------------------- canaries


def canary(tag: str) -> str:
    """A secret of 15+ characters that changes under every escaping Packer or JSON applies:
    ``<`` and ``&`` (Go's HTML-safe JSON: \\u003c, \\u0026), ``"`` (\\"), ``,`` (machine-readable
    %!(PACKER_COMMA)) and a non-ASCII letter (\\u00e9 under ensure_ascii). ``tag`` (letters only)
    tells the canaries of one build apart; none is a substring of another."""
    assert tag.isalpha()
    return f"Q7zK{tag}<Cn&ry\"9,\u00e9W"


def fragment(secret: str) -> str:
    """The canary's leading letters and digits: they survive every escaping, so finding them anywhere
    means some form of the secret got out (a raw, escaped or truncated copy)."""
    return secret.split("<", 1)[0]


def forms(secret: str) -> dict[str, str]:
    """The named forms of a secret worth reporting when the fragment is found."""

    def go_json(s: str) -> str:  # encoding/json with HTML escaping, as Packer's jsonencode() prints
        out = json.dumps(s, ensure_ascii=False)[1:-1]
        return out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    def machine(s: str) -> str:
        return s.replace(",", "%!(PACKER_COMMA)").replace("\n", "\\n")

    base = {"raw": secret, "go-json": go_json(secret), "machine": machine(secret),
            "machine(go-json)": machine(go_json(secret))}
    out = dict(base)
    for name, value in base.items():
        out[f"json({name})"] = json.dumps(value)[1:-1]
        out[f"json-utf8({name})"] = json.dumps(value, ensure_ascii=False)[1:-1]
        out[f"json(json({name}))"] = json.dumps(json.dumps(value)[1:-1])[1:-1]
    return out


def leaks(secret: str, channels: Mapping[str, bytes | str]) -> list[str]:
    """``channel: forms`` for every channel holding any trace of ``secret``."""
    frag = fragment(secret).encode()
    found = []
    for name, data in channels.items():
        blob = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        if frag not in blob:
            continue
        named = [f for f, v in forms(secret).items() if v.encode() in blob]
        found.append(f"{name}: {', '.join(named) or 'fragment only'}")
    return found


def tree_files(root: Path, *, exclude: Iterable[Path] = ()) -> dict[str, bytes]:
    """Every regular file under ``root`` (symlinks not followed), by path relative to ``root``."""
    skip = [p.resolve() for p in exclude]
    out: dict[str, bytes] = {}
    if not root.exists():
        return out
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file() or any(path.is_relative_to(s) for s in skip):
                continue
            with contextlib.suppress(OSError):
                out[f"{root.name}/{path.relative_to(root)}"] = path.read_bytes()
    return out


def state_dump(db: Path) -> str:
    """The SQL dump of a state database, read-only (never creates or migrates it)."""
    if not db.exists():
        return ""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


# ------------------------------------------------------------------------------------- processes


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a live process, None when it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[0], int(fields[1]), int(fields[2])


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for p in _pids():
        st = _stat(p)
        if st is not None:
            children.setdefault(st[1], []).append(p)
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def pgid_of(pid: int) -> int | None:
    st = _stat(pid)
    return None if st is None else st[2]


def group_members(pgid: int) -> list[int]:
    return [p for p in _pids() if (st := _stat(p)) is not None and st[2] == pgid]


def alive(pid: int) -> bool:
    return _stat(pid) is not None


def wait_gone(pgid: int, pids: Iterable[int], deadline_s: float) -> list[int]:
    """Poll /proc until no member of ``pgid`` and none of ``pids`` is alive; the survivors at the deadline."""
    watch = set(pids)
    end = time.monotonic() + deadline_s
    while True:
        left = sorted(set(group_members(pgid)) | {p for p in watch if alive(p)})
        if not left or time.monotonic() >= end:
            return left
        time.sleep(0.05)  # polling /proc with a deadline, not synchronisation: no event to wait on


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.decode("utf-8", "replace").partition("=")[::2] for item in raw.split(b"\0") if item)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


# ------------------------------------------------------------------------------------------ gates


class Gate:
    """A provisioner step that reports its shell's pid through the FIFO ``reached`` and then blocks
    reading the FIFO ``release``: the test knows exactly when Packer is mid-build, without sleeps.

    The test holds both FIFOs open from the start (``release`` read-write, which never blocks on
    Linux), so neither side's open() waits for the other and a release can never be lost: it sits in
    the pipe until the shell reads it."""

    def __init__(self, folder: Path, name: str = "gate") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.reached = folder / f"{name}.reached"
        self.release_path = folder / f"{name}.release"
        os.mkfifo(self.reached, 0o600)
        os.mkfifo(self.release_path, 0o600)
        self._fd = os.open(self.reached, os.O_RDONLY | os.O_NONBLOCK)
        self._release: int | None = os.open(self.release_path, os.O_RDWR | os.O_NONBLOCK)

    def inline(self, *, ignore_signals: bool = False) -> list[str]:
        steps = ["trap '' INT TERM"] if ignore_signals else []
        return [*steps, f"echo $$ > {self.reached}", f"read gate_line < {self.release_path}"]

    def wait(self, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> int:
        """The blocked shell's pid, once it is there; fails if the command ends or time runs out."""
        end = time.monotonic() + timeout
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        data = b""
        while not data.endswith(b"\n"):
            if time.monotonic() >= end:
                raise AssertionError(f"the provisioner never reached the gate within {timeout} s")
            if proc.poll() is not None and not poller.poll(0):
                raise AssertionError(f"the command ended (exit {proc.returncode}) before reaching the gate")
            if poller.poll(200):
                data += os.read(self._fd, 64)
        return int(data.strip())

    def open(self) -> None:
        """Let the blocked provisioner go on (it reads the line whenever it gets there)."""
        if self._release is not None:
            os.write(self._release, b"go\n")

    def close(self) -> None:
        for fd in (self._fd, self._release):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._release = None


# ---------------------------------------------------------------------------------------- project


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> object:
        return json.loads(self.stdout)


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    started: float
    out_path: Path
    err_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def finish(self, timeout: float) -> Result:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the command did not end within {timeout} s") from None
        return Result(self.proc.returncode, self.out_path.read_text(errors="replace"),
                      self.err_path.read_text(errors="replace"), time.monotonic() - self.started)


@dataclass
class Project:
    """A throwaway project: ``root`` holds hybridcore.toml; ``outside`` (a sibling, never searched for
    leaks) holds captured output, FIFOs and var files with secrets; ``tmpdir`` is the TMPDIR the wrapper
    and Packer get (short: Packer's plugin sockets live there)."""

    root: Path
    outside: Path
    tmpdir: Path
    env: dict[str, str] = field(default_factory=dict)
    _running: list[Running] = field(default_factory=list)
    _groups: set[int] = field(default_factory=set)
    _gates: list[Gate] = field(default_factory=list)
    _n: int = 0

    @classmethod
    def create(cls, base: Path, root: Path | None = None) -> Project:
        outside = base / "outside"
        outside.mkdir(parents=True, exist_ok=True)
        root = root or base / "proj"
        root.mkdir(parents=True, exist_ok=True)
        tmpdir = Path(tempfile.mkdtemp(prefix="hcf-", dir="/tmp"))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HYBRIDCORE_", "PKR_VAR_", "PACKER_")) and not _SECRET_LIKE.search(k)}
        env.update(HYBRIDCORE_ENV="faults", CHECKPOINT_DISABLE="1", TMPDIR=str(tmpdir))
        return cls(root=root, outside=outside, tmpdir=tmpdir, env=env)

    # -- files

    def write(self, rel: str | Path, content: str | bytes, mode: int | None = None) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        if mode is not None:
            path.chmod(mode)
        return path

    def toml(self, text: str) -> Path:
        return self.write("hybridcore.toml", text)

    def gate(self, name: str = "gate") -> Gate:
        gate = Gate(self.outside / "gates", name)
        self._gates.append(gate)
        return gate

    @property
    def state_db(self) -> Path:
        return self.root / STATE_DB

    # -- commands

    def _env(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        env = dict(self.env)
        env.update(extra or {})
        return env

    def start(self, *args: str, env: Mapping[str, str] | None = None,
              argv: Sequence[str] | None = None, cwd: Path | None = None) -> Running:
        """The CLI (or ``argv``) in its own session, output captured to files outside the project."""
        self._n += 1
        out = self.outside / f"cmd{self._n}.out"
        err = self.outside / f"cmd{self._n}.err"
        with out.open("wb") as fo, err.open("wb") as fe:
            proc = subprocess.Popen(list(argv) if argv else [str(CLI), *args], cwd=cwd or self.root,
                                    env=self._env(env), stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                                    start_new_session=True)
        running = Running(proc, time.monotonic(), out, err)
        self._running.append(running)
        return running

    def run(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120.0,
            argv: Sequence[str] | None = None, cwd: Path | None = None) -> Result:
        running = self.start(*args, env=env, argv=argv, cwd=cwd)
        try:
            return running.finish(timeout)
        finally:
            self.reap(running)

    def watch(self, pgid: int) -> None:
        """Remember a process group to kill at teardown, whatever the test's outcome."""
        self._groups.add(pgid)

    def reap(self, running: Running) -> None:
        """Kill what a finished or abandoned command left behind (its group and its descendants')."""
        for pid in descendants(running.pid):
            if (g := pgid_of(pid)) is not None:
                self._groups.add(g)
        if running.proc.poll() is None:
            kill_group(running.pid)
            running.proc.wait()

    def close(self) -> None:
        for gate in self._gates:
            gate.open()
            gate.close()
        for running in self._running:
            self.reap(running)
        for pgid in self._groups:
            kill_group(pgid)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


@contextlib.contextmanager
def mounted(*cmds: Sequence[str], target: Path) -> Iterator[Path]:
    """Run mount commands for ``target``; unmount it (lazily if busy) afterwards."""
    for cmd in cmds:
        subprocess.run(list(cmd), check=True, capture_output=True)
    try:
        yield target
    finally:
        if subprocess.run(["umount", str(target)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


def read_only_bind(path: Path) -> contextlib.AbstractContextManager[Path]:
    return mounted(["mount", "--bind", str(path), str(path)],
                   ["mount", "-o", "remount,bind,ro", str(path)], target=path)


def small_tmpfs(path: Path, size: str = "2m") -> contextlib.AbstractContextManager[Path]:
    path.mkdir(parents=True, exist_ok=True)
    return mounted(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], target=path)


def runs_json(project: Project) -> list[dict[str, object]]:
    result = project.run("runs", "--json", "--limit", "100")
    assert result.returncode == 0, result.output
    rows = result.json()
    assert isinstance(rows, list)
    return rows


def private_folders(project: Project, wrapper: int) -> set[Path]:
    """Where the run keeps its private files: the folder of the last -var-file Packer was given (the
    wrapper's generated var file) and Packer's TMPDIR when the wrapper set one of its own."""
    found: set[Path] = set()
    for pid in descendants(wrapper):
        argv = cmdline(pid).decode(errors="replace").split(" ")
        if not argv or not argv[0].endswith("packer"):
            continue
        var_files = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-var-file"]
        if var_files:
            found.add(Path(var_files[-1]).parent)
        tmp = environ(pid).get("TMPDIR")
        if tmp and Path(tmp) != project.tmpdir:
            found.add(Path(tmp))
    return found
