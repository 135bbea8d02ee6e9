"""A throw-away PostgreSQL server for tests and benchmarks.

`TempPostgres()` runs initdb and pg_ctl from the Debian PostgreSQL package in a
temporary directory, listening only on a unix socket there, and stops and
removes it on `stop()`. PostgreSQL refuses to run as root, so as root the
server runs as the `postgres` system user (created by the package).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def pg_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, if PostgreSQL is installed."""
    for d in PG_BIN_DIRS:
        if Path(d, "initdb").exists():
            return Path(d)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class TempPostgres:
    """A PostgreSQL server on a unix socket in a temp dir; `url` names its database."""

    def __init__(self, database: str = "lazyqueue"):
        self.bin = pg_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql-15)")
        self.database = database
        self.dir = Path(tempfile.mkdtemp(prefix="lq-pg-"))
        self.data = self.dir / "data"
        self.user = "postgres" if os.geteuid() == 0 else None
        self.started = False

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = list(argv)
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    def start(self) -> "TempPostgres":
        if self.user:
            shutil.chown(self.dir, self.user)
            os.chmod(self.dir, 0o755)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")
        opts = (f"-c listen_addresses='' -c unix_socket_directories='{self.dir}' -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w", "-t", "60",
                  "-l", str(self.dir / "server.log"), "start")
        self.started = True
        self._run(str(self.bin / "createdb"), "-h", str(self.dir), "-U", "postgres", self.database)
        return self

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/{self.database}?host={self.dir}"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.dir}"

    def createdb(self, name: str) -> str:
        self._run(str(self.bin / "createdb"), "-h", str(self.dir), "-U", "postgres", name)
        return self.url_for(name)

    def stop(self) -> None:
        if self.started:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "TempPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
