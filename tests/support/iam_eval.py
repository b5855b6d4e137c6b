"""A small, strict evaluator of IAM policy documents, for what moto does not enforce.

moto's IAM enforcement checks identity policies by action and resource, but it ignores resource-based
policies (bucket policies), does not evaluate condition keys on identity policies, and authorizes
Rekognition calls against Resource "*" only. This evaluator covers those parts for the policies the
program emits, following AWS's documented logic for one account: an explicit Deny anywhere wins; else an
Allow in the identity or the resource policy allows; else the request is implicitly denied.

It is deliberately small and refuses what it does not understand (an unknown condition operator raises),
so a policy that grows a new construct makes the tests fail instead of passing by accident. The moto tests
check that it agrees with moto wherever moto does enforce.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Decision = Literal["allow", "explicit-deny", "implicit-deny"]

_ACCOUNT_ROOT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):root$")


@dataclass(frozen=True)
class Request:
    """One API call: who makes it, on what, and the condition keys AWS would put in its context."""

    action: str
    resource: str
    principal: str = ""
    context: Mapping[str, str] = field(default_factory=dict)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, *, ignore_case: bool) -> bool:
    """IAM's matching: `*` any run of characters, `?` any one character, nothing else special."""
    regex = "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + "$"
    return re.match(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _principal_matches(principal_element: Any, principal: str) -> bool:
    if principal_element == "*":
        return True
    for kind, values in principal_element.items():
        for expected in _as_list(values):
            if expected == "*" or expected == principal:
                return True
            root = _ACCOUNT_ROOT.match(expected) if kind == "AWS" else None
            # An account's root ARN as principal means every principal of that account.
            if root and re.match(rf"^arn:aws[a-z-]*:(iam|sts)::{root.group(1)}:", principal):
                return True
    return False


_STRING_OPERATORS = {
    "StringEquals": lambda expected, actual: expected == actual,
    "StringLike": lambda expected, actual: _wildcard(expected, actual, ignore_case=False),
    "ArnEquals": lambda expected, actual: expected == actual,
    "ArnLike": lambda expected, actual: _wildcard(expected, actual, ignore_case=False),
    "Bool": lambda expected, actual: str(expected).lower() == actual.lower(),
}
_NEGATED_OPERATORS = {"StringNotEquals": "StringEquals", "StringNotLike": "StringLike"}


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    """All operators and keys must hold (AND); any of a key's values may match (OR)."""
    for operator, keys in conditions.items():
        if_exists = operator.endswith("IfExists")
        base = operator.removesuffix("IfExists")
        negated = base in _NEGATED_OPERATORS
        compare = _STRING_OPERATORS.get(_NEGATED_OPERATORS.get(base, base))
        if compare is None:
            raise NotImplementedError(f"condition operator {operator} is not understood by this evaluator")
        for key, expected_values in keys.items():
            actual = context.get(key)
            if actual is None:
                # A missing key fails a positive test and passes a negated one (and any ...IfExists test).
                if not (if_exists or negated):
                    return False
                continue
            matched = any(compare(expected, actual) for expected in _as_list(expected_values))
            if matched == negated:
                return False
    return True


def statement_applies(statement: Mapping[str, Any], request: Request, *, resource_policy: bool) -> bool:
    """Whether this statement speaks about the request (its Effect decides what it says)."""
    allowed_keys = {
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "Principal",
    }
    unknown = set(statement) - allowed_keys
    if unknown:
        raise NotImplementedError(
            f"statement elements {sorted(unknown)} are not understood by this evaluator"
        )
    if resource_policy and not _principal_matches(statement["Principal"], request.principal):
        return False
    if "Action" in statement:
        if not any(_wildcard(a, request.action, ignore_case=True) for a in _as_list(statement["Action"])):
            return False
    elif any(_wildcard(a, request.action, ignore_case=True) for a in _as_list(statement["NotAction"])):
        return False
    if "Resource" in statement:
        if not any(
            _wildcard(r, request.resource, ignore_case=False) for r in _as_list(statement["Resource"])
        ):
            return False
    elif "NotResource" in statement and any(
        _wildcard(r, request.resource, ignore_case=False) for r in _as_list(statement["NotResource"])
    ):
        return False
    return _conditions_hold(statement.get("Condition", {}), request.context)


def decide(
    request: Request,
    identity_policies: Sequence[Mapping[str, Any]] = (),
    resource_policies: Sequence[Mapping[str, Any]] = (),
) -> Decision:
    """AWS's decision for a principal and a resource of the same account."""
    verdicts: list[str] = []
    sources: Iterable[tuple[Mapping[str, Any], bool]] = [(p, False) for p in identity_policies] + [
        (p, True) for p in resource_policies
    ]
    for policy, is_resource_policy in sources:
        for statement in _as_list(policy["Statement"]):
            if statement_applies(statement, request, resource_policy=is_resource_policy):
                verdicts.append(statement["Effect"])
    if "Deny" in verdicts:
        return "explicit-deny"
    return "allow" if "Allow" in verdicts else "implicit-deny"


def trust_allows(trust_policy: Mapping[str, Any], principal: str, action: str = "sts:AssumeRole") -> bool:
    """Whether a role's trust policy lets this principal assume it (the role's own side of AssumeRole)."""
    request = Request(action=action, resource="*", principal=principal)
    statements = [{**s, "Resource": "*"} for s in _as_list(trust_policy["Statement"])]
    return decide(request, resource_policies=[{"Statement": statements}]) == "allow"
