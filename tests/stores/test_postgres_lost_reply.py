"""A write that committed but whose reply was lost: the connection drops after PostgreSQL
committed the INSERT and before the client heard. The store retries on a fresh connection;
the retry finds the row already there. If the row there is the very job it sent, the add
succeeded (a job acknowledged is a job kept, and stored once); a different job under that id
is still a :class:`~jobsim.DuplicateJob`.

The drop is real: a TCP proxy on loopback between the store and its own server passes every
byte both ways, and the first time the server's reply carries the armed command tag it closes
the client's connection instead of forwarding it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from servers import own_postgres

from jobsim import DuplicateJob, Job, JobStatus
from jobsim.stores.postgres import PostgresJobStore

pytestmark = pytest.mark.anyio


class LoseReply:
    """A loopback TCP proxy to ``host:port`` that, once armed with a tag (in a reply: the text
    of a CommandComplete such as ``b"INSERT 0 1"``), drops the first connection whose data
    carries it, that data unsent."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._tag: bytes | None = None
        self._request = False
        self._lock = threading.Lock()
        self.cuts = 0
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, tag: bytes, *, request: bool = False) -> None:
        """Drop the first connection whose next reply (``request``: request, which then
        never reaches the server) carries ``tag``."""
        with self._lock:
            self._tag, self._request = tag, request

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(self._target)
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        try:
            while data := src.recv(65536):
                if self._cut(data, replies):
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _cut(self, data: bytes, reply: bool) -> bool:
        with self._lock:
            if self._tag is None or reply == self._request or self._tag not in data:
                return False
            self._tag = None
            self.cuts += 1
            return True

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            sock.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with own_postgres() as pg:
        yield pg


@pytest.fixture
def proxy(server: Any) -> Iterator[LoseReply]:
    proxy = LoseReply(server.host, server.port)
    yield proxy
    proxy.close()


async def _store(server: Any, proxy: LoseReply) -> PostgresJobStore:
    url = f"postgresql://{server.user}@127.0.0.1:{proxy.port}/{server.dbname}?sslmode=disable"
    return await PostgresJobStore.connect(url, table=f"t_{uuid.uuid4().hex[:12]}")


async def test_an_add_whose_reply_was_lost_is_stored_once(server: Any, proxy: LoseReply) -> None:
    store = await _store(server, proxy)
    try:
        job = Job(type="email", payload={"to": "a@example.com", "n": [1, 2.5]}, priority=3)
        proxy.arm(b"INSERT 0 1")
        assert await store.add(job) is job  # not DuplicateJob: the row there is this job
        assert proxy.cuts == 1
        assert [j.id for j in await store.list()] == [job.id]
        stored = await store.get(job.id)
        assert (stored.status, stored.payload, stored.priority) == (
            JobStatus.PENDING,
            job.payload,
            3,
        )
    finally:
        await store.close()


async def test_a_different_job_under_a_stored_id_is_still_a_duplicate(
    server: Any, proxy: LoseReply
) -> None:
    store = await _store(server, proxy)
    try:
        first = await store.add(Job(type="email", payload={"to": "a"}))
        again = Job(id=first.id, type="email", payload={"to": "b"}, created=first.created)
        proxy.arm(b"INSERT 0 1")  # never sent: the insert fails, nothing to cut
        with pytest.raises(DuplicateJob):
            await store.add(again)
        assert proxy.cuts == 0
        # The same job sent again, not a retry of a lost reply: still a duplicate.
        with pytest.raises(DuplicateJob):
            await store.add(first)
    finally:
        await store.close()


async def test_add_many_whose_commit_reply_was_lost_is_stored_once(
    server: Any, proxy: LoseReply
) -> None:
    store = await _store(server, proxy)
    try:
        jobs = [Job(type="t", payload={"i": i}) for i in range(5)]
        proxy.arm(b"COMMIT")
        assert await store.add_many(jobs) == jobs
        assert proxy.cuts == 1
        assert [j.id for j in await store.list()] == [j.id for j in jobs]
    finally:
        await store.close()


async def test_a_retried_add_meeting_a_different_job_raises_duplicate(
    server: Any, proxy: LoseReply
) -> None:
    """The first try is lost on its way (the server never saw it) and the id is taken by a
    different job: the retry must not pass that job off as this one."""
    store = await _store(server, proxy)
    direct = await PostgresJobStore.connect(server.url, table=store.table)
    try:
        job = Job(type="email", payload={"to": "a"})
        await direct.add(Job(id=job.id, type="email", payload={"to": "b"}, created=job.created))
        proxy.arm(b"INSERT INTO", request=True)
        with pytest.raises(DuplicateJob):
            await store.add(job)
        assert proxy.cuts == 1
        assert (await store.get(job.id)).payload == {"to": "b"}
    finally:
        await direct.close()
        await store.close()


async def test_an_outcome_whose_reply_was_lost_is_not_refused(
    server: Any, proxy: LoseReply
) -> None:
    """``complete`` under a claim token: the first try wrote the outcome, its reply was lost;
    the retry finds the job completed by this very holder, so the outcome stands."""
    store = await _store(server, proxy)
    try:
        await store.add(Job(type="t"))
        job = await store.claim_next("w1", lease=30.0)
        assert job is not None
        proxy.arm(b"UPDATE 1")
        await store.complete(job.id, {"ok": True}, token=job.token)
        assert proxy.cuts == 1
        done = await store.get(job.id)
        assert (done.status, done.result, done.worker_id) == (
            JobStatus.COMPLETED,
            {"ok": True},
            "w1",
        )
    finally:
        await store.close()


async def test_a_claim_whose_reply_was_lost_is_won(server: Any, proxy: LoseReply) -> None:
    """``claim`` by id: the first try claimed the job, its reply was lost; the retry finds the
    job processing under this worker since this very start, so the claim is won (not left
    processing under a worker that believes it lost)."""
    store = await _store(server, proxy)
    try:
        job = await store.add(Job(type="t"))
        proxy.arm(b"UPDATE 1")
        assert await store.claim(job.id, "w1", at=123.5) is True
        assert proxy.cuts == 1
        held = await store.get(job.id)
        assert (held.status, held.worker_id, held.attempts, held.started) == (
            JobStatus.PROCESSING,
            "w1",
            1,
            123.5,
        )
        assert await store.claim(job.id, "w2") is False  # taken: another worker loses
    finally:
        await store.close()


async def test_a_cancel_whose_reply_was_lost_reports_it_cancelled(
    server: Any, proxy: LoseReply
) -> None:
    """``cancel``: the first try cancelled the job, its reply was lost; the retry finds the
    job cancelled at this very call's time, so the call reports True (it did cancel it)."""
    store = await _store(server, proxy)
    try:
        pending = await store.add(Job(type="t"))
        running = await store.add(Job(type="t"))
        assert await store.claim(running.id, "w1")
        for job, at in ((pending, 200.25), (running, 300.5)):
            proxy.arm(b"UPDATE 1")
            assert await store.cancel(job.id, at=at) is True
            stored = await store.get(job.id)
            assert (stored.status, stored.finished) == (JobStatus.CANCELLED, at)
        assert proxy.cuts == 2
        assert await store.cancel(pending.id) is False  # cancelled already: not by this call
    finally:
        await store.close()


async def test_a_retried_cancel_meeting_another_cancel_reports_false(
    server: Any, proxy: LoseReply
) -> None:
    """The first try is lost on its way (the server never saw it) and someone else cancelled
    the job meanwhile: the retry must not take that cancel for its own."""
    store = await _store(server, proxy)
    direct = await PostgresJobStore.connect(server.url, table=store.table)
    try:
        job = await store.add(Job(type="t"))
        assert await direct.cancel(job.id, at=100.0) is True
        proxy.arm(b"SET status = 'cancelled'", request=True)
        assert await store.cancel(job.id, at=400.75) is False
        assert proxy.cuts == 1
        assert (await store.get(job.id)).finished == 100.0
    finally:
        await direct.close()
        await store.close()
