"""Packer dies with the wrapper: a tiny watchdog that kills Packer's process group when we vanish.

A parent-death signal is not enough: Packer 1.6.6 re-executes itself (panicwrap), and the inner Packer,
its plugins and the provisioners' children survive a SIGKILL of the outer one. So each Packer process
group gets a watchdog: a ``sh`` in its own session (a terminal's Ctrl-C does not reach it) that blocks
reading a pipe whose only write end the wrapper holds. When the wrapper exits normally it writes
``done`` first and the watchdog leaves quietly; when the wrapper is killed, the kernel closes the pipe,
``read`` sees end-of-file and the watchdog SIGKILLs the whole group.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

# $1 is the process group id; `read` fails at EOF without a line, leaving $line empty.
_SCRIPT = 'trap "" INT TERM HUP; IFS= read -r line; [ "$line" = done ] || kill -s KILL -- "-$1" 2>/dev/null'


@dataclass
class Watchdog:
    """Guards one process group. ``release()`` once the group is gone (or stopped by us)."""

    pgid: int
    _proc: subprocess.Popen[bytes]
    _write_fd: int | None

    @classmethod
    def guard(cls, pgid: int) -> Watchdog:
        read_fd, write_fd = os.pipe()
        os.set_inheritable(write_fd, False)  # only this process may hold the write end
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", _SCRIPT, "hybridcore-watchdog", str(pgid)],
                stdin=read_fd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, close_fds=True,
            )
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        return cls(pgid=pgid, _proc=proc, _write_fd=write_fd)

    def release(self) -> None:
        """Tell the watchdog the group ended normally, then reap it."""
        fd, self._write_fd = self._write_fd, None
        if fd is None:
            return
        try:
            os.write(fd, b"done\n")
        except OSError:
            pass  # the watchdog is already gone: nothing to tell
        finally:
            os.close(fd)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
