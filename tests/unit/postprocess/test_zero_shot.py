"""ConSE scoring of the caller's labels, on hand-made vectors."""

from __future__ import annotations

import numpy as np

from app.postprocess.zero_shot import (
    ZeroShotOptions,
    custom_labels,
    label_query,
    semantic_vectors,
)

# Three classes in a 3-d text space: a cat, a dog, a car.
CLASS_VECTORS = np.eye(3)
CLASS_NAMES = ["cat", "dog", "car"]


def _unit(v: list[float]) -> np.ndarray:
    a = np.array(v, dtype=np.float64)
    return a / np.linalg.norm(a)


def test_a_picture_is_the_mix_of_its_top_classes() -> None:
    scores = np.array([[0.6, 0.3, 0.1], [0.0, 0.0, 0.0]])
    vectors, weights = semantic_vectors(scores, CLASS_VECTORS, mix=2)
    assert np.allclose(vectors[0], _unit([0.6, 0.3, 0.0]))  # the car is not among the top 2
    assert weights[0, 2] == 0.0
    assert np.allclose(vectors[1], 0.0)  # no mass, no direction


def test_probabilities_sum_to_one_and_evidence_explains_the_similarity() -> None:
    texts = ["a kitten", "a truck"]
    vectors = np.stack([_unit([1.0, 0.2, 0.0]), _unit([0.0, 0.0, 1.0])])
    query = label_query(texts, vectors, CLASS_VECTORS, hub_k=1)
    options = ZeroShotOptions(mix=3, hub_weight=0.0, temperature=0.1, evidence=2)
    [answer] = custom_labels(np.array([[0.7, 0.2, 0.1]]), CLASS_VECTORS, CLASS_NAMES, query,
                             options)
    assert [a.label for a in answer] == ["a kitten", "a truck"]
    assert abs(sum(a.probability for a in answer) - 1.0) < 1e-9
    picture = _unit([0.7, 0.2, 0.1])
    assert abs(answer[0].similarity - float(picture @ vectors[0])) < 1e-9
    assert answer[0].evidence[0].label == "cat"
    # With every mixed class named, the parts add up to the similarity exactly.
    options3 = ZeroShotOptions(mix=3, hub_weight=0.0, temperature=0.1, evidence=3)
    [full] = custom_labels(np.array([[0.7, 0.2, 0.1]]), CLASS_VECTORS, CLASS_NAMES, query,
                           options3)
    kitten = full[0]
    assert abs(sum(e.contribution for e in kitten.evidence) - kitten.similarity) < 1e-9


def test_the_hubness_correction_stops_a_label_that_is_near_everything() -> None:
    # "an object" sits between every class; "a dog" only near the dog.
    hub = _unit([1.0, 1.0, 1.0])
    dog = _unit([0.1, 1.0, 0.0])
    query = label_query(["an object", "a dog"], np.stack([hub, dog]), CLASS_VECTORS, hub_k=3)
    scores = np.array([[0.2, 0.5, 0.3]])  # a dog-ish picture with some of everything
    plain = custom_labels(scores, CLASS_VECTORS, CLASS_NAMES, query,
                          ZeroShotOptions(mix=3, hub_k=3, hub_weight=0.0))[0]
    corrected = custom_labels(scores, CLASS_VECTORS, CLASS_NAMES, query,
                              ZeroShotOptions(mix=3, hub_k=3, hub_weight=1.0))[0]
    assert plain[0].label == "an object"
    assert corrected[0].label == "a dog"
    # The raw similarity is reported unchanged either way.
    assert {a.label: a.similarity for a in plain} == {a.label: a.similarity for a in corrected}


def test_no_labels_gives_empty_answers() -> None:
    query = label_query([], np.zeros((0, 3)), CLASS_VECTORS, hub_k=2)
    assert custom_labels(np.ones((2, 3)), CLASS_VECTORS, CLASS_NAMES, query,
                         ZeroShotOptions()) == [[], []]
