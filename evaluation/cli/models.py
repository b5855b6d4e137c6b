"""`rekognition-eval models list | start | stop`, and what `run --backend custom-labels` adds to a run.

Every command that could start a model prints what it costs per hour first, and refuses to start one
when `--max-cost` would be exceeded by running it for the whole `--max-runtime`, or when the price is
unknown and a budget was asked for. See evaluation/models.py for the guard and its watchdog.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TextIO

from evaluation.errors import UserError

if TYPE_CHECKING:
    from evaluation.aws.model_cost import HourlyCost
    from evaluation.aws.model_guard import ModelGuard
    from evaluation.aws.models import VersionRef, Waiting

DEFAULT_MAX_RUNTIME = "2h"
# The polls of DescribeProjectVersions (None: the SDK waiter's own, 30 s); tests shorten them.
WAITING: Waiting | None = None


def _waiting() -> Waiting:
    from evaluation.aws.models import Waiting

    return WAITING or Waiting()


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("AWS")
    group.add_argument("--region", help="AWS region (default: the model ARN's, or your AWS configuration)")
    group.add_argument("--profile", help="AWS profile name")
    group.add_argument("--endpoint-url", help="a Rekognition-compatible endpoint instead of AWS's")
    group.add_argument(
        "--stack-outputs",
        metavar="FILE",
        help="`pulumi stack output --json` of this project's stack: its project, region and role",
    )
    group.add_argument(
        "--no-assume-role",
        dest="assume_role",
        action="store_false",
        help="with --stack-outputs: use your own credentials instead of the stack's role",
    )


def _add_start_options(parser: argparse.ArgumentParser | Any, *, prefix_help: str = "") -> None:
    parser.add_argument(
        "--min-inference-units",
        type=int,
        default=1,
        metavar="N",
        help=f"{prefix_help}inference units to start the model with (default 1); each is billed per hour",
    )
    parser.add_argument(
        "--max-inference-units",
        type=int,
        metavar="N",
        help="let the service scale up to N units under load (billed at up to N units)",
    )
    parser.add_argument(
        "--max-runtime",
        default=DEFAULT_MAX_RUNTIME,
        metavar="DURATION",
        help=f"stop the model after at most this long, e.g. 90m, 2h (default {DEFAULT_MAX_RUNTIME})",
    )


def add_run_options(run: argparse.ArgumentParser) -> None:
    """The `run` options of the custom-labels backend and of the comparison with AWS's evaluation."""
    group = run.add_argument_group("Custom Labels (--backend custom-labels)")
    group.add_argument("--project-version-arn", metavar="ARN", help="the model version to evaluate")
    group.add_argument(
        "--max-results", type=int, metavar="N", help="MaxResults sent with every call (default: not sent)"
    )
    group.add_argument(
        "--start-model",
        action="store_true",
        help="start the model if it is not running, and stop it when the run ends (only if this run "
        "started it), at the latest after --max-runtime",
    )
    _add_start_options(group, prefix_help="with --start-model: ")
    group.add_argument(
        "--aws-evaluation",
        metavar="FILE",
        help="the EvaluationSummary JSON Custom Labels wrote for this model (a path or s3://): AWS's "
        "per-label threshold, precision, recall and F1 beside this run's in the report",
    )


def add_models_parser(commands: Any) -> None:
    models = commands.add_parser(
        "models",
        help="list, start and stop Custom Labels models (a running model is billed per hour)",
        description=(
            "Custom Labels model versions: list them with their status and inference units, start one "
            "(its cost per hour is printed first; it is stopped after --max-runtime at the latest, so "
            "this command stays until then or Ctrl-C), or stop one."
        ),
    )
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", parser_class=type(models))
    listing = actions.add_parser(
        "list", help="the project's model versions, their status and inference units"
    )
    listing.add_argument("--project-arn", metavar="ARN", help="the project (default: the stack's projectArn)")
    _add_connection_options(listing)

    start = actions.add_parser(
        "start",
        help="start a model version, hold it running until --max-runtime or Ctrl-C, then stop it",
    )
    start.add_argument("arn", metavar="ARN", help="the model version ARN")
    _add_start_options(start)
    start.add_argument(
        "--max-cost", type=float, metavar="USD", help="refuse to start when --max-runtime could cost more"
    )
    start.add_argument(
        "--price-table", metavar="FILE", help="your own prices.yaml (default: the packaged one)"
    )
    _add_connection_options(start)

    stop = actions.add_parser(
        "stop",
        help="stop a model version (or every leftover this tool started) and wait until it is STOPPED",
    )
    stop.add_argument("arn", metavar="ARN", nargs="?", help="the model version ARN")
    stop.add_argument(
        "--leftovers",
        action="store_true",
        help="stop every model this tool started whose run is gone (killed before it could stop it)",
    )
    stop.add_argument("--no-wait", dest="wait", action="store_false", help="do not wait for STOPPED")
    _add_connection_options(stop)


# --- clients -----------------------------------------------------------------------------------------


def _session(args: argparse.Namespace, region: str | None) -> tuple[Any, Any]:
    """(stack outputs, boto3 session): the stack's role and region with --stack-outputs, else your own."""
    from evaluation.cli import common

    return common.stack(args, region, own_session=True)


def model_client(
    *, session: Any, region: str | None, endpoint_url: str | None, version: VersionRef | None = None
) -> Any:
    """A Rekognition client in the model's region (a model lives in one region; calls elsewhere miss it)."""
    from evaluation.calls.backends.rekognition import make_client

    if version is not None and region and region != version.region:
        raise UserError(f"--region {region} differs from the model's region {version.region} ({version.arn})")
    return make_client(
        session=session, region=region or (version.region if version else None), endpoint_url=endpoint_url
    )


def _project_named(project_arn: str | None, version: VersionRef) -> str | None:
    """The stack's project ARN when the version belongs to it (saves a DescribeProjects), else None."""
    if project_arn and project_arn.split(":project/", 1)[-1].rsplit("/", 1)[0] == version.project_name:
        return project_arn
    return None


def _stack_project(outputs: Any, version: VersionRef) -> str | None:
    return _project_named(outputs.project_arn if outputs else None, version)


# --- the cost guard ----------------------------------------------------------------------------------


def announce_cost(
    cost: HourlyCost,
    *,
    max_runtime_s: float,
    max_cost: float | None,
    endpoint_url: str | None,
    file: TextIO | None = None,
) -> None:
    """Print the cost per hour before anything starts; refuse when --max-cost could be exceeded."""
    from evaluation.aws.model_cost import format_duration

    print(cost.describe(max_runtime_s), file=file or sys.stdout, flush=True)
    if endpoint_url:
        print(
            f"  (--endpoint-url {endpoint_url}: prices are AWS's; a local endpoint bills nothing)", file=file
        )
    if max_cost is None:
        return
    worst = cost.at_most(max_runtime_s / 3600)
    if worst is None:
        raise UserError(
            "cannot check --max-cost: the inference-unit-hour price is unknown; pass --price-table FILE"
        )
    if worst > max_cost:
        raise UserError(
            f"running the model for --max-runtime {format_duration(max_runtime_s)} could cost USD "
            f"{worst:,.2f}, more than --max-cost {max_cost:g}; nothing was started"
        )


# --- models list | start | stop ------------------------------------------------------------------------


def cmd_models(args: argparse.Namespace) -> int:
    action = getattr(args, "models_command", None)
    if action == "list":
        return _list(args)
    if action == "start":
        return _start(args)
    if action == "stop":
        return _stop(args)
    raise UserError("models: choose an action: list, start or stop")


def _list(args: argparse.Namespace) -> int:
    from evaluation.aws.model_leases import LeaseStore, ownership_note
    from evaluation.aws.models import RUNNING, STARTING, check_project_arn, list_versions

    outputs, session = _session(args, args.region)
    project_arn = args.project_arn or (outputs.project_arn if outputs else None)
    if not project_arn:
        raise UserError(
            "models list needs a project: --project-arn ARN, or --stack-outputs FILE of a stack deployed "
            "with customLabels on (its projectArn)"
        )
    check_project_arn(project_arn)
    region = args.region or project_arn.split(":")[3]
    client = model_client(session=session, region=region, endpoint_url=args.endpoint_url)
    versions = list_versions(client, project_arn)
    leases = LeaseStore()
    print(f"Project: {project_arn}")
    if not versions:
        print("No model versions.")
        return 0
    print(f"{'VERSION':<32} {'STATUS':<20} {'UNITS':<7} {'F1':<6} CREATED")
    for version in versions:
        units = "-" if version.min_inference_units is None else str(version.min_inference_units)
        if version.max_inference_units and version.max_inference_units != version.min_inference_units:
            units += f"-{version.max_inference_units}"
        f1 = "-" if version.f1 is None else f"{version.f1:.3f}"
        print(f"{version.version_name:<32} {version.status:<20} {units:<7} {f1:<6} {version.created or '-'}")
        print(f"  {version.arn}")
        if version.summary_uri:
            print(f"  evaluation summary: {version.summary_uri}")
        lease = leases.find(version.arn)
        if lease is not None and version.status in (RUNNING, STARTING):
            print(f"  {ownership_note(lease)}")
    running = [v for v in versions if v.status in (RUNNING, STARTING)]
    if running:
        print(
            f"{len(running)} model(s) running: billed per inference-unit hour until stopped "
            "(rekognition-eval models stop ARN)."
        )
    return 0


def _start(args: argparse.Namespace) -> int:
    from evaluation.aws.model_cost import format_duration, hourly_cost, parse_duration
    from evaluation.aws.model_guard import DeadlinePassed, ModelGuard, interrupt_main
    from evaluation.aws.models import VersionRef

    version = VersionRef.parse(args.arn)
    max_runtime_s = parse_duration(args.max_runtime)
    if args.max_cost is not None and args.max_cost < 0:
        raise UserError(f"--max-cost must not be negative, got {args.max_cost:g}")
    outputs, session = _session(args, args.region or version.region)
    client = model_client(
        session=session, region=args.region, endpoint_url=args.endpoint_url, version=version
    )
    cost = hourly_cost(
        version.region,
        min_inference_units=args.min_inference_units,
        max_inference_units=args.max_inference_units,
        price_table=args.price_table,
    )
    announce_cost(cost, max_runtime_s=max_runtime_s, max_cost=args.max_cost, endpoint_url=args.endpoint_url)
    holding = threading.Event()
    guard = ModelGuard(
        client,
        version.arn,
        max_runtime_s=max_runtime_s,
        min_inference_units=args.min_inference_units,
        max_inference_units=args.max_inference_units,
        project_arn=_stack_project(outputs, version),
        waiting=_waiting(),
        # while the model starts, the deadline wakes this thread from its wait for RUNNING; while it is
        # held, the watchdog's stop ends the wait below
        interrupt=lambda: None if holding.is_set() else interrupt_main(),
    )
    try:
        with guard:
            holding.set()
            if not guard.started_by_us:
                print("Nothing started: use it, and stop it with `rekognition-eval models stop ARN`.")
                return 0
            # --max-runtime counts from the start call (the watchdog's clock), not from RUNNING
            until = guard.deadline_at or datetime.now(timezone.utc) + timedelta(seconds=max_runtime_s)
            left = round(max(0.0, (until - datetime.now(timezone.utc)).total_seconds()), 1)
            print(
                f"Holding the model until {until:%Y-%m-%d %H:%M:%S} UTC ({format_duration(left)} more; "
                "--max-runtime counts from the start), then stopping it; Ctrl-C stops it now. Evaluate "
                "from another terminal:\n  rekognition-eval run --backend custom-labels "
                f"--project-version-arn {version.arn} --dataset D"
            )
            _wait_for(guard.deadline_passed)
    except DeadlinePassed as passed:  # the deadline fell while the model was still starting
        print(str(passed).split(" Answers received")[0])
    return 0


def _wait_for(event: threading.Event) -> None:
    """Short waits, so Ctrl-C is handled at once on every platform."""
    while not event.wait(timeout=0.5):
        pass


def _stop(args: argparse.Namespace) -> int:
    from evaluation.aws.model_leases import LeaseStore
    from evaluation.aws.models import (
        NOT_RUNNING,
        VersionRef,
        describe_version,
        project_arn_of,
        request_stop,
        wait_stopped,
    )

    if args.leftovers:
        if args.arn:
            raise UserError("models stop: give an ARN or --leftovers, not both")
        return _stop_leftovers(args)
    if not args.arn:
        raise UserError("models stop: give the model version ARN, or --leftovers")
    version = VersionRef.parse(args.arn)
    outputs, session = _session(args, args.region or version.region)
    client = model_client(
        session=session, region=args.region, endpoint_url=args.endpoint_url, version=version
    )
    project_arn = _stack_project(outputs, version) or project_arn_of(client, version)
    status = request_stop(client, version, project_arn, _waiting())
    LeaseStore().remove(version.arn, only_ours=False)
    if status in NOT_RUNNING:
        print(f"Model {version.version_name} is {status}: nothing to stop.")
        return 0
    if not args.wait:
        print(f"Model {version.version_name} is {status}.")
        return 0
    stopped = wait_stopped(client, version, project_arn, _waiting())
    now = describe_version(client, version, project_arn).status
    print(
        f"Model {version.version_name} is {now}."
        + ("" if stopped else " (still stopping; check `models list`)")
    )
    return 0


def _stop_leftovers(args: argparse.Namespace) -> int:
    """Every model a run of this tool started and could not stop (it was killed): stop it, drop its lease."""
    from evaluation.aws.model_leases import LeaseStore, stop_leftovers
    from evaluation.aws.models import VersionRef

    def client_for(lease: Any) -> Any:
        _, session = _session(args, args.region or lease.region)
        endpoint_url = args.endpoint_url or lease.endpoint_url
        version = VersionRef.parse(lease.version_arn)
        return model_client(session=session, region=args.region, endpoint_url=endpoint_url, version=version)

    stop_leftovers(LeaseStore(), client_for, _waiting(), wait=args.wait)
    return 0


# --- run --backend custom-labels ------------------------------------------------------------------------


@dataclass
class CustomLabelsRun:
    """The custom-labels part of one `run`: its backend, its client, and the guard when --start-model."""

    backend: Any
    client: Any
    version: VersionRef
    max_runtime_s: float
    project_arn: str | None
    args: argparse.Namespace
    guard: ModelGuard | None = field(default=None, repr=False)

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, *, session: Any, region: str | None, project_arn: str | None
    ) -> CustomLabelsRun:
        from evaluation.aws.model_cost import parse_duration
        from evaluation.aws.models import VersionRef
        from evaluation.calls.backends.custom_labels import CustomLabels

        if not args.project_version_arn:
            raise UserError(
                "--backend custom-labels needs --project-version-arn ARN (`models list` shows them)"
            )
        version = VersionRef.parse(args.project_version_arn)
        max_runtime_s = parse_duration(args.max_runtime)
        if args.max_results is not None and args.max_results < 1:
            raise UserError(f"--max-results must be at least 1, got {args.max_results}")
        client = model_client(session=session, region=region, endpoint_url=args.endpoint_url, version=version)
        backend = CustomLabels(
            client,
            project_version_arn=version.arn,
            min_confidence=args.min_confidence,
            max_results=args.max_results,
        )
        return cls(backend, client, version, max_runtime_s, _project_named(project_arn, version), args)

    def describe_plan(self, to_call: int, price_table: str | None) -> str:
        if not self.args.start_model:
            return f"Model: {self.version.arn} (not started by this run: it must be running)"
        cost = self._cost(price_table)
        if not to_call:
            return "Model: every answer is cached; --start-model would not start it."
        return f"Model: {self.version.arn}, started if not running. {cost.describe(self.max_runtime_s)}"

    def _cost(self, price_table: str | None) -> HourlyCost:
        from evaluation.aws.model_cost import hourly_cost

        return hourly_cost(
            self.version.region,
            min_inference_units=self.args.min_inference_units,
            max_inference_units=self.args.max_inference_units,
            price_table=price_table,
        )

    @contextlib.contextmanager
    def running(self, *, to_call: int, max_cost: float | None, price_table: str | None) -> Iterator[None]:
        """The model running for the block: started and stopped by the guard when --start-model."""
        if not self.args.start_model:
            self._check_running(to_call)
            yield
            return
        if not to_call:
            print("Every answer is cached: the model is not started.", file=sys.stderr)
            yield
            return
        from evaluation.aws.model_guard import ModelGuard

        announce_cost(
            self._cost(price_table),
            max_runtime_s=self.max_runtime_s,
            max_cost=max_cost,
            endpoint_url=self.args.endpoint_url,
            file=sys.stderr,
        )
        self.guard = ModelGuard(
            self.client,
            self.version.arn,
            max_runtime_s=self.max_runtime_s,
            min_inference_units=self.args.min_inference_units,
            max_inference_units=self.args.max_inference_units,
            project_arn=self.project_arn,
            waiting=_waiting(),
            say=lambda text: print(text, file=sys.stderr, flush=True),
        )
        with self.guard:
            yield

    @property
    def deadline_passed(self) -> bool:
        return self.guard is not None and self.guard.deadline_passed.is_set()

    def _check_running(self, to_call: int) -> None:
        """Without --start-model, a model that is not running would fail every call: say so before any."""
        from evaluation.aws.models import RUNNING, describe_version, project_arn_of

        if not to_call:
            return
        try:
            project_arn = self.project_arn or project_arn_of(self.client, self.version)
            status = describe_version(self.client, self.version, project_arn).status
        except UserError as error:  # no permission to describe: the calls will tell
            print(f"warning: cannot check the model's status: {error}", file=sys.stderr)
            return
        if status != RUNNING:
            raise UserError(
                f"model {self.version.version_name} is {status}, not RUNNING: pass --start-model (it is "
                "stopped again after the run), or start it with `rekognition-eval models start ARN`"
            )
