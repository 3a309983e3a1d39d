"""Process plumbing shared by the test servers: free ports, PID files, readiness checks, log tails,
and :class:`LoopbackServer`, the base of every server that runs as child processes.

Every server child runs in its own session, is recorded in ``<repo>/.run/<name>-<pid>.pid`` while
alive (``.ci/run`` kills leftovers from there) and is stopped by its PID, never by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = REPO_ROOT / ".run"
PORT_IN_USE = ("address already in use", "errno 98", "could not bind")
SETPRIV = shutil.which("setpriv")  # util-linux: gives children a parent-death signal


class ServerStartError(RuntimeError):
    """A test server did not come up; the message carries the tail of its logs."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller retries on a collision)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, or a note that it is missing."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def make_workdir(name: str) -> Path:
    """A fresh temp directory for one server's config, data and logs."""
    return Path(tempfile.mkdtemp(prefix=f"rasteret-{name}-"))


def remove_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str, *, ca_file: Path | None = None) -> bool:
    """True when ``url`` answers with any HTTP status below 500."""
    ctx = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
            return r.status < 500
    except urllib.error.HTTPError as e:
        return e.code < 500
    except (OSError, ValueError):
        return False


class ManagedProcess:
    """One child process, recorded in a PID file while alive and killed by its PID on stop.

    The child also gets ``stop_signal`` when its parent dies (``setpriv --pdeathsig``), so a
    test run killed by SIGTERM/SIGKILL does not leave servers behind. The kernel sends it when
    the *thread* that started the child ends: start servers from a long-lived thread.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.stop_signal = stop_signal
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid_file: Path | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.proc.pid

    def start(self) -> None:
        argv = self.argv
        if SETPRIV:
            argv = [SETPRIV, "--pdeathsig", signal.Signals(self.stop_signal).name[3:], "--", *argv]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                user=self.user,
                start_new_session=True,
            )
        RUN_DIR.mkdir(exist_ok=True)
        self.pid_file = RUN_DIR / f"{self.name}-{self.proc.pid}.pid"
        self.pid_file.write_text(f"{self.proc.pid}\n")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Send ``stop_signal``, wait up to ``timeout`` s, then SIGKILL; drop the PID file."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, self.stop_signal)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)
            self.pid_file = None

    def wait_ready(
        self,
        check: Callable[[], bool],
        *,
        timeout: float,
        what: str,
        logs: Sequence[Path] = (),
        failed: Callable[[], bool] | None = None,
    ) -> None:
        """Poll ``check`` until true; raise :class:`ServerStartError` with log tails when the
        process exits, ``failed()`` reports a startup error, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        reason = f"not ready after {timeout:.0f} s"
        while time.monotonic() < deadline:
            if check():
                return
            if not self.alive():
                reason = f"exited with status {self.proc.returncode if self.proc else '?'}"
                break
            if failed is not None and failed():
                reason = "reported a startup error"
                break
            time.sleep(0.05)
        self.stop()
        raise ServerStartError(
            f"{what} {reason}.\n" + start_failure_details([self.log_path, *logs])
        )


def start_failure_details(logs: Sequence[Path]) -> str:
    return "\n".join(f"--- {p} ---\n{log_tail(p)}" for p in logs)


def port_collision(err: ServerStartError) -> bool:
    """Whether a failed start looks like another process took the port first."""
    text = str(err).lower()
    return any(marker in text for marker in PORT_IN_USE)


def run_checked(
    argv: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    input: bytes | None = None,
    timeout: float = 60,
) -> str:
    """Run a short setup command; raise :class:`ServerStartError` with its output on failure."""
    try:
        res = subprocess.run(
            [str(a) for a in argv],
            input=input,
            capture_output=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            user=user,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        raise ServerStartError(f"{what}: timed out after {timeout} s") from e
    out = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
    if res.returncode != 0:
        tail = "\n".join(out.splitlines()[-40:])
        raise ServerStartError(f"{what} failed with status {res.returncode}:\n{tail}")
    return out


class LoopbackServer:
    """Base of the servers run as child processes: one temp workdir, the children started by
    :meth:`_spawn` (stopped in reverse order), port-collision retries, a context manager.

    Subclasses set :attr:`kind` (workdir prefix) and implement :meth:`_start`; :meth:`start`
    stops whatever was started and removes the workdir when :meth:`_start` fails.
    """

    kind = "server"

    def __init__(self) -> None:
        self.port = 0
        self.workdir: Path | None = None
        self._procs: list[ManagedProcess] = []

    @property
    def pid(self) -> int:
        """PID of the first child process (the server itself for single-process servers)."""
        if not self._procs:
            raise RuntimeError(f"{self.kind} is not started")
        return self._procs[0].pid

    @property
    def pids(self) -> list[int]:
        """PIDs of the child processes, in start order."""
        return [p.pid for p in self._procs]

    def start(self) -> Self:
        self.workdir = make_workdir(self.kind)
        try:
            self._start(self.workdir)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, workdir: Path) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        while self._procs:
            self._procs.pop().stop()
        if self.workdir is not None:
            remove_workdir(self.workdir)
            self.workdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, name: str, argv: Sequence[Any], **options: Any) -> ManagedProcess:
        """Start a child process owned by this server (options of :class:`ManagedProcess`)."""
        proc = ManagedProcess(name, argv, **options)
        self._procs.append(proc)
        proc.start()
        return proc

    def _serve(
        self,
        name: str,
        argv: Sequence[Any],
        *,
        ready: Callable[[], bool],
        timeout: float = 30,
        logs: Sequence[Path] = (),
        failed: Callable[[], bool] | None = None,
        **options: Any,
    ) -> ManagedProcess:
        """:meth:`_spawn` a child and wait until ``ready()`` (see :meth:`ManagedProcess.wait_ready`)."""
        proc = self._spawn(name, argv, **options)
        proc.wait_ready(ready, timeout=timeout, what=name, logs=logs, failed=failed)
        return proc

    def _on_free_port(self, launch: Callable[[int], object], attempts: int = 3) -> int:
        """Run ``launch(port)`` on a free port; when another process took the port first, stop
        what ``launch`` started and retry on a fresh port. Returns the port that worked."""
        for attempt in range(attempts):
            port = free_port()
            started = len(self._procs)
            try:
                launch(port)
                return port
            except ServerStartError as e:
                while len(self._procs) > started:
                    self._procs.pop().stop()
                if attempt == attempts - 1 or not port_collision(e):
                    raise
        raise AssertionError("unreachable")
