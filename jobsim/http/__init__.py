"""The job service: a FastAPI app over a worker pool (:mod:`.app`) and the server that runs
both in one task group with the original Go service's shutdown order (:mod:`.server`).

Needs the ``server`` extra: ``pip install -e '.[server]'``.
"""

from jobsim.http.app import Instruments, create_app
from jobsim.http.cli import main
from jobsim.http.server import ServeResult, Service, serve

__all__ = ["Instruments", "ServeResult", "Service", "create_app", "main", "serve"]
