"""A label answer's columns read straight from its response dict: the store encodes every answer it keeps
(a million when recorded answers are replayed), and building the adapter's objects first cost more than
parsing the JSON (20,000 answers of 30 labels: 3.5 s through the objects, 0.66 s here, json.loads 2.2 s;
benchmarks/bench_label_encode.py).

Each reader gives exactly what `encode_answer(adapter(response))` gives for the adapter it mirrors
(evaluation.operations.answers is the reference): the same values in the same order, the same float
conversions and defaults, and an exception wherever the adapter raises one. They read the shapes JSON
gives, dicts and lists; on anything else (a tuple of labels, a Mapping that is not a dict, a string where
a list belongs) they return None and the caller asks the adapter, which knows every case.
tests/operations/test_label_columns_encode.py compares the two on real, generated and mutated answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from evaluation.operations.answers import labels_from_detect_custom_labels, labels_from_detect_labels

NO_ENTRIES = -1  # `entries` of an answer whose API does not count raw entries (DetectLabels)
_ABSENT = object()


def encode_detect_labels(response: Any) -> dict[str, Any] | None:
    """labels_from_detect_labels and encode_answer in one pass, or None for a shape left to the adapter."""
    if type(response) is not dict:
        return None
    labels = response.get("Labels", _ABSENT)
    if type(labels) is not list:
        if labels is not _ABSENT:
            return None
        labels = []
    version = response.get("LabelModelVersion")
    if version is not None and type(version) is not str:
        str(version)  # the adapter keeps str(version): whatever that raises, this raises
    names: list[str] = []
    confidences: list[float] = []
    parent_count: list[int] = []
    parents: list[str] = []
    alias_count: list[int] = []
    aliases: list[str] = []
    category_count: list[int] = []
    categories: list[str] = []
    instance_count: list[int] = []
    box: list[float] = []
    # one loop, written out per member: a helper call or a loop over the three name lists costs a third more
    for raw in labels:
        if type(raw) is not dict:
            return None
        names.append(str(raw["Name"]))
        confidence = float(raw["Confidence"])
        confidences.append(confidence)
        entries = raw.get("Instances")
        count = 0
        if entries:
            if type(entries) is not list:
                return None
            for instance in entries:
                if type(instance) is not dict:
                    return None
                bounds = instance.get("BoundingBox")
                if type(bounds) is dict:
                    box += (
                        float(bounds.get("Left", 0.0)),
                        float(bounds.get("Top", 0.0)),
                        float(bounds.get("Width", 0.0)),
                        float(bounds.get("Height", 0.0)),
                        float(instance.get("Confidence", confidence)),
                    )
                    count += 1
                elif bounds is not None and isinstance(bounds, Mapping):
                    return None
        instance_count.append(count)
        # Parents, Aliases, Categories: each entry's Name as text; entries that are no object or have no
        # Name are skipped, as the adapter's _names skips them
        entries = raw.get("Parents")
        count = 0
        if entries:
            if type(entries) is not list:
                return None
            for entry in entries:
                if (type(entry) is dict or isinstance(entry, Mapping)) and "Name" in entry:
                    parents.append(str(entry["Name"]))
                    count += 1
        parent_count.append(count)
        entries = raw.get("Aliases")
        count = 0
        if entries:
            if type(entries) is not list:
                return None
            for entry in entries:
                if (type(entry) is dict or isinstance(entry, Mapping)) and "Name" in entry:
                    aliases.append(str(entry["Name"]))
                    count += 1
        alias_count.append(count)
        entries = raw.get("Categories")
        count = 0
        if entries:
            if type(entries) is not list:
                return None
            for entry in entries:
                if (type(entry) is dict or isinstance(entry, Mapping)) and "Name" in entry:
                    categories.append(str(entry["Name"]))
                    count += 1
        category_count.append(count)
    return {
        "name": names,
        "confidence": confidences,
        "parent_count": parent_count,
        "parent": parents,
        "alias_count": alias_count,
        "alias": aliases,
        "category_count": category_count,
        "category": categories,
        "instance_count": instance_count,
        "box": box,
        "entries": [NO_ENTRIES],
    }


def encode_detect_custom_labels(response: Any) -> dict[str, Any] | None:
    """labels_from_detect_custom_labels and encode_answer in one pass (one label per name at its highest
    confidence, every box kept), or None for a shape left to the adapter."""
    if type(response) is not dict:
        return None
    entries = response.get("CustomLabels", _ABSENT)
    if type(entries) is not list:
        if entries is not _ABSENT:
            return None
        entries = []
    best: dict[str, float] = {}
    boxes: dict[str, list[tuple[float, ...]]] = {}
    for raw in entries:
        if type(raw) is not dict:
            return None
        name, confidence = str(raw["Name"]), float(raw["Confidence"])
        best[name] = max(confidence, best.get(name, confidence))  # the adapter's words: NaN and -0.0 alike
        geometry = raw.get("Geometry")
        if type(geometry) is dict:
            bounds = geometry.get("BoundingBox")
            if type(bounds) is dict:
                boxes.setdefault(name, []).append(
                    (
                        float(bounds.get("Left", 0.0)),
                        float(bounds.get("Top", 0.0)),
                        float(bounds.get("Width", 0.0)),
                        float(bounds.get("Height", 0.0)),
                        float(geometry.get("Confidence", confidence)),
                    )
                )
            elif bounds is not None and isinstance(bounds, Mapping):
                return None
        elif geometry is not None and isinstance(geometry, Mapping):
            return None
    version = response.get("ProjectVersionArn")
    if version and type(version) is not str:
        str(version)  # the adapter keeps str(version): whatever that raises, this raises
    ordered = sorted(best.items(), key=lambda item: (-item[1], item[0]))
    instance_count: list[int] = []
    box: list[float] = []
    for name, _ in ordered:
        mine = boxes.get(name, ())
        instance_count.append(len(mine))
        for values in mine:
            box += values
    zeros = [0] * len(ordered)
    return {
        "name": [name for name, _ in ordered],
        "confidence": [confidence for _, confidence in ordered],
        "parent_count": zeros,
        "parent": [],
        "alias_count": list(zeros),
        "alias": [],
        "category_count": list(zeros),
        "category": [],
        "instance_count": instance_count,
        "box": box,
        "entries": [len(entries)],
    }


# The adapter each reader mirrors: a reader is used only while its adapter is the registered one.
FAST_ENCODERS: dict[Callable[..., Any], Callable[[Any], dict[str, Any] | None]] = {
    labels_from_detect_labels: encode_detect_labels,
    labels_from_detect_custom_labels: encode_detect_custom_labels,
}
