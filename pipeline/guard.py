"""What keeps a build directory trustworthy when commands overlap, fail or are interrupted.

* :func:`build_lock` -- one writer per build directory: an ``flock`` on the directory itself, held by every command
  that writes; a second writer gets one line naming the holder's PID (exit 2).
* :func:`install_signal_handlers` -- SIGTERM (and SIGINT) end the command like Ctrl-C: the handler first ends every
  child process of this one (g++, make, simulators, workers: they are found through ``/proc``, whatever process group
  they run in), then raises :class:`Interrupted`, so ``finally`` blocks remove temporary directories and no stage
  record is written for the interrupted stage.
* :func:`content_hash` -- a SHA-256 over files and directories (relative names and bytes) that a stage record keeps for
  each output, so a changed or half-deleted output means "not cached".
* :func:`test_hook` -- a named point where the tests interrupt a stage (``UNET_FSIC_TEST_SIGNAL_AT=<point>``).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import signal
import time
from pathlib import Path

from .errors import UserError

# build artifacts inside output trees that later steps add or that differ run to run (not part of the content)
UNHASHED_SUFFIXES = (".so", ".o", ".pyc", ".tmp")


class Interrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM: the command stops; child processes are already ended."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# --- one writer per build dir ---
def _lock_holder(fd: int) -> str:
    """PID holding an flock on the file behind ``fd`` (from /proc/locks), or '?'."""
    ino = os.fstat(fd).st_ino
    try:
        for line in Path("/proc/locks").read_text().splitlines():
            f = line.split()
            if "FLOCK" in f and len(f) >= 6 and f[5].split(":")[-1] == str(ino):
                return f[4]
    except OSError:
        pass
    return "?"


@contextlib.contextmanager
def build_lock(build_dir: Path | str):
    """Hold an exclusive ``flock`` on the build directory itself for the block (no lock file is written; a build dir
    this creates and leaves empty is removed again). A second writer -> one-line UserError naming the holder's PID."""
    d = Path(build_dir)
    created = not d.exists()
    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            raise UserError(f"{d}: another unet-fsic command (PID {_lock_holder(fd)}) is writing this build "
                            f"directory; wait for it to finish or use another build_dir") from None
        yield
    finally:
        os.close(fd)  # releases the lock
        if created:
            with contextlib.suppress(OSError):
                d.rmdir()  # only if still empty: nothing was written


# --- interruption ---
def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc), deepest first."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d.name))
    out: list[int] = []

    def walk(p):
        for c in kids.get(p, []):
            walk(c)
            out.append(c)

    walk(pid)
    return out


def end_children(grace_s: float = 2.0) -> list[int]:
    """SIGTERM every descendant of this process, then SIGKILL what is left after ``grace_s``. Returns the PIDs."""
    pids = _children(os.getpid())
    for p in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    for p in _children(os.getpid()) + pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)
    for p in pids:  # reap our direct children (others are reaped by their parents, ended above)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(p, os.WNOHANG)
    return pids


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _handler(signum, frame):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # one interruption at a time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    end_children()
    raise Interrupted(signum)


def install_signal_handlers() -> None:
    """SIGINT and SIGTERM -> end children, raise :class:`Interrupted` (main thread only)."""
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)


def test_hook(point: str) -> None:
    """Interrupt this process here when ``UNET_FSIC_TEST_SIGNAL_AT`` names ``point`` (tests only; the signal is
    ``UNET_FSIC_TEST_SIGNAL``, default SIGINT)."""
    if os.environ.get("UNET_FSIC_TEST_SIGNAL_AT") == point:
        sig = getattr(signal, os.environ.get("UNET_FSIC_TEST_SIGNAL", "SIGINT"))
        os.kill(os.getpid(), sig)
        time.sleep(5)  # the handler raises before this returns


# --- content hashes ---
def content_hash(root: Path, spec: str | Path = "") -> str | None:
    """SHA-256 of ``root / spec``: a file, a directory tree (sorted relative names + bytes; build artifacts excluded),
    or, when ``spec`` holds a ``*``, the files the glob matches (artifact suffixes included: they were asked for).
    ``None`` when nothing exists there."""
    root = Path(root)
    if "*" in str(spec):
        files = sorted(root.glob(str(spec)))
        names = [f.name for f in files]
    else:
        path = root / spec
        if not path.exists():
            return None
        if path.is_file():
            files, names = [path], [path.name]
        else:
            files = [f for f in sorted(path.rglob("*")) if f.is_file() and f.suffix not in UNHASHED_SUFFIXES
                     and "__pycache__" not in f.parts]
            names = [str(f.relative_to(path)) for f in files]
    if not files:
        return None
    h = hashlib.sha256()
    for f, name in zip(files, names):
        h.update(name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def swap_dir(tmp: Path, final: Path) -> None:
    """Put the finished directory ``tmp`` in place of ``final``: renames only (the old tree is moved aside, then
    removed), so ``final`` is never a half-deleted tree."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
