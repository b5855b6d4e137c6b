"""The optional Rekognition Custom Labels project the role may run models of."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

_NOT_ALLOWED_IN_PROJECT_NAME = re.compile(r"[^a-zA-Z0-9_-]+")


def project_name_for(project: str, stack: str) -> str:
    """A project name Rekognition accepts ([a-zA-Z0-9][a-zA-Z0-9_-]*, at most 255) and unique per stack."""
    name = _NOT_ALLOWED_IN_PROJECT_NAME.sub("-", f"{project}-{stack}").strip("-_")
    return name[:255] or "rekognition-eval"


@dataclass
class CustomLabelsProjectArgs:
    """The project's name; one project per stack."""

    project_name: str


class CustomLabelsProject(pulumi.ComponentResource):
    """A CUSTOM_LABELS project; its ARN scopes the role's Custom Labels permissions.

    The bucket needs no grant for it: see `infra.policies.evaluation_bucket_policy`.
    """

    arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: CustomLabelsProjectArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rekognition-eval:infra:CustomLabelsProject", name, None, opts)
        project = aws.rekognition.Project(
            name,
            name=args.project_name,
            feature="CUSTOM_LABELS",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = project.arn
        self.register_outputs({"arn": self.arn})
