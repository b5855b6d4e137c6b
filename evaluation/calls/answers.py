"""The one check an answer passes before it is kept, and again whenever it is read back.

An answer is checked against botocore's service model of the API (the documented output shape: member
types, and ranges such as `Percent`, 0-100, for every Confidence), plus what the documentation promises
but the model leaves optional: the result list itself (`Labels`, `ModerationLabels`, ...) and every
entry's name and confidence. A 200 whose body is not JSON, or that has `Labels: null`, reaches us as an
answer without `Labels` (botocore drops what it cannot parse) and fails here too: "nothing detected" is
`Labels: []`, never a missing list.

Members the model does not know are allowed (the service may be newer than the installed botocore);
enum values are not checked for the same reason. Every backend's answer goes through `check_answer`
(the runner calls it before `ResponseCache.put`, and `put` calls it again), and the cache calls it on
every read, so a bad answer stored by an older version is treated as absent and asked again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

# What the documentation promises but botocore's model marks optional: the API's result list, and per
# entry the members every consumer of an answer reads.
RESULT_MEMBERS = {
    "DetectLabels": "Labels",
    "DetectModerationLabels": "ModerationLabels",
    "DetectText": "TextDetections",
    "DetectFaces": "FaceDetails",
    "DetectCustomLabels": "CustomLabels",
}
DOCUMENTED_REQUIRED = {
    "Label": ("Name", "Confidence"),
    "Parent": ("Name",),
    "LabelAlias": ("Name",),
    "LabelCategory": ("Name",),
    "ModerationLabel": ("Name", "Confidence"),
    "TextDetection": ("DetectedText", "Type", "Confidence"),
    "FaceDetail": ("BoundingBox", "Confidence"),
    "CustomLabel": ("Name", "Confidence"),
}
NAMED = frozenset({"Label", "Parent", "LabelAlias", "LabelCategory", "ModerationLabel", "CustomLabel"})

Checker = Callable[[Any, str], None]
Test = Callable[[Any], bool]


class BadAnswer(ValueError):
    """An answer that is not of the documented shape; the message says where and what is wrong."""


def check_answer(api: str, response: Any) -> None:
    """Raise BadAnswer unless `response` has the documented shape of `api`'s output.

    An API the installed botocore does not know (a test double's, a future one) is only required to be
    a JSON object.
    """
    if not isinstance(response, Mapping):
        raise BadAnswer(f"malformed {api} answer: not a JSON object but {_kind(response)}")
    result = RESULT_MEMBERS.get(api)
    test = _test_for(api)
    if (test is None or test(response)) and (result is None or response.get(result) is not None):
        return  # the common case, without building a single message
    checker = _checker_for(api)
    try:
        if checker is not None:
            checker(response, "")
        if result is not None and response.get(result) is None:
            raise BadAnswer(f"{result} is missing")
    except BadAnswer as problem:
        raise BadAnswer(f"malformed {api} answer: {problem}") from None


def answer_problem(api: str, response: Any) -> str | None:
    """The reason `response` is not a valid answer of `api`, or None when it is."""
    try:
        check_answer(api, response)
    except BadAnswer as problem:
        return str(problem)
    return None


@cache
def _output_shape(api: str) -> Any:
    from botocore.model import OperationNotFoundError
    from botocore.session import get_session

    model = get_session().get_service_model("rekognition")
    try:
        return model.operation_model(api).output_shape
    except OperationNotFoundError:
        return None


@cache
def _checker_for(api: str) -> Checker | None:
    """Finds what is wrong and where (slow: it spells every path); run only on an answer that failed."""
    shape = _output_shape(api)
    return None if shape is None else _compile(shape, {})


@cache
def _test_for(api: str) -> Test | None:
    """The same rules as `_checker_for`, as a yes/no that builds no text: every answer read goes here."""
    shape = _output_shape(api)
    return None if shape is None else _compile_test(shape, {})


def _compile_test(shape: Any, done: dict[str, Test]) -> Test:
    key = f"{shape.type_name}:{shape.name}"
    if key in done:
        return done[key]
    kind = shape.type_name
    if kind == "structure":
        members: dict[str, Test] = {}
        required = tuple(set(shape.required_members) | set(DOCUMENTED_REQUIRED.get(shape.name, ())))
        named = shape.name in NAMED

        def structure(value: Any) -> bool:
            if not isinstance(value, dict):
                return False
            for name in required:
                if value.get(name) is None:
                    return False
            if named:
                name_value = value["Name"]
                if type(name_value) is not str or not name_value.strip():
                    return False
            for name, item in value.items():
                test = members.get(name)
                if test is not None and item is not None and not test(item):
                    return False
            return True

        done[key] = structure
        for name, member in shape.members.items():
            members[name] = _compile_test(member, done)
        return structure
    if kind == "list":
        element: list[Test] = []

        def sequence(value: Any) -> bool:
            if type(value) is not list:
                return False
            test = element[0]
            return all(item is not None and test(item) for item in value)

        done[key] = sequence
        element.append(_compile_test(shape.member, done))
        return sequence
    if kind == "map":
        values: list[Test] = []

        def mapping(value: Any) -> bool:
            if not isinstance(value, dict):
                return False
            test = values[0]
            return all(item is None or test(item) for item in value.values())

        done[key] = mapping
        values.append(_compile_test(shape.value, done))
        return mapping
    test = _scalar_test(kind, shape.metadata)
    done[key] = test
    return test


def _scalar_test(kind: str, metadata: Mapping[str, Any]) -> Test:
    low = metadata.get("min", -math.inf)
    high = metadata.get("max", math.inf)
    if kind in ("float", "double"):
        # NaN fails every comparison; the infinities fail isfinite
        return lambda value: (
            (type(value) is float or type(value) is int) and low <= value <= high and (math.isfinite(value))
        )
    if kind in ("integer", "long"):
        return lambda value: type(value) is int and low <= value <= high
    if kind == "string":
        return lambda value: type(value) is str
    if kind == "boolean":
        return lambda value: type(value) is bool
    return lambda value: True


def _compile(shape: Any, done: dict[str, Checker]) -> Checker:
    """A checker per shape, built once (shapes refer to each other; the dict breaks cycles)."""
    key = f"{shape.type_name}:{shape.name}"
    if key in done:
        return done[key]
    kind = shape.type_name
    if kind == "structure":
        members: dict[str, Checker] = {}
        required = set(shape.required_members) | set(DOCUMENTED_REQUIRED.get(shape.name, ()))
        named = shape.name in NAMED

        def structure(value: Any, where: str) -> None:
            if not isinstance(value, Mapping):
                raise BadAnswer(f"{where or 'the answer'} is {_kind(value)}, not an object")
            for name in required:
                if value.get(name) is None:
                    raise BadAnswer(f"{_join(where, name)} is missing")
            if named and not (isinstance(value["Name"], str) and value["Name"].strip()):
                raise BadAnswer(f"{_join(where, 'Name')} is {value['Name']!r}, not a name")
            for name, item in value.items():
                check = members.get(name)
                if check is not None and item is not None:
                    check(item, _join(where, name))

        done[key] = structure
        for name, member in shape.members.items():
            members[name] = _compile(member, done)
        return structure
    if kind == "list":
        element: list[Checker] = []

        def sequence(value: Any, where: str) -> None:
            if not isinstance(value, list):
                raise BadAnswer(f"{where} is {_kind(value)}, not a list")
            for index, item in enumerate(value):
                if item is None:
                    raise BadAnswer(f"{where}[{index}] is null")
                element[0](item, f"{where}[{index}]")

        done[key] = sequence
        element.append(_compile(shape.member, done))
        return sequence
    if kind == "map":
        values: list[Checker] = []

        def mapping(value: Any, where: str) -> None:
            if not isinstance(value, Mapping):
                raise BadAnswer(f"{where} is {_kind(value)}, not an object")
            for name, item in value.items():
                if item is not None:
                    values[0](item, f"{where}[{name!r}]")

        done[key] = mapping
        values.append(_compile(shape.value, done))
        return mapping
    checker = _scalar(kind, shape.metadata)
    done[key] = checker
    return checker


def _scalar(kind: str, metadata: Mapping[str, Any]) -> Checker:
    low, high = metadata.get("min"), metadata.get("max")
    if kind in ("float", "double", "integer", "long"):
        integral = kind in ("integer", "long")

        def number(value: Any, where: str) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BadAnswer(f"{where} is {value!r}, not a number")
            if integral and not isinstance(value, int):
                raise BadAnswer(f"{where} is {value!r}, not a whole number")
            if not math.isfinite(value):
                raise BadAnswer(f"{where} is {value!r}, not a finite number")
            if (low is not None and value < low) or (high is not None and value > high):
                bounds = f"{low if low is not None else '-inf'}-{high if high is not None else 'inf'}"
                raise BadAnswer(f"{where} is {value!r}, outside {bounds}")

        return number
    if kind == "string":

        def text(value: Any, where: str) -> None:
            if not isinstance(value, str):
                raise BadAnswer(f"{where} is {value!r}, not text")

        return text
    if kind == "boolean":

        def flag(value: Any, where: str) -> None:
            if not isinstance(value, bool):
                raise BadAnswer(f"{where} is {value!r}, not true or false")

        return flag

    def anything(value: Any, where: str) -> None:  # timestamps and blobs: never read from an answer
        return

    return anything


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (Mapping, list, str)):
        return {dict: "an object", list: "a list", str: "text"}.get(type(value), type(value).__name__)
    return repr(value)


def model_version_of(response: Mapping[str, Any]) -> str | None:
    """The model version an answer names (None for APIs that name none, e.g. DetectCustomLabels)."""
    for field_name in ("LabelModelVersion", "ModerationModelVersion", "TextModelVersion", "FaceModelVersion"):
        if response.get(field_name):
            return str(response[field_name])
    return None
