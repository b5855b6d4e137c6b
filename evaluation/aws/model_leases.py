"""What this tool started, written down before it is started: a lease file per Custom Labels model.

A process killed outright (SIGKILL, power loss, an out-of-memory kill) cannot stop the model it started,
and the next run cannot tell that model from one someone else runs on purpose. So `ModelGuard` writes a
small lease before StartProjectVersion (the model's ARN, region and endpoint, this process, the host, the
--max-runtime deadline) and removes it once the model is stopped. A lease whose process is gone on this
host, or whose deadline passed long ago, marks a *leftover*: the same command run again takes the model
over and stops it when it ends, `models stop --leftovers` stops every leftover, and `models list` says
which running models are ours.

The leases live beside the default response cache ($XDG_CACHE_HOME/rekognition-eval/model-leases/),
one per user, whatever --cache a run used, so `models` finds them without being told where.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from evaluation.calls.cache import default_cache_path

# A lease from another host cannot be checked by its process: it is a leftover once its deadline is this
# far behind (its own watchdog would have stopped the model by then, had it been alive).
FOREIGN_GRACE = timedelta(minutes=10)


def _without_credentials(url: str | None) -> str | None:
    """An endpoint URL without user:password, so no secret lands in the lease."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


@dataclass(frozen=True)
class Lease:
    version_arn: str
    project_arn: str | None
    region: str
    endpoint_url: str | None
    pid: int
    host: str
    started_at: str  # ISO 8601, UTC: when StartProjectVersion was asked (or the model taken over)
    deadline_at: str  # started_at + --max-runtime

    @property
    def version_name(self) -> str:
        return self.version_arn.split("/version/", 1)[-1].rsplit("/", 1)[0]

    def is_leftover(self, *, now: datetime | None = None) -> bool:
        """True when no live process of this tool holds the model any more."""
        now = now or datetime.now(timezone.utc)
        if self.host == socket.gethostname():
            return self.pid != os.getpid() and not _alive(self.pid)
        return now > datetime.fromisoformat(self.deadline_at) + FOREIGN_GRACE

    def describe(self) -> str:
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"rekognition-eval (pid {self.pid}{where}, started {self.started_at})"


def ownership_note(lease: Lease) -> str:
    """What `models list` says of a running model this tool started."""
    if lease.is_leftover():
        return (
            f"ours, left over: started by {lease.describe()}, which is gone "
            "(rekognition-eval models stop --leftovers)"
        )
    return f"ours: held by {lease.describe()}, stopped by {lease.deadline_at} at the latest"


class LeaseStore:
    """The lease files of one user: write before starting, remove once stopped."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder else default_cache_path().parent / "model-leases"

    def _path(self, version_arn: str) -> Path:
        return self.folder / (hashlib.sha256(version_arn.encode()).hexdigest()[:24] + ".json")

    def write(
        self,
        version_arn: str,
        *,
        project_arn: str | None,
        region: str,
        endpoint_url: str | None,
        max_runtime_s: float,
    ) -> Lease:
        now = datetime.now(timezone.utc)
        lease = Lease(
            version_arn=version_arn,
            project_arn=project_arn,
            region=region,
            endpoint_url=_without_credentials(endpoint_url),
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=now.isoformat(timespec="seconds"),
            deadline_at=(now + timedelta(seconds=max_runtime_s)).isoformat(timespec="seconds"),
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(version_arn)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(asdict(lease), indent=2) + "\n", encoding="utf-8")
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())  # on disk before the model is started: a crash must not lose it
        os.replace(temporary, path)
        return lease

    def find(self, version_arn: str) -> Lease | None:
        return self._read(self._path(version_arn))

    def remove(self, version_arn: str, *, only_ours: bool = True) -> None:
        """Remove the model's lease (by default only if this process holds it)."""
        lease = self.find(version_arn)
        if lease is None or (only_ours and (lease.pid != os.getpid() or lease.host != socket.gethostname())):
            return
        self._path(version_arn).unlink(missing_ok=True)

    def all(self) -> Iterator[Lease]:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.json")):
            lease = self._read(path)
            if lease is not None:
                yield lease

    @staticmethod
    def _read(path: Path) -> Lease | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return Lease(**{key: raw.get(key) for key in Lease.__dataclass_fields__})
        except (OSError, ValueError, TypeError):
            return None


def stop_leftovers(
    store: LeaseStore,
    client_for: Callable[[Lease], Any],
    waiting: Any,
    *,
    wait: bool = True,
    say: Callable[[str], None] = print,
) -> int:
    """Stop every model whose lease is a leftover (its run is gone), then drop the lease; returns how
    many leases were handled. A model no longer running only loses its lease."""
    from evaluation.aws.models import (
        NOT_RUNNING,
        RUNNING,
        STARTING,
        STOPPED,
        VersionRef,
        describe_version,
        project_arn_of,
        request_stop,
        wait_stopped,
    )

    leftovers = [lease for lease in store.all() if lease.is_leftover()]
    if not leftovers:
        say("No leftover model: every model this tool started was stopped, or its run still holds it.")
    for lease in leftovers:
        version = VersionRef.parse(lease.version_arn)
        client = client_for(lease)
        project_arn = lease.project_arn or project_arn_of(client, version)
        status = describe_version(client, version, project_arn).status
        if status in (RUNNING, STARTING):
            say(f"Model {version.version_name} is {status}, left over by {lease.describe()}: stopping it.")
            status = request_stop(client, version, project_arn, waiting)
            if wait and status not in NOT_RUNNING and wait_stopped(client, version, project_arn, waiting):
                status = STOPPED
            say(f"Model {version.version_name} is {status}.")
        else:
            say(f"Model {version.version_name} is {status}: nothing to stop (its lease is dropped).")
        store.remove(version.arn, only_ours=False)
    return len(leftovers)
