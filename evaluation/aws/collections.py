"""Temporary face collections: created for one run, deleted when it ends, never anyone else's.

A face collection holds biometric data (face vectors) and is billed per stored face each month, so the
harness keeps one only while a run needs it. `CollectionGuard` creates a collection whose name says what
it is (the prefix the evaluation role is scoped to, the run's name, the time and a random part) and tags
it as the harness's; it deletes it when the block ends: on success, on an error, on Ctrl-C, on SIGTERM,
and when a watchdog deadline passes (then the main thread is interrupted as Ctrl-C would, and the
collection is deleted at once). It deletes only what it created. A process killed outright (SIGKILL,
power loss) cannot delete anything: `rekognition-eval faces cleanup` lists the harness's leftovers, by
name pattern and tag, and deletes them; a collection someone else created (another name or no tag) is
never touched.
"""

from __future__ import annotations

import _thread
import logging
import re
import secrets
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from types import FrameType
from typing import Any

from botocore.exceptions import ClientError

from evaluation.errors import UserError

log = logging.getLogger(__name__)

# The evaluation role's face permissions are scoped to collections with this prefix (infra/policies.py,
# exported by the stack as `collectionPrefix`).
PREFIX = "rekognition-eval-"
CREATED_BY_TAG = ("created-by", "rekognition-eval")
_STAMP = "%Y%m%dT%H%M%SZ"
# after the prefix: a purpose (letters, digits, dashes), a UTC stamp, 8 random hex digits
_NAME_TAIL = r"[a-z0-9-]{1,40}-\d{8}T\d{6}Z-[0-9a-f]{8}"


class DeadlinePassed(Exception):
    """The watchdog deleted the collection at --max-runtime; the answers already stored are kept."""


def collection_name(purpose: str, *, prefix: str = PREFIX, now: datetime | None = None) -> str:
    """`<prefix><purpose>-<UTC time>-<random>`: unique, sortable, and recognisably the harness's."""
    safe = re.sub(r"[^a-z0-9-]+", "-", purpose.lower()).strip("-")[:40] or "run"
    stamp = (now or datetime.now(timezone.utc)).strftime(_STAMP)
    name = f"{prefix}{safe}-{stamp}-{secrets.token_hex(4)}"
    if not re.fullmatch(r"[a-zA-Z0-9_.\-]{1,255}", name):
        raise UserError(f"collection prefix {prefix!r} makes an invalid CollectionId {name!r}")
    return name


def is_harness_name(name: str, *, prefix: str = PREFIX) -> bool:
    """The name the harness gives its collections (a prefix alone is not enough: people use it too)."""
    return re.fullmatch(re.escape(prefix) + _NAME_TAIL, name) is not None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class CollectionGuard:
    """`with CollectionGuard(client, purpose=...) as guard:` a collection `guard.name` exists inside.

    `max_runtime_s`: the watchdog deletes the collection and interrupts the main thread when this many
    seconds have passed. SIGTERM (as `kill` or a CI runner's timeout send) is turned into Ctrl-C while
    the block runs in the main thread, so the same cleanup runs.
    """

    def __init__(
        self,
        client: Any,
        *,
        purpose: str,
        prefix: str = PREFIX,
        max_runtime_s: float | None = None,
        say: Callable[[str], None] = log.info,
        interrupt: Callable[[], None] | None = None,
    ) -> None:
        if max_runtime_s is not None and max_runtime_s <= 0:
            raise UserError("--max-runtime must be positive")
        self.client = client
        self.name = collection_name(purpose, prefix=prefix)
        self.max_runtime_s = max_runtime_s
        self.say = say
        self.created = False
        self.deleted = False
        self.deadline_passed = False
        self.face_model_version: str | None = None
        self._interrupt = interrupt or _thread.interrupt_main
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._previous_sigterm: Any = None

    def __enter__(self) -> CollectionGuard:
        self._catch_sigterm()
        try:
            answer = self.client.create_collection(
                CollectionId=self.name, Tags={CREATED_BY_TAG[0]: CREATED_BY_TAG[1]}
            )
        except BaseException:
            self._restore_sigterm()
            raise
        self.created = True
        self.face_model_version = answer.get("FaceModelVersion")
        self.say(f"Created the temporary face collection {self.name}; it is deleted when the run ends")
        if self.max_runtime_s is not None:
            self._timer = threading.Timer(self.max_runtime_s, self._deadline)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._timer is not None:
                self._timer.cancel()
            self.delete()
        finally:
            self._restore_sigterm()

    def delete(self) -> None:
        """Delete the collection if this guard created it and has not deleted it yet (idempotent)."""
        with self._lock:
            if not self.created or self.deleted:
                return
            try:
                self.client.delete_collection(CollectionId=self.name)
            except ClientError as error:
                if _code(error) != "ResourceNotFoundException":
                    log.error(
                        "could not delete the face collection %s (%s): delete it with "
                        "`rekognition-eval faces cleanup`",
                        self.name,
                        error,
                    )
                    raise
            self.deleted = True
        self.say(f"Deleted the temporary face collection {self.name}")

    def _deadline(self) -> None:
        self.deadline_passed = True
        self.say(f"--max-runtime passed: deleting the face collection {self.name} and stopping the run")
        try:
            self.delete()
        finally:
            self._interrupt()

    def _catch_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def as_interrupt(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        self._previous_sigterm = signal.signal(signal.SIGTERM, as_interrupt)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None


@dataclass(frozen=True)
class Leftover:
    name: str
    face_count: int | None
    created: str | None
    ours: bool
    reason: str


def leftovers(client: Any, *, prefix: str = PREFIX) -> list[Leftover]:
    """Every collection of the account and region whose name starts with the prefix, each saying whether
    the harness created it (its name pattern and its created-by tag) and so may delete it."""
    names: list[str] = []
    token = None
    while True:
        page = client.list_collections(**({"NextToken": token} if token else {}))
        names += [name for name in page.get("CollectionIds", []) if name.startswith(prefix)]
        token = page.get("NextToken")
        if not token:
            break
    found = []
    for name in sorted(names):
        if not is_harness_name(name, prefix=prefix):
            found.append(Leftover(name, None, None, False, "its name is not one the harness gives"))
            continue
        try:
            described = client.describe_collection(CollectionId=name)
            tags = client.list_tags_for_resource(ResourceArn=described["CollectionARN"]).get("Tags", {})
        except ClientError as error:
            found.append(Leftover(name, None, None, False, f"cannot read it: {_code(error)}"))
            continue
        ours = tags.get(CREATED_BY_TAG[0]) == CREATED_BY_TAG[1]
        created = described.get("CreationTimestamp")
        found.append(
            Leftover(
                name,
                described.get("FaceCount"),
                created.isoformat() if hasattr(created, "isoformat") else created,
                ours,
                "created by the harness" if ours else f"no {CREATED_BY_TAG[0]}={CREATED_BY_TAG[1]} tag",
            )
        )
    return found


def delete_leftovers(client: Any, found: list[Leftover]) -> list[str]:
    """Delete the leftovers the harness created; returns their names. Others are never touched."""
    deleted = []
    for leftover in found:
        if not leftover.ours:
            continue
        try:
            client.delete_collection(CollectionId=leftover.name)
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
        deleted.append(leftover.name)
    return deleted
