"""The generated yes/no answer test (answers._test_for) against the closure tree it replaced.

`reference_test` is that closure tree, kept here verbatim as the obviously-correct reference: one
Python function per shape, called for every structure, list and scalar of an answer. The generated test
must give its verdict on every answer: real ones, the scale benchmark's, and thousands of seeded random
mutations of valid answers of every API (and of a made-up model with the shapes Rekognition's lacks:
recursion, maps, integers, timestamps, deep lists). Where the reference raises (an int too large for a
float in a float member) the generated test says False, and check_answer then raises as before.
"""

from __future__ import annotations

import collections
import json
import math
import random
from collections.abc import Callable, Mapping
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
from botocore.model import ShapeResolver

from evaluation.calls import answers
from evaluation.calls.answers import (
    DOCUMENTED_REQUIRED,
    NAMED,
    RESULT_MEMBERS,
    BadAnswer,
    _checker_for,
    _generated_test,
    _output_shape,
    _test_for,
    check_answer,
)
from tests.support.scale_answers import answers as scale_answers

FIXTURE = Path("/work/shared/fixtures/detect_labels_labels_sample.json")
Test = Callable[[Any], bool]


# --- the reference: the closure tree as it was --------------------------------------------------------


def reference_test(shape: Any, done: dict[str, Test] | None = None) -> Test:
    done = {} if done is None else done
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
            members[name] = reference_test(member, done)
        return structure
    if kind == "list":
        element: list[Test] = []

        def sequence(value: Any) -> bool:
            if type(value) is not list:
                return False
            test = element[0]
            return all(item is not None and test(item) for item in value)

        done[key] = sequence
        element.append(reference_test(shape.member, done))
        return sequence
    if kind == "map":
        values: list[Test] = []

        def mapping(value: Any) -> bool:
            if not isinstance(value, dict):
                return False
            test = values[0]
            return all(item is None or test(item) for item in value.values())

        done[key] = mapping
        values.append(reference_test(shape.value, done))
        return mapping
    test = _reference_scalar(kind, shape.metadata)
    done[key] = test
    return test


def _reference_scalar(kind: str, metadata: Mapping[str, Any]) -> Test:
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


def reference_check_answer(api: str, response: Any, test: Test | None) -> None:
    """check_answer as it was, with `test` (the reference's) for the yes/no."""
    if not isinstance(response, Mapping):
        raise BadAnswer(f"malformed {api} answer: not a JSON object but {answers._kind(response)}")
    result = RESULT_MEMBERS.get(api)
    if (test is None or test(response)) and (result is None or response.get(result) is not None):
        return
    checker = _checker_for(api)
    try:
        if checker is not None:
            checker(response, "")
        if result is not None and response.get(result) is None:
            raise BadAnswer(f"{result} is missing")
    except BadAnswer as problem:
        raise BadAnswer(f"malformed {api} answer: {problem}") from None


# --- comparing verdicts --------------------------------------------------------------------------------


def expected(reference: Test, value: Any) -> bool | str:
    """The reference's verdict; an exception counts as its name (the generated test says False then)."""
    try:
        return reference(value)
    except (OverflowError, KeyError) as error:
        return type(error).__name__


def outcome(check: Callable[[], None]) -> str:
    try:
        check()
    except BadAnswer as problem:
        return f"BadAnswer: {problem}"
    except Exception as error:
        return type(error).__name__
    return "ok"


class Tally:
    """Verdicts compared one by one, and counted, so a test can say both kinds were seen."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def compare(self, fast: Test, reference: Test, value: Any) -> None:
        want = expected(reference, value)
        verdict = fast(value)
        assert verdict is True or verdict is False
        if isinstance(want, str):
            assert verdict is False, f"reference raised {want}, generated test passed {value!r}"
            self.counts["raised"] += 1
        else:
            assert verdict == bool(want), f"generated {verdict}, reference {want} for {value!r}"
            self.counts[str(verdict)] += 1


# --- answers to compare on ----------------------------------------------------------------------------


class SubDict(dict):
    pass


class SubInt(int):
    pass


class SubFloat(float):
    pass


class SubStr(str):
    pass


EDGE = 2**1024 - 2**970  # the smallest int math.isfinite cannot take
ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 7, 50, 100, 101, 181, -181, 2**63, -(2**63), 10**400, -(10**400), EDGE,
    -EDGE, EDGE - 1, 1 - EDGE, 0.0, -0.0, 0.5, -1.0, 99.999, 100.0, 100.0001, 101.0, -0.5, 1.5e308,
    -1.7976931348623157e308, math.nan, math.inf, -math.inf, "", " ", "  ", "\u3000", "\t\n", "7", "Dog",
    " Dog ", "1e3", b"bytes", [], [None], [1], ["x"], [[None]], [{}], [{"Name": "x"}], [{"Name": None}],
    [{"Name": "  "}], {}, {"Name": "x"}, {"Name": None}, {"Name": ""}, {"Name": 7}, {"a": None}, {"a": 1},
    (), ("a",), SubInt(5), SubFloat(5.0), SubStr("Dog"), SubDict(Name="x", Confidence=50.0), object(),
]  # fmt: skip


def odd(rng: random.Random) -> Any:
    """One of ODD_VALUES, a copy (a mutation may change it later)."""
    return deepcopy(rng.choice(ODD_VALUES))


def valid_value(shape: Any, rng: random.Random, depth: int = 0) -> Any:
    """A random value that passes `shape`'s rules (members, lists and maps shrink with depth)."""
    kind = shape.type_name
    deep = depth > 5
    if kind == "structure":
        required = set(shape.required_members) | set(DOCUMENTED_REQUIRED.get(shape.name, ()))
        value: dict[str, Any] = {}
        for name, member in shape.members.items():
            if name in required or (not deep and rng.random() < 0.75):
                value[name] = valid_value(member, rng, depth + 1)
        if shape.name in NAMED:
            value["Name"] = rng.choice(["Dog", "Person", "a", " padded ", "Pet Food", "\u00e9t\u00e9"])
        for name in required - set(value):
            value[name] = rng.choice(["x", 1, 1.0, [], {}])  # a member the model does not describe
        return value
    if kind == "list":
        return [valid_value(shape.member, rng, depth + 1) for _ in range(0 if deep else rng.randint(0, 3))]
    if kind == "map":
        count = 0 if deep else rng.randint(0, 3)
        return {f"k{i}": valid_value(shape.value, rng, depth + 1) for i in range(count)}
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if kind in ("float", "double", "integer", "long"):
        low = low if low is not None and low >= -1000 else -1000  # NaN, huge and absent bounds alike
        high = high if high is not None and high <= 1000 else 1000
        if kind in ("integer", "long") or rng.random() < 0.1:
            low, high = math.ceil(low), math.floor(high)
            return rng.choice([low, high, rng.randint(low, high)])
        return rng.choice([float(low), float(high), rng.uniform(low, high)])
    if kind == "string":
        return rng.choice(["", "x", "LINE", "3.0", "  "])
    if kind == "boolean":
        return rng.random() < 0.5
    return rng.choice(["2024-01-01T00:00:00Z", 1700000000, b"blob", [1], {}])


def slots(value: Any, found: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key or index) inside `value`, where a mutation can land."""
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((value, key))
            slots(item, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((value, index))
            slots(item, found)
    return found


def mutate(answer: Any, rng: random.Random) -> Any:
    """1-3 random breakages (or harmless changes) of `answer`, in place; returns the answer."""
    for _ in range(rng.randint(1, 3)):
        places = slots(answer, [])
        if not places:
            return odd(rng)
        container, key = rng.choice(places)
        item = container[key]
        action = rng.random()
        if action < 0.15:
            del container[key]
        elif action < 0.25:
            container[key] = None
        elif action < 0.6:
            container[key] = odd(rng)
        elif action < 0.7 and isinstance(container, dict):
            container[rng.choice(["Unknown", "NewField", "name", "Parents"])] = odd(rng)
        elif action < 0.8 and isinstance(item, list):
            container[key] = rng.choice([{str(i): x for i, x in enumerate(item)}, tuple(item), [*item, None]])
        elif action < 0.9 and isinstance(item, dict):
            container[key] = rng.choice([[item], SubDict(item), collections.OrderedDict(item), str(item)])
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            changed = [-item, item * 2, item + 1, -1, 101, math.nan]
            if abs(item) < 1e300:
                changed += [float(item), item + 0.5]
            container[key] = rng.choice(changed)
        else:
            container[key] = odd(rng)
    return answer


def copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy(item) for item in value]
    return value


# --- the tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", sorted(RESULT_MEMBERS))
def test_same_verdicts_as_the_closure_tree_on_mutated_answers(api):
    shape = _output_shape(api)
    fast, reference = _test_for(api), reference_test(shape)
    rng = random.Random(f"answers-{api}")
    tally = Tally()
    for _ in range(3000):
        answer = valid_value(shape, rng)
        answer[RESULT_MEMBERS[api]] = [valid_value(shape.members[RESULT_MEMBERS[api]].member, rng)]
        tally.compare(fast, reference, answer)
        tally.compare(fast, reference, mutate(answer, rng))
    assert tally.counts["True"] > 1500 and tally.counts["False"] > 1000, tally.counts


def test_same_verdicts_on_the_real_answer_and_its_mutations():
    labels = json.loads(FIXTURE.read_text(encoding="utf-8"))
    real = {"Labels": labels, "LabelModelVersion": "3.0"}
    fast, reference = _test_for("DetectLabels"), reference_test(_output_shape("DetectLabels"))
    assert fast(real) is True and reference(real) is True
    rng = random.Random(11)
    tally = Tally()
    for _ in range(3000):
        tally.compare(fast, reference, mutate(copy(real), rng))
    assert tally.counts["True"] > 300 and tally.counts["False"] > 1500, tally.counts


def test_same_verdicts_on_the_scale_benchmarks_answers():
    fast, reference = _test_for("DetectLabels"), reference_test(_output_shape("DetectLabels"))
    rng = random.Random(5)
    tally = Tally()
    for _, response, _ in scale_answers(300):
        tally.compare(fast, reference, response)
        for _ in range(5):
            tally.compare(fast, reference, mutate(copy(response), rng))
    assert tally.counts["True"] > 300 and tally.counts["False"] > 600, tally.counts


@pytest.mark.parametrize("api", sorted(RESULT_MEMBERS))
def test_check_answer_gives_the_same_outcome_as_before(api):
    """The whole check, message included: what the test says decides whether the checker runs."""
    shape = _output_shape(api)
    reference = reference_test(shape)
    rng = random.Random(f"check-{api}")
    seen: collections.Counter[str] = collections.Counter()
    for _ in range(1000):
        answer = mutate(valid_value(shape, rng), rng)
        before = outcome(lambda answer=answer: reference_check_answer(api, answer, reference))
        after = outcome(lambda answer=answer: check_answer(api, answer))
        assert after == before, answer
        seen[before.split(":")[0]] += 1
    assert seen["ok"] > 100 and seen["BadAnswer"] > 300, seen


# A model with what Rekognition's outputs lack: a shape that contains itself (through a list and a map),
# maps of scalars and of anything, integers and longs with bounds, doubles, timestamps, blobs, lists
# nested deeper than one function may nest loops, and bounds that have no exact literal.
DEEP = 24  # lists in lists: more loops than one Python function may nest
MADE_UP_SHAPES: dict[str, Any] = {
    "Top": {
        "type": "structure",
        "required": ["Nodes", "Flag"],
        "members": {
            name: {"shape": shape}
            for name, shape in {
                "Nodes": "NodeList",
                "Tree": "Node",
                "Table": "NodeMap",
                "Counts": "CountMap",
                "Stamps": "StampMap",
                "StampList": "StampList",
                "Stamp": "Stamp",
                "Blob": "Blob",
                "Flag": "Flag",
                "Small": "Small",
                "Ratio": "Ratio",
                "LowOnly": "LowOnly",
                "Angle": "Angle",
                "Huge": "HugeBound",
                "Odd": "NanBound",
                "Deep": "Deep0",
                "Parent": "Parent",
                "Alias": "LabelAlias",
                "Moderation": "ModerationLabel",
                "Required": "NeedsStamp",
                "Face": "FaceDetail",
            }.items()
        },
    },
    "Node": {
        "type": "structure",
        "required": ["Id"],
        "members": {
            "Id": {"shape": "Int"},
            "Children": {"shape": "NodeList"},
            "ByName": {"shape": "NodeMap"},
            "Weight": {"shape": "Double"},
            "Label": {"shape": "Parent"},
        },
    },
    "NodeList": {"type": "list", "member": {"shape": "Node"}},
    "NodeMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "Node"}},
    "CountMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "Small"}},
    "StampMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "Stamp"}},
    "StampList": {"type": "list", "member": {"shape": "Stamp"}},
    "Parent": {"type": "structure", "members": {"Name": {"shape": "String"}}},  # named, Name documented
    "LabelAlias": {"type": "structure", "members": {"Other": {"shape": "Int"}}},  # named, no Name member
    "ModerationLabel": {  # named, with a Name the model calls a number
        "type": "structure",
        "members": {"Name": {"shape": "Int"}, "Confidence": {"shape": "Ratio"}},
    },
    "FaceDetail": {"type": "structure", "members": {"Other": {"shape": "Int"}}},  # documented members only
    "NeedsStamp": {"type": "structure", "required": ["When"], "members": {"When": {"shape": "Stamp"}}},
    "String": {"type": "string"},
    "Stamp": {"type": "timestamp"},
    "Blob": {"type": "blob"},
    "Flag": {"type": "boolean"},
    "Int": {"type": "integer"},
    "Small": {"type": "long", "min": -5, "max": 5},
    "Double": {"type": "double"},
    "Ratio": {"type": "float", "min": 0.5, "max": 1.5},
    "LowOnly": {"type": "float", "min": -1},
    "Angle": {"type": "float", "min": -180, "max": 180},
    "HugeBound": {"type": "double", "min": -(10**400), "max": 10**400},
    "NanBound": {"type": "double", "max": math.nan},
    **{f"Deep{i}": {"type": "list", "member": {"shape": f"Deep{i + 1}"}} for i in range(DEEP)},
    f"Deep{DEEP}": {"type": "list", "member": {"shape": "Small"}},
}


def test_same_verdicts_on_a_made_up_model_with_recursion_maps_and_deep_lists():
    shape = ShapeResolver(MADE_UP_SHAPES).get_shape_by_name("Top")
    fast, reference = _generated_test(shape, "made-up"), reference_test(shape)
    rng = random.Random(3)
    tally = Tally()
    for _ in range(3000):
        answer = valid_value(shape, rng)
        answer["Nodes"] = [valid_value(shape.members["Nodes"].member, rng, depth=-3)]
        deep: Any = [rng.randint(-5, 5)]
        for _ in range(DEEP):
            deep = [deep]
        answer["Deep"] = deep
        for never_valid in ("Moderation", "Odd"):  # a number as a name; a NaN bound
            if rng.random() < 0.8:
                answer.pop(never_valid, None)
        tally.compare(fast, reference, answer)
        tally.compare(fast, reference, mutate(answer, rng))
    assert tally.counts["True"] > 1500 and tally.counts["False"] > 1000, tally.counts


def test_an_int_too_large_for_a_float_fails_the_test_and_raises_as_before():
    fast = _test_for("DetectLabels")
    box = {"BoundingBox": {"Width": 0.5, "Height": 0.5, "Left": 0.0, "Top": 0.0}, "Confidence": 50.0}
    label = {"Name": "Dog", "Confidence": 50.0, "Instances": [box]}
    assert fast({"Labels": [label]}) is True
    box["BoundingBox"]["Width"] = EDGE - 1  # the largest int a float takes: finite, no bounds
    assert fast({"Labels": [label]}) is True
    box["BoundingBox"]["Width"] = EDGE
    assert fast({"Labels": [label]}) is False
    with pytest.raises(OverflowError):
        check_answer("DetectLabels", {"Labels": [label]})


def test_the_float_edge_is_where_isfinite_starts_to_overflow():
    for finite in (answers._FLOAT_EDGE - 1, 1 - answers._FLOAT_EDGE):
        assert math.isfinite(finite)
    for huge in (answers._FLOAT_EDGE, -answers._FLOAT_EDGE):
        with pytest.raises(OverflowError):
            math.isfinite(huge)
