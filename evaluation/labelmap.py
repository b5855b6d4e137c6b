"""Which Rekognition label names count as which dataset label.

A dataset says "formal wear", "puppy" or "hotdog"; Rekognition says "Formal Wear", "Dog", "Hot Dog". A
label map is a YAML file that maps each dataset label to one or more Rekognition names:

```yaml
dog: Dog                      # a single name
formal wear: [Formal Wear, Suit]  # any of these counts as "formal wear"
"yes": Thumbs Up              # quote keys YAML would read as booleans or numbers
```

A dataset label that is not in the map maps to itself, so a map only needs the labels whose names differ.
Names are compared through `normalize_name` (case-insensitive, whitespace collapsed, Unicode NFC)
everywhere: in the map's keys, in its values and when a Rekognition answer is matched, because a dataset
written by hand rarely spells names exactly the way Rekognition does.

A label map may not use YAML aliases (`*name`): a few hundred bytes of nested aliases expand to billions
of names (a "billion laughs" file), and a map of names never needs them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from evaluation.errors import UserError

__all__ = ["LabelMap", "normalize_name"]


def normalize_name(name: str) -> str:
    """The form in which two label names are compared: "  Formal   wear" and "formal Wear" are equal.

    Unicode NFC before and after case folding, so "Café" typed as one code point (é) and as two (e and a
    combining accent, as macOS writes file names) is one name.
    """
    folded = " ".join(unicodedata.normalize("NFC", name).split()).casefold()
    return folded if folded.isascii() else unicodedata.normalize("NFC", folded)


class _NoAliasLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases: an alias bomb is refused at its first alias, in microseconds."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"YAML aliases (*{event.anchor}) are not allowed in a label map; write the names out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


class LabelMap:
    """Dataset label -> Rekognition names, looked up by normalised name."""

    def __init__(self, mapping: Mapping[str, tuple[str, ...]] | None = None, *, source: str = "") -> None:
        self.source = source
        self._targets: dict[str, tuple[str, ...]] = {}
        self._labels: dict[str, str] = {}  # normalised dataset label -> the label as written
        for label, targets in (mapping or {}).items():
            key = normalize_name(label)
            if key in self._labels:
                raise UserError(
                    f"{source or 'label map'}: {label!r} and {self._labels[key]!r} are the same label "
                    "(names are compared without case, extra spaces or Unicode form); keep one"
                )
            self._labels[key] = label
            self._targets[key] = tuple(targets)

    @classmethod
    def identity(cls) -> LabelMap:
        """The map for a dataset that already uses Rekognition's names."""
        return cls(source="identity")

    @classmethod
    def from_dict(cls, raw: object, *, source: str = "label map") -> LabelMap:
        """Validate a parsed mapping (from YAML, JSON or code); errors name `source` and the key."""
        if not isinstance(raw, Mapping):
            raise UserError(
                f"{source}: expected a mapping of 'dataset label: Rekognition name(s)', "
                f"found {type(raw).__name__}"
            )
        if not raw:
            raise UserError(f"{source}: the label map is empty; leave it out to compare names as they are")
        mapping: dict[str, tuple[str, ...]] = {}
        for key, value in raw.items():
            label = _check_key(key, source)
            mapping[label] = _check_targets(label, value, source)
        return cls(mapping, source=source)

    @classmethod
    def load(cls, path: str | Path) -> LabelMap:
        """Read a YAML label map; every mistake is a UserError naming the file (and the key or line)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise UserError(f"label map not found: {path}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"cannot read label map {path}: {err}") from err
        try:
            raw = yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader without aliases
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            problem = getattr(err, "problem", None) or str(err)
            raise UserError(f"{where}: invalid YAML: {problem}") from err
        if raw is None:
            raise UserError(f"{path}: the label map is empty; leave it out to compare names as they are")
        return cls.from_dict(raw, source=str(path))

    @property
    def dataset_labels(self) -> tuple[str, ...]:
        """The dataset labels the map names, as written in it."""
        return tuple(self._labels.values())

    def __contains__(self, dataset_label: object) -> bool:
        return isinstance(dataset_label, str) and normalize_name(dataset_label) in self._targets

    def __len__(self) -> int:
        return len(self._targets)

    def __repr__(self) -> str:
        return f"LabelMap({len(self)} labels from {self.source or 'code'})"

    def targets(self, dataset_label: str) -> tuple[str, ...]:
        """The Rekognition names that count as `dataset_label`; a label not in the map maps to itself."""
        return self._targets.get(normalize_name(dataset_label), (dataset_label,))

    def reverse(self, dataset_labels: Iterable[str] | None = None) -> dict[str, list[str]]:
        """Normalised Rekognition name -> the dataset labels it counts for.

        Without `dataset_labels`, this covers the labels in the map, spelled as the map spells them. With
        them (a dataset's vocabulary), it covers exactly those labels, spelled as the dataset spells them,
        including the ones that map to themselves: what matching a prediction against a dataset needs.
        """
        labels = self.dataset_labels if dataset_labels is None else tuple(dataset_labels)
        result: dict[str, list[str]] = {}
        for label in labels:
            for target in self.targets(label):
                counted = result.setdefault(normalize_name(target), [])
                if label not in counted:
                    counted.append(label)
        return result


def _check_key(key: object, source: str) -> str:
    if isinstance(key, bool) or key is None:
        raise UserError(
            f"{source}: key {key!r} is not a label name (YAML reads yes/no/on/off/true/false/null "
            "as booleans or null); put it in quotes"
        )
    if not isinstance(key, str):
        raise UserError(
            f"{source}: key {_short(key)} is a {type(key).__name__}, not a label name; put it in quotes"
        )
    if not key.strip():
        raise UserError(f"{source}: an empty dataset label name")
    return key.strip()


def _check_targets(label: str, value: object, source: str) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list):
        raise UserError(
            f"{source}: {label!r}: expected a Rekognition name or a list of names, found {_short(value)}"
        )
    if not names:
        raise UserError(f"{source}: {label!r}: the list of Rekognition names is empty")
    targets: dict[str, str] = {}
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise UserError(f"{source}: {label!r}: {_short(name)} is not a Rekognition label name")
        targets.setdefault(normalize_name(name), " ".join(name.split()))
    return tuple(targets.values())


def _short(value: object, limit: int = 80) -> str:
    """A value for a message, never longer than `limit` (a hostile map must not make a huge message)."""
    text = (
        repr(value) if not isinstance(value, list | dict) or len(value) < 20 else f"<{type(value).__name__}>"
    )
    return text if len(text) <= limit else text[: limit - 3] + "..."
