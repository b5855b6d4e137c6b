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


# --- issue 18, items 8 and 11: Unicode spellings, and a YAML alias bomb -----------------------------------

CAFE_NFC = "Caf\u00e9"
CAFE_NFD = "Cafe\u0301"


def test_nfc_and_nfd_spellings_are_one_name() -> None:
    assert CAFE_NFC != CAFE_NFD
    assert normalize_name(CAFE_NFC) == normalize_name(CAFE_NFD) == "caf\u00e9"
    assert normalize_name("  CAFE\u0301 ") == "caf\u00e9"


def test_a_map_written_in_nfd_matches_rekognitions_nfc_names(tmp_path: Path) -> None:
    label_map = _load(tmp_path, f"{CAFE_NFD}: [Coffee Shop]\n")
    assert CAFE_NFC in label_map
    assert label_map.targets(CAFE_NFC) == ("Coffee Shop",)
    with pytest.raises(UserError, match="are the same label"):
        _load(tmp_path, f"{CAFE_NFD}: A\n{CAFE_NFC}: B\n")


ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_yaml_alias_bomb_is_refused_at_once_naming_the_file(tmp_path: Path) -> None:
    """Today's main spent about a minute and gigabytes on this file: run it in a child with a memory cap
    and a timeout, so that a regression fails here instead of exhausting the machine."""
    from tests.support.hostile import GB, run_bounded

    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB, encoding="utf-8")
    assert len(ALIAS_BOMB) < 400
    code = f"""
from evaluation.errors import UserError
from evaluation.labelmap import LabelMap
try:
    LabelMap.load({str(path)!r})
    print("loaded")
except UserError as err:
    print("refused:", err)
"""
    result = run_bounded(code, memory_limit=1 * GB, timeout=20)
    assert result["returncode"] == 0, (result["returncode"], str(result["stderr"])[-1500:])
    assert f"refused: {path}:2: invalid YAML: YAML aliases (*a) are not allowed in a label map" in str(
        result["stdout"]
    )
    assert result["peak_rss"] < 200 * 1024 * 1024


def test_anchors_without_aliases_and_plain_maps_still_load(tmp_path: Path) -> None:
    assert _load(tmp_path, "dog: &x Dog\ncat: Cat\n").targets("dog") == ("Dog",)
