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

import linecache
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
    return None if shape is None else _generated_test(shape, api)


# The smallest int math.isfinite cannot take (it raises OverflowError: the int overflows a float).
_FLOAT_EDGE = 2**1024 - 2**970
# Python allows 20 nested loops in a function: parts of a shape nested deeper get a function of their own.
_MAX_NESTING = 12
_CONTAINERS = ("structure", "list", "map")
_FAIL = "    return False"


def _generated_test(shape: Any, label: str = "answer") -> Test:
    """`shape`'s rules written as the source of one Python function, compiled once.

    A tree of closures costs a Python call per structure, list and scalar of an answer (about 700 per
    DetectLabels answer, with the steps of `all()`'s generators). The generated function has them
    inline: a structure is a run of `dict.get`s and type tests, a list a `for` loop in its parent's
    code; one call per answer. Only a shape that contains itself, or a part nested deeper than
    _MAX_NESTING, is tested by a function of its own, called.

    Where the rules raise (an int too large for a float, in a float member: math.isfinite overflows)
    the test says False instead, so `check_answer` runs the slow checker, which raises as it always did.
    """
    source = _TestSource()
    entry = source.function(shape)
    text = "\n".join(source.lines) + "\n"
    filename = f"<answer test of {label}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)  # tracebacks
    namespace = dict(source.constants)
    exec(compile(text, filename, "exec"), namespace)
    return namespace[entry]


class _TestSource:
    """The source of a shape's yes/no test: a `return False` for every rule an answer can break."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.functions: dict[str, str] = {}  # shape key -> the function testing that shape
        self.constants: dict[str, Any] = {"_FLOAT_EDGE": _FLOAT_EDGE}  # and bounds without a literal
        self.variables = 0

    def function(self, shape: Any) -> str:
        """The name of the function testing `shape`, written on first use."""
        key = _key(shape)
        if key not in self.functions:
            name = self.functions[key] = f"_test_{len(self.functions)}"
            body = self.check(shape, "value", (key,), 0, inline=True)
            self.lines += [f"def {name}(value):", *_indent(body), "    return True", ""]
        return self.functions[key]

    def variable(self) -> str:
        self.variables += 1
        return f"v{self.variables}"

    def check(
        self, shape: Any, var: str, inlined: tuple[str, ...], nesting: int, inline: bool = False
    ) -> list[str]:
        """Statements that return False unless `var` passes `shape`'s rules (None passes none).

        `inlined`: the shapes this code is already inside; `nesting`: how deep in blocks it is.
        """
        kind = shape.type_name
        if kind in _CONTAINERS and not inline:
            key = _key(shape)
            if key in inlined or nesting >= _MAX_NESTING:
                return [f"if not {self.function(shape)}({var}):", _FAIL]
            inlined = (*inlined, key)
        if kind == "structure":
            return self.structure(shape, var, inlined, nesting)
        if kind == "list":
            item = self.variable()
            body = self.check(shape.member, item, inlined, nesting + 1)
            return [f"if type({var}) is not list:", _FAIL, f"for {item} in {var}:", *_indent(body)]
        if kind == "map":
            lines = [f"if not isinstance({var}, dict):", _FAIL]
            if shape.value.type_name in _CONTAINERS or self.scalar(shape.value, "_") is not None:
                item = self.variable()
                body = self.check(shape.value, item, inlined, nesting + 2)
                lines += [f"for {item} in {var}.values():", f"    if {item} is not None:", *_indent(body, 2)]
            return lines
        condition = self.scalar(shape, var)
        return [f"if {var} is None:" if condition is None else f"if not ({condition}):", _FAIL]

    def structure(self, shape: Any, var: str, inlined: tuple[str, ...], nesting: int) -> list[str]:
        required = set(shape.required_members) | set(DOCUMENTED_REQUIRED.get(shape.name, ()))
        named = shape.name in NAMED
        members = dict(shape.members)
        if named:
            members.setdefault("Name", None)  # a name: a rule even where the model has no such member
        lines = [f"if not isinstance({var}, dict):", _FAIL]
        for name in sorted(required - set(members)):
            lines += [f"if {var}.get({name!r}) is None:", _FAIL]
        for name, member in members.items():
            item = self.variable()
            container = member is not None and member.type_name in _CONTAINERS
            condition = None if container else self.scalar(member, item)
            needed = name in required
            if named and name == "Name":
                # a name, not blanks (an answer has about a hundred: one type test each)
                rule = f"type({item}) is str and {item}.strip()"
                condition = rule if condition in (None, f"type({item}) is str") else f"{condition} and {rule}"
                needed = True
            if condition is None and not needed and not container:
                continue  # anything goes
            lines.append(f"{item} = {var}.get({name!r})")
            if condition is not None and container:  # a named structure's Name the model calls a container
                lines += self.check(member, item, inlined, nesting)
            if condition is not None:  # every condition is false of None
                test = f"not ({condition})" if needed else f"{item} is not None and not ({condition})"
                lines += [f"if {test}:", _FAIL]
            elif needed:  # every check fails for None
                lines += self.check(member, item, inlined, nesting)
            else:
                lines += [f"if {item} is not None:", *_indent(self.check(member, item, inlined, nesting + 1))]
        return lines

    def scalar(self, shape: Any, var: str) -> str | None:
        """An expression true when `var` passes; None when anything does (timestamps, blobs)."""
        if shape is None:
            return None
        kind, metadata = shape.type_name, shape.metadata
        low, high = metadata.get("min"), metadata.get("max")
        low = None if low is None or low == -math.inf else low
        high = None if high is None or high == math.inf else high
        bounds = ([f"{self.literal(low)} <= {var}"] if low is not None else []) + (
            [f"{var} <= {self.literal(high)}"] if high is not None else []
        )
        if kind in ("float", "double"):
            # isfinite, for a float: not -inf, not inf, not NaN. NaN fails every comparison, and the
            # constants 1e999 are infinite: `-1e999 < x` is false of -inf and NaN only.
            finite = [
                *([] if low is not None else [f"-1e999 < {var}"]),
                *bounds,
                *([] if high is not None else [f"{var} < 1e999"]),
            ]
            as_float = " and ".join([f"type({var}) is float", *finite])
            # an int is finite, unless too large for a float: then isfinite raises, and the test fails
            fits = (
                [] if _within_float(low) and _within_float(high) else [f"-_FLOAT_EDGE < {var} < _FLOAT_EDGE"]
            )
            as_int = " and ".join([f"type({var}) is int", *bounds, *fits])
            return f"({as_float} or {as_int})"
        if kind in ("integer", "long"):
            return " and ".join([f"type({var}) is int", *bounds])
        if kind == "string":
            return f"type({var}) is str"
        if kind == "boolean":
            return f"type({var}) is bool"
        return None

    def literal(self, value: Any) -> str:
        """`value` as source: written out when that gives it back exactly, else a named constant."""
        if (type(value) is int and abs(value) < 2**64) or (type(value) is float and math.isfinite(value)):
            return repr(value)
        name = f"_bound_{len(self.constants)}"
        self.constants[name] = value
        return name


def _within_float(bound: Any) -> bool:
    """Whether every int on the near side of `bound` converts to a float (None: no bound, no)."""
    return type(bound) in (int, float) and -_FLOAT_EDGE < bound < _FLOAT_EDGE


def _key(shape: Any) -> str:
    return f"{shape.type_name}:{shape.name}"


def _indent(lines: list[str], levels: int = 1) -> list[str]:
    return ["    " * levels + line for line in lines]


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
