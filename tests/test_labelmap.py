"""The label map: name normalisation, lookups both ways, and a clear error for each kind of bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.errors import UserError
from evaluation.labelmap import LabelMap, normalize_name


@pytest.mark.parametrize(
    "name, normalized",
    [
        ("Formal Wear", "formal wear"),
        ("  formal\t  WEAR \n", "formal wear"),
        ("Hot Dog", "hot dog"),
        ("Straße", "strasse"),  # casefold, not lower: the same name however it is cased
    ],
)
def test_normalize_name(name: str, normalized: str) -> None:
    assert normalize_name(name) == normalized


def _load(tmp_path: Path, text: str) -> LabelMap:
    path = tmp_path / "labels.yaml"
    path.write_text(text, encoding="utf-8")
    return LabelMap.load(path)


def test_load_a_map_with_single_names_and_lists(tmp_path: Path) -> None:
    lmap = _load(
        tmp_path,
        "puppy: Dog\nformal wear: [Formal Wear, Suit, formal  wear]\n'yes': Thumbs Up\n",
    )
    assert len(lmap) == 3
    assert lmap.dataset_labels == ("puppy", "formal wear", "yes")
    assert lmap.targets("puppy") == ("Dog",)
    assert lmap.targets("Formal  WEAR") == ("Formal Wear", "Suit")  # duplicates after normalising dropped
    assert "PUPPY" in lmap and "kitten" not in lmap


def test_a_label_not_in_the_map_maps_to_itself(tmp_path: Path) -> None:
    lmap = _load(tmp_path, "puppy: Dog\n")
    assert lmap.targets("Cat") == ("Cat",)
    assert LabelMap.identity().targets("formal wear") == ("formal wear",)


def test_reverse_gives_the_dataset_labels_each_rekognition_name_counts_for(tmp_path: Path) -> None:
    lmap = _load(tmp_path, "puppy: Dog\nhound: [Dog, Hound]\nformal wear: Formal Wear\n")
    assert lmap.reverse() == {
        "dog": ["puppy", "hound"],
        "hound": ["hound"],
        "formal wear": ["formal wear"],
    }


def test_reverse_over_a_vocabulary_covers_unmapped_labels_in_the_datasets_spelling(tmp_path: Path) -> None:
    lmap = _load(tmp_path, "puppy: Dog\n")
    assert lmap.reverse(["Puppy", "Cat"]) == {"dog": ["Puppy"], "cat": ["Cat"]}
    assert LabelMap.identity().reverse() == {}
    assert LabelMap.identity().reverse(["Cat"]) == {"cat": ["Cat"]}


BAD_MAPS = {
    "empty file": ("", "the label map is empty"),
    "a list": ("- Dog\n- Cat\n", "expected a mapping of 'dataset label: Rekognition name(s)', found list"),
    "number key": ("2019: Dog\n", "key 2019 is a int, not a label name; put it in quotes"),
    "boolean key": ("yes: Thumbs Up\n", "key True is not a label name (YAML reads yes/no"),
    "null value": ("puppy:\n", "'puppy': expected a Rekognition name or a list of names, found None"),
    "empty list": ("puppy: []\n", "'puppy': the list of Rekognition names is empty"),
    "number in list": ("puppy: [Dog, 3]\n", "'puppy': 3 is not a Rekognition label name"),
    "blank name": ("puppy: '  '\n", "'puppy': '  ' is not a Rekognition label name"),
    "nested mapping": ("puppy: {name: Dog}\n", "'puppy': expected a Rekognition name or a list of names"),
    "same label twice": ("Puppy: Dog\npuppy: Hound\n", "'puppy' and 'Puppy' are the same label"),
}


@pytest.mark.parametrize("text, error", BAD_MAPS.values(), ids=BAD_MAPS.keys())
def test_a_bad_entry_names_the_file_and_the_key(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(UserError) as raised:
        _load(tmp_path, text)
    message = str(raised.value)
    assert message.startswith(str(tmp_path / "labels.yaml"))
    assert error in message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"labels\.yaml:2: invalid YAML: mapping values are not allowed here"):
        _load(tmp_path, "puppy: Dog\nformal wear: Formal Wear: Suit\ncat: Cat\n")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"label map not found: .*nope\.yaml"):
        LabelMap.load(tmp_path / "nope.yaml")


def test_from_dict_validates_like_load() -> None:
    assert LabelMap.from_dict({"puppy": "Dog"}).targets("puppy") == ("Dog",)
    with pytest.raises(UserError, match=r"^label map: 'puppy': the list of Rekognition names is empty"):
        LabelMap.from_dict({"puppy": []})
