"""`videobert build-hierarchy`: the categories above ImageNet-1k's classes, from WordNet 3.0.

ImageNet-1k's classes are WordNet 3.0 noun synsets. This command reads
- WordNet 3.0's ``data.noun`` and ``index.noun`` (Debian's ``wordnet-base`` package:
  /usr/share/wordnet), and
- the 1000 synset ids in class order (the standard ImageNet-1k index, one ``nXXXXXXXX`` a line,
  for example ``timm/data/_info/imagenet_synsets.txt`` in the timm wheel),
checks that they describe the model's own ``labels.txt`` (each class name is a lemma of its
synset, and the ids ascend, which is how the standard class order was made), and writes
``label_hierarchy.json`` into the model folder with its sha256 in the manifest. The service
reads only that file (``app/model/label_tree.py``); nothing here runs at serving time.

A category is a hypernym (or instance hypernym) of at least two classes, with at most
``MAX_CLASSES`` classes below it, from WordNet's concrete lexicographer files (animals,
artifacts, food, plants, objects, people), and not one of ``TOO_VAGUE``: groupings that are
true but that nobody says of a picture ("instrumentality", "covering", "commodity").
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.model.files import sha256_file
from app.model.manifest import MANIFEST_NAME, read_manifest
from app.model.store import _read_labels, resolve_version
from training.manifest_edit import edit_manifest

logger = logging.getLogger("label_hierarchy")
REPO = Path(__file__).resolve().parent.parent
HIERARCHY_FILE = "label_hierarchy.json"

MAX_CLASSES = 130  # "dog" (118) and "vehicle" (67) stay; "mammal" (218), "artifact" (522) go
# WordNet lexicographer files (wndb(5WN)) whose synsets are things a picture can show.
CONCRETE_FILES = {"noun.animal", "noun.artifact", "noun.food", "noun.plant", "noun.object",
                  "noun.person"}
LEX_FILES = {5: "noun.animal", 6: "noun.artifact", 13: "noun.food", 17: "noun.object",
             18: "noun.person", 20: "noun.plant"}
TOO_VAGUE = {
    "device", "container", "covering", "conveyance", "commodity", "consumer_goods",
    "structure", "equipment", "implement", "instrumentality", "durables", "furnishing",
    "mechanism", "protective_covering", "system", "restraint", "support", "surface",
    "chordate", "diapsid", "aquatic_vertebrate", "even-toed_ungulate", "odd-toed_ungulate",
    "placental", "self-propelled_vehicle", "reproductive_structure", "plant_part",
    "plant_organ", "natural_object", "solid", "nutriment", "produce", "foodstuff", "whole",
    "artifact", "object", "matter", "substance", "part", "relation", "abstraction",
}


@dataclass(frozen=True)
class Synset:
    lemmas: tuple[str, ...]
    lex_file: int
    hypernyms: tuple[int, ...]


def read_wordnet_nouns(path: Path) -> dict[int, Synset]:
    """``data.noun`` (wndb(5WN)): offset lex_filenum ss_type w_cnt (word lex_id)... p_cnt
    (pointer offset pos source/target)... | gloss. Hypernyms are the ``@`` and ``@i``
    pointers to nouns."""
    synsets: dict[int, Synset] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith("  ") or not line.strip():
            continue  # the licence header
        fields = line.partition(" | ")[0].split()
        count = int(fields[3], 16)
        lemmas = tuple(re.sub(r"\(.*\)$", "", fields[4 + 2 * i]) for i in range(count))
        at = 4 + 2 * count
        pointers = int(fields[at])
        hypernyms = []
        for k in range(pointers):
            symbol, offset, pos = fields[at + 1 + 4 * k: at + 4 + 4 * k]
            if symbol in ("@", "@i") and pos == "n":
                hypernyms.append(int(offset))
        synsets[int(fields[0])] = Synset(lemmas, int(fields[1]), tuple(hypernyms))
    return synsets


def checked_class_synsets(wnids: list[str], labels: list[str],
                          synsets: dict[int, Synset]) -> list[int]:
    """The synset offset of each class, after checking the id list fits the model's labels."""
    if len(wnids) != len(labels):
        raise SystemExit(f"{len(wnids)} synset ids for {len(labels)} classes")
    offsets = [int(w.removeprefix("n")) for w in wnids]
    if offsets != sorted(set(offsets)):
        raise SystemExit("the synset ids do not ascend: not the standard ImageNet-1k order")
    for offset, label in zip(offsets, labels, strict=True):
        lemmas = {lemma.lower().replace("_", " ") for lemma in synsets[offset].lemmas}
        # labels.txt disambiguates two names ("crane bird", "maillot tank suit").
        if label.lower() not in lemmas and label.split()[0].lower() not in lemmas:
            raise SystemExit(f"class {label!r} is not a lemma of n{offset:08d} {lemmas}")
    return offsets


def read_sense_ranks(path: Path) -> dict[str, list[int]]:
    """``index.noun`` (wndb(5WN)): each lemma's synsets, most frequent sense first."""
    ranks: dict[str, list[int]] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith("  ") or not line.strip():
            continue
        fields = line.split()
        synset_count, pointer_count = int(fields[2]), int(fields[3])
        offsets = fields[4 + pointer_count + 2:]
        ranks[fields[0]] = [int(o) for o in offsets[:synset_count]]
    return ranks


def categories(offsets: list[int], synsets: dict[int, Synset],
               sense_ranks: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Every kept category with the classes below it, most specific (fewest classes) first.
    Two kept senses of one word: the more frequent sense keeps the plain word ("car", the
    automobile), the other is told apart by its parent ("car (wheeled vehicle)")."""

    @functools.cache
    def ancestors(offset: int) -> frozenset[int]:
        above: set[int] = set()
        for parent in synsets[offset].hypernyms:
            above |= {parent} | ancestors(parent)
        return frozenset(above)

    below: dict[int, set[int]] = {}
    for class_id, offset in enumerate(offsets):
        for ancestor in ancestors(offset):
            below.setdefault(ancestor, set()).add(class_id)
    kept = {offset: classes for offset, classes in below.items()
            if 2 <= len(classes) <= MAX_CLASSES
            and LEX_FILES.get(synsets[offset].lex_file) in CONCRETE_FILES
            and synsets[offset].lemmas[0].lower() not in TOO_VAGUE}
    by_name: dict[str, list[int]] = {}
    for offset in kept:
        by_name.setdefault(_name(synsets[offset]), []).append(offset)
    out: list[dict[str, Any]] = []
    for name, same in by_name.items():
        same = [o for o in same if not any(kept[other] > kept[o] for other in same)]
        # ^ the same word for a subset of classes: the wider sense answers for both
        order = sense_ranks.get(name.replace(" ", "_").lower(), [])
        first = min(same, key=lambda o: order.index(o) if o in order else len(order))
        for offset in same:
            classes = kept[offset]
            label = name if offset == first else _disambiguated(offset, synsets, name)
            out.append({"name": label, "wnid": f"n{offset:08d}", "classes": sorted(classes)})
    out.sort(key=lambda c: (len(c["classes"]), str(c["name"])))
    return out


def _name(synset: Synset) -> str:
    return synset.lemmas[0].replace("_", " ")


def _disambiguated(offset: int, synsets: dict[int, Synset], name: str) -> str:
    """"vessel (craft)" and "vessel (container)": the same word, told apart by a parent."""
    parents = [synsets[p] for p in synsets[offset].hypernyms]
    return f"{name} ({_name(parents[0])})" if parents else f"{name} (n{offset:08d})"


def build(folder: Path, wordnet: Path, synset_list: Path) -> Path:
    manifest = read_manifest(folder / MANIFEST_NAME)
    labels = _read_labels(manifest, folder)
    synsets = read_wordnet_nouns(wordnet / "data.noun")
    wnids = synset_list.read_text(encoding="utf-8").split()
    offsets = checked_class_synsets(wnids, labels, synsets)
    found = categories(offsets, synsets, read_sense_ranks(wordnet / "index.noun"))
    out = folder / HIERARCHY_FILE
    out.write_text(json.dumps({
        "about": ("Categories above the ImageNet-1k classes (labels.txt order), written by "
                  "`videobert build-hierarchy` (training/label_hierarchy.py). Hypernyms from "
                  "WordNet 3.0 (Princeton University, WordNet 3.0 licence; Debian package "
                  "wordnet-base, data.noun); the class synset ids are the standard ImageNet-1k "
                  "index, checked against WordNet and labels.txt."),
        "max_classes": MAX_CLASSES,
        "class_wnids": [f"n{o:08d}" for o in offsets],
        "categories": found,
    }, indent=1) + "\n", encoding="utf-8")
    digest = sha256_file(out)

    def record(raw: dict[str, Any]) -> None:
        raw["labels"]["hierarchy"] = {"path": HIERARCHY_FILE, "sha256": digest}

    edit_manifest(folder / MANIFEST_NAME, record)
    logger.info("%d categories above %d classes -> %s", len(found), len(labels), out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="videobert build-hierarchy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="videobert-lite0")
    parser.add_argument("--version", default=None)
    parser.add_argument("--store", type=Path, default=REPO / "model_store")
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"),
                        help="the folder holding WordNet 3.0's data.noun")
    parser.add_argument("--synsets", type=Path, required=True,
                        help="the 1000 ImageNet-1k synset ids in class order")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    version = resolve_version(args.store, args.model, args.version)
    build(args.store / args.model / version, args.wordnet, args.synsets)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
