"""Labels the caller names, over HTTP with the real default model and its real text encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.media import sample_clip
from training.label_eval import _still, load_set, still_clip

pytestmark = pytest.mark.slow

# The right class of each item is phrasing 0 of its class in the labelled set.
_, PHRASINGS = load_set()
CLASSES = [texts[0] for texts in PHRASINGS.values()]


@pytest.fixture(scope="module")
def coffee(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("stills")
    return still_clip(_still("skimage:coffee.png"), folder / "coffee.mp4").read_bytes()


def _form(fields: list[tuple[str, str]] | None) -> dict[str, list[str]]:
    """httpx sends a dict of lists as repeated form fields."""
    form: dict[str, list[str]] = {}
    for name, value in fields or []:
        form.setdefault(name, []).append(value)
    return form


def _classify(client: TestClient, data: bytes, query: str = "",
              fields: list[tuple[str, str]] | None = None) -> dict[str, object]:
    resp = client.post(f"/v1/classify{query}", files={"video": ("clip.mp4", data)},
                       data=_form(fields))
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(("clip", "right"), [("carphone_pristine.mp4", "a man in a suit and tie")])
def test_real_clip_ranks_its_class_first(client: TestClient, clip: str, right: str) -> None:
    body = _classify(client, sample_clip(clip).read_bytes(),
                     fields=[("labels", label) for label in CLASSES])
    custom = body["custom_labels"]
    assert isinstance(custom, list) and len(custom) == len(CLASSES)
    assert custom[0]["label"] == right, [c["label"] for c in custom[:3]]
    assert abs(sum(c["probability"] for c in custom) - 1.0) < 1e-3
    probabilities = [c["probability"] for c in custom]
    assert probabilities == sorted(probabilities, reverse=True)
    # The reason names CNN classes, and their parts add up to at most the similarity.
    evidence = custom[0]["evidence"]
    assert {e["label"] for e in evidence} & {"Windsor tie", "bow tie", "suit"}, evidence
    assert sum(e["contribution"] for e in evidence) <= custom[0]["similarity"] + 1e-3
    shots = body["shot_labels"]
    assert all(len(shot["custom_labels"]) == 5 for shot in shots)  # top_k per shot
    assert body["labels_truncated"] == []
    assert body["timings"]["labels_ms"] > 0


def test_a_photo_clip_as_a_json_list_and_with_the_genres_set(client: TestClient,
                                                             coffee: bytes) -> None:
    body = _classify(client, coffee, "?label_set=genres",
                     fields=[("labels", json.dumps(CLASSES))])
    custom = body["custom_labels"]
    assert isinstance(custom, list)
    names = [c["label"] for c in custom]
    assert len(names) == len(CLASSES) + 16  # the genres, then the caller's own
    assert names[0] in ("a cup of coffee", "food and drink"), names[:3]
    ours = [n for n in names if n in CLASSES]
    assert ours[0] == "a cup of coffee", ours[:3]
    genres = [n for n in names if n not in CLASSES]
    assert genres[0] == "food and drink", genres[:3]


def test_labels_are_part_of_the_cache_key(client: TestClient) -> None:
    data = sample_clip("carphone_distorted.mp4").read_bytes()

    def cache_of(labels: list[str]) -> str:
        resp = client.post("/v1/classify", files={"video": ("c.mp4", data)},
                           data={"labels": labels})
        assert resp.status_code == 200, resp.text
        return resp.headers["X-Cache"]

    assert cache_of(["a cat", "a dog"]) == "miss"
    assert cache_of(["a cat", "a dog"]) == "hit"
    assert cache_of(["a cat", "a horse"]) == "miss"
    assert cache_of([]) == "miss"


def test_nothing_confident_is_said_and_guesses_come_on_request(client: TestClient) -> None:
    data = sample_clip("carphone_distorted.mp4").read_bytes()
    body = _classify(client, data, "?min_confidence=0.99")
    assert body["video_labels"] == []
    assert body["video_labels_reason"] == "no label above min_confidence"
    assert body["guesses"] is None
    body = _classify(client, data, "?min_confidence=0.99&show_guesses=true&top_k=3")
    guesses = body["guesses"]
    assert isinstance(guesses, list) and len(guesses) == 3
    assert all(g["score"] < 0.99 for g in guesses)
    confident = _classify(client, data, "?min_confidence=0.01")
    assert confident["video_labels"] and confident["video_labels_reason"] is None


@pytest.mark.parametrize(("fields", "query", "status", "code", "says"), [
    ([("labels", "  ")], "", 422, "invalid_option", "empty"),
    ([("labels", f"class {i}") for i in range(65)], "", 422, "invalid_option", "64"),
    ([("labels", "x" * 201)], "", 422, "invalid_option", "200"),
    ([("labels", "[not json")], "", 422, "invalid_option", "JSON"),
    ([], "?label_set=nope", 404, "label_set_not_found", "genres, kinetics400"),
    ([], "?labels=", 422, "invalid_option", "empty"),
])
def test_bad_labels_get_their_code(client: TestClient, fields: list[tuple[str, str]],
                                   query: str, status: int, code: str, says: str) -> None:
    data = sample_clip("carphone_distorted.mp4").read_bytes()
    resp = client.post(f"/v1/classify{query}", files={"video": ("c.mp4", data)},
                       data=_form(fields))
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code
    assert says in error["message"]


def test_invalid_utf8_in_a_label_is_422(client: TestClient) -> None:
    data = sample_clip("carphone_distorted.mp4").read_bytes()
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"labels\"\r\n\r\n"
            ).encode() + b"caf\xc3(\xa9 bad\r\n" + (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"video\"; "
        f"filename=\"c.mp4\"\r\nContent-Type: video/mp4\r\n\r\n").encode() + data + (
        f"\r\n--{boundary}--\r\n").encode()
    resp = client.post("/v1/classify", content=body,
                       headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "invalid_option"
    assert "UTF-8" in resp.json()["error"]["message"]


def test_labels_as_repeated_query_parameters(client: TestClient, tmp_path: Path) -> None:
    data = sample_clip("carphone_pristine.mp4").read_bytes()
    body = _classify(client, data, "?labels=a%20cat&labels=a%20man%20in%20a%20suit")
    custom = body["custom_labels"]
    assert isinstance(custom, list)
    assert [c["label"] for c in custom][0] == "a man in a suit"


def test_models_lists_the_label_sets(client: TestClient) -> None:
    [model] = client.get("/v1/models").json()["models"]
    assert model["text_encoder"] is True
    assert model["label_sets"] == {"genres": 16, "kinetics400": 400}


def test_analyze_and_index_score_the_labels_like_classify(client: TestClient) -> None:
    # /v1/analyze (and classify?index=true, which computes the "index" task) once answered an
    # empty custom_labels: only the classify task embedded the caller's words.
    data = sample_clip("carphone_pristine.mp4").read_bytes()
    fields = [("labels", label) for label in CLASSES[:4]]
    classify = _classify(client, data, fields=fields)
    for url in ("/v1/analyze", "/v1/analyze?features=labels"):
        resp = client.post(url, files={"video": ("clip.mp4", data)}, data=_form(fields))
        assert resp.status_code == 200, resp.text
        analyzed = resp.json()
        assert analyzed["custom_labels"] == classify["custom_labels"]
        assert [s["custom_labels"] for s in analyzed["shot_labels"]] == \
            [s["custom_labels"] for s in classify["shot_labels"]]
    unknown = client.post("/v1/analyze?label_set=no-such-set",
                          files={"video": ("clip.mp4", data)})
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"]["code"] == "label_set_not_found"
