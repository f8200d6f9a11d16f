"""``open_store(url)``: one string picks where jobs live.

``memory://`` (this process only), ``sqlite:///relative/jobs.db`` or
``sqlite:////absolute/jobs.db`` (one host, several processes), ``postgresql://user@host/db``
(any number of hosts). The SQL stores are imported only when asked for, so ``import jobsim``
never imports psycopg.
"""

from __future__ import annotations

from jobsim.stores.base import JobStore
from jobsim.stores.errors import StoreUnavailable, StoreURLError
from jobsim.stores.masking import mask_url, scrub, split_credentials

__all__ = ["SCHEMES", "StoreURLError", "StoreUnavailable", "mask_url", "open_store", "scrub"]

#: The URL forms :func:`open_store` accepts, for error messages and docs.
SCHEMES = "memory://, sqlite:///path/to/jobs.db, postgresql://user:password@host:port/dbname"


def _check_postgres_url(url: str, shown: str) -> None:
    """Refuse a URL that libpq would misread (and quote back, password and all)."""
    parts = split_credentials(url)
    if parts is None:
        return
    _, user, password, _ = parts
    userinfo = f"{user}:{password}" if password is not None else user
    bad = sorted({c for c in userinfo if c in "/?#@"})
    if bad:
        raise StoreURLError(
            f"store URL {shown!r}: the user name or password contains "
            f"{', '.join(repr(c) for c in bad)} unencoded; percent-encode it "
            "(/ as %2F, ? as %3F, # as %23, @ as %40)"
        )


async def open_store(url: str, *, outage_limit: float | None = None) -> JobStore:
    """Open the store that ``url`` names (see the module doc for the forms).

    Raises :class:`StoreURLError` for a URL of unknown form and :class:`StoreUnavailable`
    when the database cannot be opened; both name the URL with its password masked.
    ``outage_limit``: how many seconds a PostgreSQL store rides out an outage before its
    calls fail (default 60; see :class:`~jobsim.stores.PostgresJobStore`).
    """
    if not isinstance(url, str) or "://" not in url:
        raise StoreURLError(f"store URL {mask_url(url)!r} has no scheme; allowed: {SCHEMES}")
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    url = f"{scheme}://{rest}"  # POSTGRESQL:// and SQLite:// mean what they say
    shown = mask_url(url)
    if scheme == "memory":
        from jobsim.stores.memory import InMemoryJobStore

        return InMemoryJobStore()
    if scheme == "sqlite":
        return await _open_sqlite(rest, shown)
    if scheme in {"postgresql", "postgres"}:
        _check_postgres_url(url, shown)
        try:
            from jobsim.stores.postgres import PostgresJobStore
        except ImportError as exc:
            raise StoreUnavailable(
                f"store URL {shown!r} needs psycopg: pip install 'jobsim[postgresql]' ({exc})"
            ) from exc
        try:
            options = {} if outage_limit is None else {"outage_limit": outage_limit}
            return await PostgresJobStore.connect(url, **options)
        except Exception as exc:  # psycopg.OperationalError and friends
            detail = scrub(f"{type(exc).__name__}: {exc}".strip(), url)
            raise StoreUnavailable(f"cannot reach PostgreSQL store {shown!r}: {detail}") from None
    raise StoreURLError(f"unknown store URL scheme {scheme!r} in {shown!r}; allowed: {SCHEMES}")


async def _open_sqlite(rest: str, shown: str) -> JobStore:
    if not rest.startswith("/") or len(rest) < 2:
        raise StoreURLError(
            f"store URL {shown!r}: write sqlite:///relative/jobs.db or "
            "sqlite:////absolute/jobs.db (three slashes, then the path)"
        )
    if "?" in rest or "#" in rest:
        raise StoreURLError(
            f"store URL {shown!r}: SQLite URLs take no query string or fragment (options such "
            "as mode=ro are not supported); write sqlite:///path/to/jobs.db"
        )
    from jobsim.stores.sqlite import SQLiteJobStore

    try:
        return await SQLiteJobStore.open(rest[1:])
    except Exception as exc:  # sqlite3.Error, OSError
        raise StoreUnavailable(
            f"cannot open SQLite store {shown!r}: {type(exc).__name__}: {exc}"
        ) from exc
