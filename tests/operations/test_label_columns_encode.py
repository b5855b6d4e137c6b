"""LabelsCodec.encode reads responses straight into columns: exactly what the adapter's objects give, and an
exception wherever the adapter raises one, on real, generated and mutated answers."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from evaluation.operations.answers import LABEL_ADAPTERS, LabelsAnswer, PredictedLabel, adapter_for
from evaluation.operations.label_columns import LABELS_CODEC, encode_answer
from evaluation.operations.label_encoding import encode_detect_custom_labels, encode_detect_labels
from tests.support.fake_custom_labels import custom_label
from tests.support.fake_rekognition import label
from tests.support.scale_answers import answers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "detect_labels_labels_sample.json"
SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / FIXTURES.name
BOX = {"BoundingBox": {"Left": 0.1, "Top": 0.2, "Width": 0.3, "Height": 0.4}, "Confidence": 40.0}


def real_response() -> dict:
    path = FIXTURES if FIXTURES.exists() else SHARED_FIXTURES
    return {"Labels": json.loads(path.read_text()), "LabelModelVersion": "3.0"}


def custom_responses() -> list[dict]:
    """DetectCustomLabels answers as the other tests write them."""
    return [
        {"CustomLabels": []},
        {"CustomLabels": [{"Name": "dent", "Confidence": 91.5}], "ProjectVersionArn": "arn:version/1"},
        {"CustomLabels": [{"Name": "widget", "Confidence": 12.5, "Geometry": {}}]},
        {
            "CustomLabels": [
                {"Name": "A", "Confidence": 90.0},
                {"Name": "A", "Confidence": 85.0},
                {"Name": "B", "Confidence": 70.0},
            ]
        },
        {
            "CustomLabels": [
                {"Name": "a", "Confidence": 80.0},
                {"Name": "a", "Confidence": 60.0, "Geometry": {"BoundingBox": {"Left": 0.1, "Top": 0.2}}},
                {"Name": "b", "Confidence": 70.0},
            ]
        },
        {
            "CustomLabels": [
                custom_label("dent", 40.0, (0.1, 0.1, 0.2, 0.2)),
                custom_label("dent", 90.0, (0.5, 0.1, 0.2, 0.3)),
                custom_label("scratch", 12.5),
            ]
        },
        {"CustomLabels": [custom_label("dent", 63.0), custom_label("scratch", 37.0)]},
    ]


def labels_responses() -> list[dict]:
    return [
        real_response(),
        {"Labels": []},
        {},
        {"Labels": [{"Name": "Human", "Confidence": 99.2}], "OrientationCorrection": "ROTATE_0"},
        {"Labels": [label("Dog", 80.0, ("Animal",), ("Canine",), (BOX,))], "LabelModelVersion": "3.0"},
        {"Labels": [label("Dog", 0.0), label("Cat", 100)]},
        {"Labels": [{"Name": "Dog", "Confidence": 55.0, "NewField": [1]}]},
        *(response for _, response, _ in answers(200, seed=3)),
    ]


def canonical(columns: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The columns with every value's type and repr: NaN equals NaN, -0.0 differs from 0.0, 1 from 1.0."""
    return [
        (field, [(type(value).__name__, repr(value)) for value in values])
        for field, values in columns.items()
    ]


def outcome(read: Any) -> tuple[str, Any]:
    try:
        return "encoded", canonical(read())
    except Exception:  # what the store's callers do with any exception: a bad answer
        return "raised", None


def compare(operation: str, response: Any) -> str:
    """Both ways on one answer; returns which outcome they shared."""
    expected = outcome(lambda: encode_answer(adapter_for(operation)(response)))
    got = outcome(lambda: LABELS_CODEC.encode(operation, response))
    assert got == expected, (operation, response)
    return got[0]


def test_real_generated_and_fixture_answers_encode_as_the_adapter_reads_them():
    for response in labels_responses():
        assert compare("DetectLabels", response) == "encoded"
        assert encode_detect_labels(response) is not None  # read directly, not handed to the adapter
    for response in custom_responses():
        assert compare("DetectCustomLabels", response) == "encoded"
        assert encode_detect_custom_labels(response) is not None


# -- mutations: odd values, put anywhere in an answer

NAMES = ("Dog", "", " ", "  Dog ", "dent", "A", "a", "Vehicle", "Clothing")
ODD = (
    None,
    True,
    False,
    0,
    1,
    -1,
    50,
    2**70,
    10**400,  # float() of it overflows
    0.0,
    -0.0,
    1.5,
    99.5,
    float("nan"),
    float("inf"),
    "",
    " ",
    "  Dog ",
    "90",
    " 12.5 ",
    "abc",
    "nan",
    "1e999",
    [],
    [1],
    ["Dog"],
    [None],
    [{}],
    [{"Name": None}],
    [{"Name": " x "}],
    [{"Name": 3}, {"Other": 1}, "x"],
    {},
    {"Name": "x"},
    ("t",),
    (),
    b"",
    MappingProxyType({"Name": "proxy"}),
    MappingProxyType({"Left": 0.5, "Top": 0.25}),
    [MappingProxyType({"Name": "proxy"})],
)
KEYS = (
    "Name",
    "Confidence",
    "Instances",
    "BoundingBox",
    "Left",
    "Top",
    "Width",
    "Height",
    "Parents",
    "Aliases",
    "Categories",
    "Geometry",
    "Labels",
    "CustomLabels",
    "LabelModelVersion",
    "ProjectVersionArn",
    "Unknown",
)


def containers(value: Any, found: list) -> list:
    if isinstance(value, (dict, list)):
        found.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            containers(child, found)
    return found


def clone(value: Any) -> Any:
    """A deep copy that also copies the read-only Mappings put in (copy.deepcopy cannot pickle them)."""
    if isinstance(value, dict):
        return {key: clone(child) for key, child in value.items()}
    if isinstance(value, MappingProxyType):
        return MappingProxyType(clone(dict(value)))
    if isinstance(value, (list, tuple)):
        return type(value)(clone(child) for child in value)
    return value


def odd_value(rng: random.Random, response: Any) -> Any:
    pieces = containers(response, [])
    if pieces and rng.random() < 0.3:  # a piece of the answer itself, somewhere else
        return clone(rng.choice(pieces))
    if rng.random() < 0.2:
        return rng.choice(NAMES)
    return clone(rng.choice(ODD))


def mutate(rng: random.Random, response: Any) -> Any:
    """One change at a random place: a member deleted, set or renamed; an entry dropped, repeated, replaced
    or moved; a container swapped for a tuple or a Mapping that is not a dict."""
    everything = containers(response, [])
    if not everything or rng.random() < 0.02:
        return odd_value(rng, response)
    target = rng.choice(everything)
    move = rng.random()
    if isinstance(target, dict):
        if move < 0.3 and target:
            del target[rng.choice(list(target))]
        elif move < 0.85:
            target[rng.choice(list(target) if target and rng.random() < 0.6 else KEYS)] = odd_value(
                rng, response
            )
        elif target:
            key = rng.choice(list(target))
            child = target[key]
            if isinstance(child, dict):
                target[key] = MappingProxyType(child)
            elif isinstance(child, list):
                target[key] = tuple(child)
            elif isinstance(child, str):
                target[key] = child.strip() if rng.random() < 0.5 else f" {child} "
    else:
        if move < 0.25 and target:
            del target[rng.randrange(len(target))]
        elif move < 0.55 and target:
            target.insert(rng.randrange(len(target) + 1), clone(rng.choice(target)))  # a duplicate
        elif move < 0.8:
            target.insert(rng.randrange(len(target) + 1), odd_value(rng, response))
        elif target:
            rng.shuffle(target)
    return response


def mutated(operation: str, bases: list[dict], count: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        response = clone(rng.choice(bases))
        for _ in range(rng.choice((1, 1, 2, 3))):
            response = mutate(rng, response)
        out.append(response)
    return out


def custom_bases() -> list[dict]:
    # names that repeat, ties, -0.0 against 0.0 and NaN: the image-level label takes max() of them
    tricky = {
        "CustomLabels": [
            custom_label("dent", 0.0, (0.1, 0.1, 0.2, 0.2)),
            custom_label("dent", -0.0),
            custom_label("scratch", float("nan"), (0.3, 0.3, 0.1, 0.1)),
            custom_label("scratch", 50.0),
            custom_label("chip", 50.0),
            {
                **custom_label("chip", 70.0, (0.2, 0.2, 0.2, 0.2)),
                "Geometry": {"BoundingBox": {}, "Confidence": 9},
            },
        ],
        "ProjectVersionArn": "arn:version/2",
    }
    return [*custom_responses(), tricky]


@pytest.mark.parametrize(("operation", "seed"), [("DetectLabels", 11), ("DetectCustomLabels", 12)])
def test_thousands_of_mutated_answers_encode_or_raise_as_the_adapter_does(operation, seed):
    bases = labels_responses()[:40] if operation == "DetectLabels" else custom_bases()
    read = encode_detect_labels if operation == "DetectLabels" else encode_detect_custom_labels
    outcomes = {"encoded": 0, "raised": 0}
    paths = {"read directly": 0, "handed to the adapter": 0, "raised directly": 0}
    for response in mutated(operation, bases, 3000, seed):
        outcomes[compare(operation, response)] += 1
        try:
            paths["handed to the adapter" if read(response) is None else "read directly"] += 1
        except Exception:
            paths["raised directly"] += 1
    assert min(outcomes.values()) >= 500, outcomes  # both outcomes, many times
    assert min(paths.values()) >= 100, paths  # and every path of the codec


@pytest.mark.parametrize(
    "response",
    [
        {"Labels": ""},  # a str is a Sequence to the adapter: no labels
        {"Labels": "ab"},
        {"Labels": ()},
        {"Labels": (label("Dog", 80.0, ("Animal",)),)},
        {"Labels": None},
        {"Labels": [label("Dog", 80.0)], "LabelModelVersion": 3},
        MappingProxyType({"Labels": [label("Dog", 80.0)]}),
        {"Labels": [MappingProxyType(label("Dog", 80.0, ("Animal",)))]},
        {"Labels": [{"Name": 7, "Confidence": "12.5"}]},  # str() and float() as the adapter converts
        {"Labels": [{"Name": "Dog", "Confidence": 10**400}]},
        {"Labels": [{**label("Dog", 80.0), "Instances": [{"Confidence": "not read without a box"}]}]},
        {"Labels": [{**label("Dog", 80.0), "Instances": [{"BoundingBox": {}, "Confidence": None}]}]},
        {"Labels": [{**label("Dog", 80.0), "Instances": [{"BoundingBox": {"Left": "0.5"}}]}]},
        {"Labels": [{**label("Dog", 80.0), "Instances": [{"BoundingBox": MappingProxyType({"Top": 0.5})}]}]},
        {"Labels": [{**label("Dog", 80.0), "Instances": "ab"}]},
        {"Labels": [{**label("Dog", 80.0), "Parents": "Animal"}]},
        {"Labels": [{**label("Dog", 80.0), "Parents": {"Name": "Animal"}}]},
        {"Labels": [{**label("Dog", 80.0), "Parents": 3}]},
        {"Labels": [{**label("Dog", 80.0), "Parents": [{"Name": " Animal "}, {"Name": ""}, {}, "x", None]}]},
    ],
)
def test_shapes_json_never_gives_are_read_as_the_adapter_reads_them(response):
    compare("DetectLabels", response)


def test_a_reregistered_adapter_is_read_by_itself(monkeypatch):
    def other(response: Any) -> LabelsAnswer:
        return LabelsAnswer(labels=(PredictedLabel(name="other", confidence=1.0),), model_version=None)

    monkeypatch.setitem(LABEL_ADAPTERS, "DetectLabels", other)
    assert LABELS_CODEC.encode("DetectLabels", real_response())["name"] == ["other"]
    with pytest.raises(ValueError, match="no label adapter"):
        LABELS_CODEC.encode("DetectSomethingElse", {})


def test_nan_and_signed_zero_come_out_as_the_adapter_gives_them():
    response = custom_bases()[-1]
    columns = LABELS_CODEC.encode("DetectCustomLabels", response)
    # max(50.0, nan) is 50.0 and max(-0.0, 0.0) is -0.0: the first argument unless the second is greater
    assert columns["name"] == ["chip", "scratch", "dent"]
    assert [repr(value) for value in columns["confidence"]] == ["70.0", "50.0", "-0.0"]
    assert canonical(columns) == canonical(encode_answer(adapter_for("DetectCustomLabels")(response)))
