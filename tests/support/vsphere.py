"""govmomi's vCenter simulator on loopback, for real offline ``vsphere-iso`` builds.

``build_vcsim`` compiles ``tests/support/vcsim/main.go`` against Debian's govmomi source
(``golang-github-vmware-govmomi-dev``) once per cache directory. ``vcenter_simulator`` runs it and a
power-off sidecar: the simulator's VMs have no guest, so the sidecar plays the guest that shuts itself
down at the end of its install, which is what a ``disable_shutdown = true`` build waits for.

As a script (``make demo``)::

    python -m tests.support.vsphere [--port PORT] [--cache-dir DIR] [--workdir DIR]

prints the simulator's JSON line and runs (with the sidecar) until interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock
from pyVim import connect as _connect
from pyVmomi import vim as _vim
from pyVmomi import vmodl as _vmodl

# pyVmomi's bundled stubs type these dynamic SOAP bindings only partly; Any keeps --strict honest
# without a cast at every call.
connect: Any = _connect
vim: Any = _vim
vmodl: Any = _vmodl

VCSIM_SOURCE_DIR = Path(__file__).resolve().parent / "vcsim"
GOPATH = "/usr/share/gocode"  # where Debian's golang-*-dev packages put their source
STARTUP_TIMEOUT = 60.0
POLL_INTERVAL = 0.2


class VCenterSimError(RuntimeError):
    """The simulator could not be built or started."""


@dataclass(frozen=True)
class VCenterSim:
    """Connection details of a running simulator (VPX model: one DC, one cluster, local datastores)."""

    url: str  # https://127.0.0.1:PORT/sdk
    host: str  # 127.0.0.1:PORT, what vsphere-iso's vcenter_server takes
    username: str
    password: str
    datacenter: str = "DC0"
    cluster: str = "DC0_C0"
    datastore: str = "LocalDS_0"
    network: str = "VM Network"

    @property
    def hostname(self) -> str:
        return self.host.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    def packer_vars(self) -> dict[str, str]:
        """Values for the variables of examples/templates/vsphere (password included)."""
        return {
            "vcenter_server": self.host,
            "vcenter_username": self.username,
            "vcenter_password": self.password,
            "datacenter": self.datacenter,
            "cluster": self.cluster,
            "datastore": self.datastore,
            "network": self.network,
        }


def _go_binary() -> str:
    go = shutil.which("go") or ("/usr/lib/go/bin/go" if Path("/usr/lib/go/bin/go").exists() else None)
    if go is None:
        raise VCenterSimError("the 'go' toolchain is not installed (apt-get install golang-go)")
    return go


def build_vcsim(cache_dir: Path) -> Path:
    """Compile the simulator into ``cache_dir/vcsim`` unless an up-to-date binary is already there."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    binary = cache_dir / "vcsim"
    if _up_to_date(binary):
        return binary
    # One compile per cache even with pytest-xdist: the others wait, then reuse its binary.
    with FileLock(str(cache_dir / "vcsim.lock")):
        if not _up_to_date(binary):
            _compile(cache_dir, binary)
    return binary


def _up_to_date(binary: Path) -> bool:
    source = VCSIM_SOURCE_DIR / "main.go"
    return binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime


def _compile(cache_dir: Path, binary: Path) -> None:
    if not (Path(GOPATH) / "src/github.com/vmware/govmomi/simulator").is_dir():
        raise VCenterSimError(f"govmomi source not found under {GOPATH} (golang-github-vmware-govmomi-dev)")
    env = {
        **os.environ,
        "GO111MODULE": "off",  # Debian ships GOPATH-style sources, not a module cache
        "GOPATH": GOPATH,
        # An explicit cache: CI often runs as root with no usable $HOME, and a warm cache cuts
        # the 25-60 s cold compile to 2-3 s.
        "GOCACHE": str(cache_dir / "gocache"),
        "GOFLAGS": "",
    }
    # Build to a temporary name then rename: parallel workers never see a half-written binary.
    fd, tmp_name = tempfile.mkstemp(prefix=".vcsim-", dir=cache_dir)
    os.close(fd)
    try:
        proc = subprocess.run(
            [_go_binary(), "build", "-o", tmp_name, "."],
            cwd=VCSIM_SOURCE_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise VCenterSimError(f"go build of the simulator failed:\n{proc.stdout}{proc.stderr}")
        os.chmod(tmp_name, 0o755)
        os.replace(tmp_name, binary)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _read_first_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The simulator's JSON line; it is printed only once the listener is up, so no port polling."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                raise VCenterSimError(f"simulator printed no URL within {timeout:.0f} s")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise VCenterSimError(f"simulator exited early (rc={proc.wait()})")
            buf += chunk
    return buf.split(b"\n", 1)[0]


def _stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


class PowerOffSidecar(threading.Thread):
    """Powers off VMs created after it started (or named with ``prefix``) as soon as they are on.

    It polls the inventory with one PropertyCollector call per tick; that is its job (a guest shutting
    down on its own schedule), not a way of synchronising the test with Packer.
    """

    def __init__(
        self,
        sim: VCenterSim,
        *,
        prefix: str | None = None,
        delay: float = 0.0,
        interval: float = POLL_INTERVAL,
    ) -> None:
        super().__init__(name="vcsim-power-off", daemon=True)
        self.sim = sim
        self.prefix = prefix
        self.delay = delay  # how long the "guest" stays on before shutting down
        self.interval = interval
        self.powered_off: list[str] = []  # VM names, in order
        self.errors: list[BaseException] = []
        self._stop_event = threading.Event()
        self._ready = threading.Event()
        self._first_seen_on: dict[str, float] = {}

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_event.set()
        self.join(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the initial inventory is recorded (VMs existing then are never touched)."""
        if not self._ready.wait(timeout):
            raise VCenterSimError("power-off sidecar did not connect to the simulator")
        if self.errors:
            raise VCenterSimError(f"power-off sidecar failed: {self.errors[0]!r}")

    def run(self) -> None:
        si: Any = None
        try:
            si = connect.SmartConnect(
                host=self.sim.hostname,
                port=self.sim.port,
                user=self.sim.username,
                pwd=self.sim.password,
                sslContext=ssl._create_unverified_context(),  # the simulator's cert is self-signed
            )
            snapshot = self._snapshot(si)
            preexisting = {moid for moid, _name, _state in snapshot}
            self._ready.set()
            while not self._stop_event.wait(self.interval):
                self._tick(si, preexisting)
        except BaseException as exc:  # reported via .errors; a dying thread must not pass silently
            if not self._stop_event.is_set():
                self.errors.append(exc)
        finally:
            self._ready.set()
            if si is not None:
                with suppress(Exception):  # the simulator may already be gone at shutdown
                    connect.Disconnect(si)

    def _wanted(self, moid: str, name: str, preexisting: set[str]) -> bool:
        if self.prefix is not None:
            return name.startswith(self.prefix)
        return moid not in preexisting

    def _tick(self, si: Any, preexisting: set[str]) -> None:
        now = time.monotonic()
        for moid, name, state in self._snapshot(si):
            if state != "poweredOn" or not self._wanted(moid, name, preexisting):
                self._first_seen_on.pop(moid, None)
                continue
            first = self._first_seen_on.setdefault(moid, now)
            if now - first < self.delay:
                continue
            vm = vim.VirtualMachine(moid, si._stub)
            try:
                vm.PowerOffVM_Task()
            except vim.fault.InvalidPowerState:
                continue  # Packer (or someone) got there first
            self._first_seen_on.pop(moid, None)
            self.powered_off.append(name)

    @staticmethod
    def _snapshot(si: Any) -> list[tuple[str, str, Any]]:
        """(moid, name, powerState) of every VM, in one round trip."""
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        try:
            spec = vmodl.query.PropertyCollector.FilterSpec(
                objectSet=[
                    vmodl.query.PropertyCollector.ObjectSpec(
                        obj=view,
                        skip=True,
                        selectSet=[
                            vmodl.query.PropertyCollector.TraversalSpec(
                                name="view", path="view", skip=False, type=vim.view.ContainerView
                            )
                        ],
                    )
                ],
                propSet=[
                    vmodl.query.PropertyCollector.PropertySpec(
                        type=vim.VirtualMachine, pathSet=["name", "runtime.powerState"]
                    )
                ],
            )
            result = []
            for obj in content.propertyCollector.RetrieveContents([spec]):
                props = {p.name: p.val for p in obj.propSet}
                result.append((obj.obj._moId, props.get("name", ""), props.get("runtime.powerState")))
            return result
        finally:
            view.Destroy()


def default_cache_dir() -> Path:
    """Shared by every test and ``make demo``, so the 25-60 s cold compile happens once per machine."""
    return Path(os.environ.get("HYBRIDCORE_VCSIM_CACHE", Path(tempfile.gettempdir()) / "hybridcore-vcsim"))


@contextmanager
def vcenter_simulator(
    workdir: Path,
    *,
    cache_dir: Path | None = None,
    port: int = 0,
    username: str = "user",
    password: str = "pass",  # test-only credentials; the simulator refuses any others
    power_off: bool = True,
    vm_prefix: str | None = None,
    power_off_delay: float = 0.0,
    on_sidecar: Callable[[PowerOffSidecar], None] | None = None,
) -> Iterator[VCenterSim]:
    """Run the simulator (and, unless ``power_off=False``, the power-off sidecar) for the block.

    ``workdir`` receives ``vcsim.stderr.log``. ``cache_dir`` holds the compiled binary and GOCACHE
    (default ``$HYBRIDCORE_VCSIM_CACHE`` or ``$TMPDIR/hybridcore-vcsim``). ``vm_prefix`` limits the
    sidecar to VMs whose name starts with it; by default it powers off any VM not there at start.
    ``on_sidecar`` receives the sidecar (e.g. to inspect ``powered_off`` afterwards).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    binary = build_vcsim(cache_dir if cache_dir is not None else default_cache_dir())
    with ExitStack() as stack:
        stderr = stack.enter_context(open(workdir / "vcsim.stderr.log", "wb"))
        proc = subprocess.Popen(
            [
                str(binary),
                "-port",
                str(port),
                "-username",
                username,
                "-password",
                password,
                "-exit-on-stdin-eof",
            ],
            stdin=subprocess.PIPE,  # closed when we die, even by SIGKILL: the simulator then exits
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=workdir,
            start_new_session=True,  # a Ctrl-C in the terminal is ours to handle, not the child's
        )
        stack.callback(_stop_process, proc)
        try:
            info = json.loads(_read_first_line(proc, STARTUP_TIMEOUT))
        except (ValueError, VCenterSimError) as exc:
            log = (workdir / "vcsim.stderr.log").read_text(errors="replace")
            raise VCenterSimError(f"{exc}\nsimulator stderr:\n{log}") from exc
        sim = VCenterSim(
            url=info["url"], host=info["host"], username=info["username"], password=info["password"]
        )
        if power_off:
            sidecar = PowerOffSidecar(sim, prefix=vm_prefix, delay=power_off_delay)
            sidecar.start()
            stack.callback(sidecar.stop)  # runs before _stop_process (LIFO)
            sidecar.wait_ready()
            if on_sidecar is not None:
                on_sidecar(sidecar)
        yield sim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "hybridcore-vcsim-run")
    parser.add_argument("--vm-prefix", default=None)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with vcenter_simulator(
        args.workdir, cache_dir=args.cache_dir, port=args.port, vm_prefix=args.vm_prefix
    ) as sim:
        print(json.dumps({**sim.packer_vars(), "url": sim.url}), flush=True)
        with suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
