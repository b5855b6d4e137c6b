"""Runs the real `__main__.py` under Pulumi's mocks and records everything it declares.

No Pulumi CLI and no AWS provider plugin: `pulumi.runtime.set_mocks` stands in for the engine, and the
recording monitor keeps each resource's type, name, inputs, parent and options. Each run happens in a
copy of the current `contextvars` context, because Pulumi keeps its settings, config and root stack in
context variables; a copy gives each run its own and leaves nothing behind for the next test.
"""

from __future__ import annotations

import contextvars
import json
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import ROOT, get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = REPO_ROOT / "__main__.py"
PROJECT = "rekognition-eval"
ACCOUNT_ID = "123456789012"
REGION = "eu-west-1"
STACK = "dev"
# Who runs `pulumi up` in the mocked account (aws.get_caller_identity); the evaluation role trusts the
# IAM identity behind it by default. Tests may swap it (DEPLOYER_SESSIONS) to play an assumed role.
DEPLOYER = f"arn:aws:iam::{ACCOUNT_ID}:user/deployer"
# Assumed-role sessions the mocked getSessionContext resolves, as AWS would: to the role, with its path.
DEPLOYER_SESSIONS: dict[str, str] = {
    f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/AWSReservedSSO_Admin_0123/ana@example.com": (
        f"arn:aws:iam::{ACCOUNT_ID}:role/aws-reserved/sso.amazonaws.com/{REGION}/AWSReservedSSO_Admin_0123"
    ),
}

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{KEY_ID}"
# The KMS keys the mocked account holds, as aws.kms.get_key would describe them.
KMS_KEYS: dict[str, dict[str, Any]] = {
    KEY_ARN: {"keyState": "Enabled", "keyUsage": "ENCRYPT_DECRYPT", "keySpec": "SYMMETRIC_DEFAULT"},
    f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/0000abcd-12ab-34cd-56ef-1234567890ab": {
        "keyState": "PendingDeletion",
        "keyUsage": "ENCRYPT_DECRYPT",
        "keySpec": "SYMMETRIC_DEFAULT",
    },
    f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1111abcd-12ab-34cd-56ef-1234567890ab": {
        "keyState": "Enabled",
        "keyUsage": "SIGN_VERIFY",
        "keySpec": "RSA_2048",
    },
}


@dataclass
class Declared:
    """One resource as the program declared it."""

    type: str
    name: str
    urn: str
    parent_urn: str
    custom: bool
    retain_on_delete: bool
    dependencies: list[str]
    inputs: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def parent_type(self) -> str:
        """The type of the parent resource, read from the parent's URN (`...::<type>::<name>`)."""
        return self.parent_urn.split("::")[-2].split("$")[-1] if self.parent_urn else ""

    def json_input(self, name: str) -> Any:
        """A JSON-encoded input (policy documents), decoded: the exact text the program sent."""
        return json.loads(self.inputs[name])


@dataclass
class ProgramRun:
    """Everything one run of the program declared, and its stack outputs."""

    resources: list[Declared]
    outputs: dict[str, Any]
    invokes: list[str]
    warnings: list[str]

    def of_type(self, type_: str) -> list[Declared]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Declared:
        """The single resource of this type (and name); fails loudly when there are none or several."""
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Declared:
        return next(r for r in self.resources if r.urn == urn)

    def attached_to(self, type_: str, bucket: Declared) -> list[Declared]:
        """Resources of a type whose `bucket` input is this bucket."""
        return [r for r in self.of_type(type_) if r.inputs.get("bucket") == bucket.state["bucket"]]


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like AWS would, enough for the program: ARNs and names for resources, facts for invokes."""

    def __init__(self, deployer: str = DEPLOYER) -> None:
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}
        self.invokes: list[str] = []
        self.deployer = deployer

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.inputs[(args.typ, args.name)] = dict(args.inputs)
        if not args.custom:
            return None, {}
        state = dict(args.inputs)
        resource_id = f"{args.name}-id"
        if args.typ == "aws:s3/bucket:Bucket":
            # Pulumi auto-names buckets from the resource name plus a random suffix.
            bucket = args.inputs.get("bucket") or f"{args.name}-0a1b2c3"
            state.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
            resource_id = bucket
        elif args.typ == "aws:iam/role:Role":
            role_name = args.inputs.get("name") or f"{args.name}-4d5e6f7"
            state.update(name=role_name, arn=f"arn:aws:iam::{ACCOUNT_ID}:role/{role_name}")
            resource_id = role_name
        elif args.typ == "aws:sfn/stateMachine:StateMachine":
            state["arn"] = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{args.inputs['name']}"
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            # As the provider reports it: without the `:*` suffix Step Functions' LoggingConfiguration wants.
            state["arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{args.inputs['name']}"
        elif args.typ == "aws:sns/topic:Topic":
            state["arn"] = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{args.inputs['name']}"
        elif args.typ == "aws:sqs/queue:Queue":
            queue = f"{args.name}-8a9b0c1"
            state.update(
                name=queue,
                arn=f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue}",
                url=f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{queue}",
            )
            resource_id = state["url"]
        elif args.typ == "aws:rekognition/project:Project":
            state["arn"] = (
                f"arn:aws:rekognition:{REGION}:{ACCOUNT_ID}:project/{args.inputs['name']}/1700000000000"
            )
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.invokes.append(args.token)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": self.deployer, "userId": "AIDAEXAMPLE", "id": ACCOUNT_ID}
        if args.token == "aws:iam/getSessionContext:getSessionContext":
            arn = args.args["arn"]
            issuer = DEPLOYER_SESSIONS.get(arn, arn)  # non-role ARNs pass through, as the provider does
            return {"arn": arn, "issuerArn": issuer, "id": arn}
        if args.token == "aws:index/getPartition:getPartition":
            return {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "id": "aws",
                "reverseDnsPrefix": "com.amazonaws",
            }
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": REGION, "name": REGION, "id": REGION, "endpoint": f"ec2.{REGION}.amazonaws.com"}
        if args.token == "aws:kms/getKey:getKey":
            key = KMS_KEYS.get(args.args["keyId"])
            if key is None:
                raise Exception(
                    f"reading KMS Key ({args.args['keyId']}): NotFoundException: Key does not exist"
                )
            return {"arn": args.args["keyId"], "keyId": args.args["keyId"].rsplit("/", 1)[-1], **key}
        raise AssertionError(f"the program made an invoke the mocks do not know: {args.token}")


class CapturedLog:
    """Stands in for the logger of Pulumi's mock engine, keeping what the program logs (pulumi.log)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def debug(self, message: str) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def error(self, message: str) -> None:
        self.errors.append(message)


class RecordingMonitor(MockMonitor):
    """The mock engine, keeping what the plain one drops: parent, dependencies and retainOnDelete."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.declared: list[Declared] = []
        self.log = CapturedLog()

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.declared.append(
                Declared(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent_urn=request.parent,
                    custom=request.custom,
                    retain_on_delete=bool(request.retainOnDelete),
                    dependencies=list(request.dependencies),
                )
            )
        return response


def as_config_text(value: object) -> str:
    """A value as Pulumi hands it to a program: strings as they are, booleans lower-case, lists as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def run_program(
    config: Mapping[str, object] | None = None, *, stack: str = STACK, deployer: str = DEPLOYER
) -> ProgramRun:
    """Run `__main__.py` once with this stack config (short keys are in the project's namespace), deployed
    by `deployer` (the ARN aws.get_caller_identity reports)."""
    return contextvars.copy_context().run(
        _run, _config_values(config), stack, RecordingMonitor(RecordingMocks(deployer))
    )


@dataclass
class Failure:
    """How a run that had to fail failed."""

    error: BaseException
    declared: list[Declared]
    logged_errors: list[str]


def program_error(config: Mapping[str, object], *, deployer: str = DEPLOYER) -> Failure:
    """Run a program that must fail: the error it raised, what it declared, the errors it logged."""
    monitor = RecordingMonitor(RecordingMocks(deployer))
    try:
        contextvars.copy_context().run(_run, _config_values(config), STACK, monitor)
    except Exception as error:
        return Failure(error, monitor.declared, monitor.log.errors)
    raise AssertionError(f"the program accepted {dict(config)}")


def _config_values(config: Mapping[str, object] | None) -> dict[str, str]:
    values = {"aws:region": REGION}
    for key, value in (config or {}).items():
        values[key if ":" in key else f"{PROJECT}:{key}"] = as_config_text(value)
    return values


def _run(config: dict[str, str], stack: str, monitor: RecordingMonitor) -> ProgramRun:
    pulumi.runtime.set_all_config(config)
    ROOT.set(None)  # set_mocks makes a fresh root stack only when there is none
    mocks = monitor.mocks
    assert isinstance(mocks, RecordingMocks)
    pulumi.runtime.set_mocks(
        mocks,
        project=PROJECT,
        stack=stack,
        preview=False,
        monitor=monitor,
        logger=monitor.log,  # type: ignore[arg-type]
    )
    root = get_root_resource()
    _sync_await(run_pulumi_func(lambda: runpy.run_path(str(PROGRAM))))

    for declared in monitor.declared:
        declared.inputs = mocks.inputs.get((declared.type, declared.name), {})
        registration = monitor.resources.get(declared.urn)
        declared.state = dict(registration.state) if registration else {}
    outputs = {
        name: _sync_await(pulumi.Output.from_input(value).future())
        for name, value in getattr(root, "outputs", {}).items()
    }
    return ProgramRun(
        resources=monitor.declared, outputs=outputs, invokes=mocks.invokes, warnings=monitor.log.warnings
    )
