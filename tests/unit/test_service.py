"""How the service sizes itself from settings."""

from __future__ import annotations

import os

import pytest

from app.service import instances_for, resolve_precision


def test_cpu_gets_enough_model_workers_for_every_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert instances_for("cpu", 0, torch_threads=1) == 8
    assert instances_for("cpu", 0, torch_threads=2) == 4
    assert instances_for("cpu", 0, torch_threads=16) == 1
    assert instances_for("cuda:0", 0, torch_threads=2) == 1
    assert instances_for("cpu", 3, torch_threads=1) == 3


def test_explicit_precision_is_kept() -> None:
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
