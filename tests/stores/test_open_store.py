"""open_store(url): one string picks the store; bad URLs and dead servers give clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jobsim import InMemoryJobStore, Job, JobStatus
from jobsim.stores import StoreUnavailable, StoreURLError, mask_url, open_store
from jobsim.stores.postgres import PostgresJobStore
from jobsim.stores.sqlite import SQLiteJobStore

pytestmark = pytest.mark.anyio


async def test_memory_url_gives_an_in_memory_store() -> None:
    store = await open_store("memory://")
    assert isinstance(store, InMemoryJobStore)


async def test_sqlite_url_with_an_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = await open_store(f"SQLite:///{path}")  # sqlite:////abs/path; any case
    try:
        assert isinstance(store, SQLiteJobStore) and store.path == str(path)
        await store.add(Job())
    finally:
        await store.close()
    assert path.exists()


async def test_postgresql_url_gives_a_postgres_store(postgres_url: str) -> None:
    store = await open_store(postgres_url)
    try:
        assert isinstance(store, PostgresJobStore)
        assert (await store.counts())[JobStatus.PENDING] >= 0
    finally:
        await store.close()


@pytest.mark.parametrize(
    "url", ["redis://localhost/0", "jobs.db", "mysql://u:pw@h/db", ""], ids=repr
)
async def test_unknown_or_missing_scheme_is_a_clear_error(url: str) -> None:
    with pytest.raises(StoreURLError, match="allowed: memory://, sqlite:///") as caught:
        await open_store(url)
    assert "pw" not in str(caught.value)


async def test_unreachable_postgresql_names_the_url_with_the_password_masked() -> None:
    url = "postgresql://alice:s3cret@127.0.0.1:1/jobs"
    with pytest.raises(StoreUnavailable) as caught:
        await open_store(url)
    message = str(caught.value)
    assert "postgresql://alice:***@127.0.0.1:1/jobs" in message
    assert "s3cret" not in message


async def test_unopenable_sqlite_file_names_the_url(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreUnavailable, match=r"dir\.db"):
        await open_store(f"sqlite:///{tmp_path / 'dir.db'}")


async def test_sqlite_url_without_a_path_is_a_clear_error() -> None:
    with pytest.raises(StoreURLError, match="three slashes"):
        await open_store("sqlite://jobs.db")


def test_mask_url_hides_passwords_only() -> None:
    assert mask_url("postgresql://u:pw@h:5/db") == "postgresql://u:***@h:5/db"
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url("postgresql://h/db?password=pw&x=1") == "postgresql://h/db?password=***&x=1"
    assert mask_url("host=h password='a b' user=u") == "host=h password=*** user=u"


@pytest.mark.parametrize("password", ["p/ss", "p#ss", "p?ss", "p@ss", "a/b#c?d@e", "p%2Fss"])
def test_mask_url_hides_passwords_with_unencoded_special_characters(password: str) -> None:
    masked = mask_url(f"postgresql://bob:{password}@db.example:5432/jobs")
    assert masked == "postgresql://bob:***@db.example:5432/jobs"
    assert password not in masked


@pytest.mark.parametrize("password", ["p/ss", "p#ss", "p?ss", "p@ss"])
async def test_a_password_libpq_would_misread_is_refused_without_echoing_it(
    password: str,
) -> None:
    with pytest.raises(StoreURLError, match="percent-encode") as caught:
        await open_store(f"postgresql://bob:{password}@127.0.0.1:1/jobs")
    assert password not in str(caught.value) and "bob:***@" in str(caught.value)


async def test_upper_case_postgresql_scheme_works(postgres_url: str) -> None:
    store = await open_store("POSTGRESQL" + postgres_url[len("postgresql") :])
    try:
        assert isinstance(store, PostgresJobStore)
    finally:
        await store.close()


@pytest.mark.parametrize("suffix", ["?mode=ro", "#frag", "?cache=shared&mode=rwc"])
async def test_sqlite_url_query_strings_are_refused(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(StoreURLError, match="no query string"):
        await open_store(f"sqlite:///{tmp_path / 'jobs.db'}{suffix}")
    assert not any(p.name.startswith("jobs.db") for p in tmp_path.glob("*"))  # noqa: ASYNC240


async def test_sqlite_never_creates_missing_directories(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="does not exist; create it first"):
        await open_store(f"sqlite:///{tmp_path / 'missing' / 'jobs.db'}")
    assert not (tmp_path / "missing").exists()


def test_importing_jobsim_does_not_import_the_sql_drivers() -> None:
    code = "import sys, jobsim, jobsim.stores; print('psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
