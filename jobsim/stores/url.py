"""``open_store(url)``: one string picks where jobs live.

``memory://`` (this process only), ``sqlite:///relative/jobs.db`` or
``sqlite:////absolute/jobs.db`` (one host, several processes), ``postgresql://user@host/db``
(any number of hosts). The SQL stores are imported only when asked for, so ``import jobsim``
never imports psycopg.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from jobsim.domain import JobsimError
from jobsim.stores.base import JobStore
from jobsim.stores.masking import mask_url

__all__ = ["SCHEMES", "StoreURLError", "StoreUnavailable", "mask_url", "open_store"]

#: The URL forms :func:`open_store` accepts, for error messages and docs.
SCHEMES = "memory://, sqlite:///path/to/jobs.db, postgresql://user:password@host:port/dbname"


class StoreURLError(JobsimError, ValueError):
    """A store URL jobsim cannot interpret."""


class StoreUnavailable(JobsimError, ConnectionError):
    """The store's database could not be opened or reached."""


def _scrub(text: str, url: str) -> str:
    """Remove the URL's password from a driver's error text, should it echo it."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text


async def open_store(url: str) -> JobStore:
    """Open the store that ``url`` names (see the module doc for the forms).

    Raises :class:`StoreURLError` for a URL of unknown form and :class:`StoreUnavailable`
    when the database cannot be opened; both name the URL with its password masked.
    """
    if not isinstance(url, str) or "://" not in url:
        raise StoreURLError(f"store URL {url!r} has no scheme; allowed: {SCHEMES}")
    scheme = url.split("://", 1)[0].lower()
    shown = mask_url(url)
    if scheme == "memory":
        from jobsim.stores.memory import InMemoryJobStore

        return InMemoryJobStore()
    if scheme == "sqlite":
        path = url.split("://", 1)[1]
        if not path.startswith("/") or len(path) < 2:
            raise StoreURLError(
                f"store URL {shown!r}: write sqlite:///relative/jobs.db or "
                "sqlite:////absolute/jobs.db (three slashes, then the path)"
            )
        from jobsim.stores.sqlite import SQLiteJobStore

        try:
            return await SQLiteJobStore.open(path[1:])
        except Exception as exc:  # sqlite3.Error, OSError
            raise StoreUnavailable(
                f"cannot open SQLite store {shown!r}: {type(exc).__name__}: {exc}"
            ) from exc
    if scheme in {"postgresql", "postgres"}:
        try:
            from jobsim.stores.postgres import PostgresJobStore
        except ImportError as exc:
            raise StoreUnavailable(
                f"store URL {shown!r} needs psycopg: pip install 'jobsim[postgresql]' ({exc})"
            ) from exc
        try:
            return await PostgresJobStore.connect(url)
        except Exception as exc:  # psycopg.OperationalError and friends
            detail = _scrub(f"{type(exc).__name__}: {exc}".strip(), url)
            raise StoreUnavailable(f"cannot reach PostgreSQL store {shown!r}: {detail}") from exc
    raise StoreURLError(f"unknown store URL scheme {scheme!r} in {shown!r}; allowed: {SCHEMES}")
