"""A throwaway PostgreSQL server for tests, benchmarks and notebooks.

``with TemporaryPostgres() as pg: pg.url`` starts a private server on a free port from the
installed binaries (via pytest-postgresql's executor, part of ``jobsim[dev]``) and removes it
afterwards. It copes with the two things that break a naive start on CI machines:

* **Binaries not on PATH.** Debian's ``apt-get install postgresql`` puts ``pg_ctl`` in
  ``/usr/lib/postgresql/<version>/bin``; :func:`find_pg_ctl` looks there too (newest first).
* **Running as root.** PostgreSQL refuses to run as root. Then the server runs as an
  unprivileged user (``postgres``, which the Debian package creates; or ``JOBSIM_PG_USER``)
  through ``runuser``, with its data directory in a temporary directory that user owns.

Settings favour speed over durability (``fsync=off``): the data is thrown away anyway.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = ["PostgresUnavailable", "TemporaryPostgres", "find_pg_ctl"]

_FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"


class PostgresUnavailable(RuntimeError):
    """No usable PostgreSQL server binaries (or no way to run them)."""


def _version_key(path: str) -> tuple[int, ...]:
    parts = Path(path).parts
    for part in parts:
        if part.replace(".", "").isdigit():
            return tuple(int(p) for p in part.split("."))
    return (0,)


def find_pg_ctl() -> str:
    """Path of ``pg_ctl``: ``$JOBSIM_PG_CTL``, then PATH, then ``pg_config --bindir``, then
    ``/usr/lib/postgresql/*/bin`` (newest version first)."""
    explicit = os.environ.get("JOBSIM_PG_CTL")
    if explicit:
        if os.access(explicit, os.X_OK):
            return explicit
        raise PostgresUnavailable(f"JOBSIM_PG_CTL={explicit!r} is not an executable file")
    found = shutil.which("pg_ctl")
    if found:
        return found
    try:
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        candidate = os.path.join(bindir, "pg_ctl")
        if os.access(candidate, os.X_OK):
            return candidate
    except (OSError, subprocess.SubprocessError):
        pass
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
        + glob.glob("/usr/pgsql-*/bin/pg_ctl")
        + glob.glob("/opt/homebrew/opt/postgresql*/bin/pg_ctl"),
        key=_version_key,
        reverse=True,
    )
    if candidates:
        return candidates[0]
    raise PostgresUnavailable(
        "no pg_ctl found (looked at $JOBSIM_PG_CTL, PATH, pg_config --bindir and "
        "/usr/lib/postgresql/*/bin); install the server, e.g. 'apt-get install postgresql'"
    )


class TemporaryPostgres:
    """A private PostgreSQL server in a temporary directory; a context manager.

    Attributes (once started): ``host``, ``port``, ``user``, ``dbname``, ``url``
    (``postgresql://user@host:port/dbname``, no password: trust authentication on localhost).

    Args:
        dbname: database to create for you.
        options: extra ``postgres`` server options.
        run_as: OS user the server runs as when we are root (default ``$JOBSIM_PG_USER`` or
            ``postgres``).
    """

    def __init__(
        self, *, dbname: str = "jobsim", options: str = _FAST, run_as: str | None = None
    ) -> None:
        self.dbname = dbname
        self.options = options
        self.run_as = run_as or os.environ.get("JOBSIM_PG_USER", "postgres")
        self.host = "127.0.0.1"
        self.user = "postgres"
        self.port = 0
        self._base: str | None = None
        self._executor: Any = None

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("TemporaryPostgres has not been started")
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def start(self) -> Self:
        try:
            import port_for
            from pytest_postgresql.executors import PostgreSQLExecutor
        except ImportError as exc:
            raise PostgresUnavailable(
                f"TemporaryPostgres needs pytest-postgresql: pip install 'jobsim[dev]' ({exc})"
            ) from exc
        pg_ctl = find_pg_ctl()
        base = tempfile.mkdtemp(prefix="jobsim-pg-")
        self._base = base
        executable = pg_ctl
        if os.geteuid() == 0:  # PostgreSQL refuses root: run it as an unprivileged user
            try:
                account = pwd.getpwnam(self.run_as)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root, and PostgreSQL refuses root; user {self.run_as!r} does "
                    "not exist to run it instead (create it, e.g. 'useradd --system postgres', "
                    "or set JOBSIM_PG_USER to an unprivileged user)"
                ) from None
            os.chown(base, account.pw_uid, account.pw_gid)
            runuser = shutil.which("runuser") or shutil.which("su")
            if runuser is None:
                raise PostgresUnavailable("running as root but neither runuser nor su exists")
            executable = os.path.join(base, "pg_ctl-as-" + self.run_as)
            if os.path.basename(runuser) == "runuser":
                line = f'exec {runuser} -u {self.run_as} -- "{pg_ctl}" "$@"'
            else:
                # su runs: sh -c 'exec "$0" "$@"' pg_ctl args...  (as run_as)
                line = (
                    f'exec {runuser} {self.run_as} -s /bin/sh -c \'exec "$0" "$@"\' '
                    f'-- "{pg_ctl}" "$@"'
                )
            Path(executable).write_text(f"#!/bin/sh\ncd /\n{line}\n")
            os.chmod(executable, 0o755)
        self.port = port_for.select_random()
        self._executor = PostgreSQLExecutor(
            executable=executable,
            host=self.host,
            port=self.port,
            datadir=os.path.join(base, "data"),
            unixsocketdir=base,
            logfile=os.path.join(base, "server.log"),
            startparams="-w",
            dbname=self.dbname,
            user=self.user,
            postgres_options=self.options,
        )
        try:
            self._executor.start()
            self._create_database()
        except BaseException:
            self.stop()
            raise
        return self

    def _create_database(self) -> None:
        self._wait_ready(f'CREATE DATABASE "{self.dbname}"')

    def _wait_ready(self, statement: str) -> None:
        """Run ``statement`` in the ``postgres`` database as soon as the server accepts it
        (the port opens a moment before the server accepts connections)."""
        import psycopg

        admin = f"postgresql://{self.user}@{self.host}:{self.port}/postgres"
        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(statement)
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def log(self) -> str:
        """The server's log so far (for failure messages)."""
        if self._base is None:
            return ""
        path = os.path.join(self._base, "server.log")
        return Path(path).read_text(errors="replace") if os.path.exists(path) else ""

    def pause(self) -> None:
        """Stop the server (fast shutdown: clients are disconnected), keeping its data, so
        :meth:`resume` brings it back on the same port: a database outage, for fault tests."""
        if self._executor is None:
            raise RuntimeError("TemporaryPostgres has not been started")
        self._executor.stop()

    def resume(self) -> None:
        """Start the server again after :meth:`pause`, with the same data and port."""
        if self._executor is None:
            raise RuntimeError("TemporaryPostgres has not been started")
        self._executor.start()
        self._wait_ready("SELECT 1")

    def restart(self) -> None:
        """Restart the server (like ``pg_ctl restart -m fast``): every connection drops."""
        self.pause()
        self.resume()

    def stop(self) -> None:
        """Stop the server and delete its files. Idempotent."""
        executor, self._executor = self._executor, None
        if executor is not None:
            with contextlib.suppress(Exception):  # already gone; the files go anyway
                executor.stop()
        base, self._base = self._base, None
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
