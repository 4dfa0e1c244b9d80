"""The deployment files, read against what they and the docs say (issue: the first hour)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
OUR_IMAGE = "videobert-serve"


def _load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def test_compose_builds_one_image_that_the_api_and_the_workers_run() -> None:
    services = _load_all(ROOT / "docker-compose.yml")[0]["services"]
    built = [name for name, svc in services.items() if "build" in svc]
    assert built == ["api"]
    assert services["api"]["image"] == services["worker"]["image"] == f"{OUR_IMAGE}:latest"
    assert services["worker"].get("pull_policy") == "never"
    # Dedicated workers: the API queues for them and says so when none is alive.
    assert services["api"]["environment"]["VIDEOBERT_RUN_JOBS_IN_API"] == "false"


def test_compose_runs_two_redis_as_the_jobs_doc_says() -> None:
    services = _load_all(ROOT / "docker-compose.yml")[0]["services"]
    redis = {name for name, svc in services.items() if str(svc.get("image", "")).startswith(
        "redis:")}
    assert redis == {"redis", "redis-jobs"}
    env = services["api"]["environment"]
    assert env["VIDEOBERT_REDIS_URL"] != env["VIDEOBERT_JOBS_REDIS_URL"]
    jobs_doc = (ROOT / "docs" / "jobs.md").read_text(encoding="utf-8")
    assert "`redis` for the cache" in jobs_doc and "redis-jobs" in jobs_doc


def test_kustomize_sets_the_name_of_every_image_of_ours() -> None:
    root = ROOT / "deploy" / "k8s"
    kustomization = _load_all(root / "kustomization.yaml")[0]
    named = {entry["name"] for entry in kustomization["images"]}
    ours: set[str] = set()
    for resource in kustomization["resources"]:
        for doc in _load_all(root / resource):
            spec = doc.get("spec", {}).get("template", {}).get("spec", {})
            for container in spec.get("containers", []):
                image = container["image"].split(":")[0]
                if not ("/" in image or image in ("redis",)):
                    ours.add(image)
    assert ours == {OUR_IMAGE} and ours <= named


def test_workers_index_into_the_apis_library() -> None:
    # A job with index=true adds its video where the API searches: one Qdrant for both.
    services = _load_all(ROOT / "docker-compose.yml")[0]["services"]
    assert services["worker"]["environment"]["VIDEOBERT_VECTOR_URL"] == \
        services["api"]["environment"]["VIDEOBERT_VECTOR_URL"]
