"""How the service sizes itself from settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from app.inference import host
from app.inference.host import instances_for, resolve_precision


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


def test_auto_precision_is_bf16_only_where_the_hardware_runs_it_fast(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "cpu_has_fast_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(host, "cpu_has_fast_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", "cuda:0") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", "cuda:0") == "fp16"


def test_fast_bf16_is_read_from_the_cpu_flags(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    real_open = open

    def fake_open(path: str, *args: object, **kwargs: object) -> object:
        return real_open(cpuinfo if path == "/proc/cpuinfo" else path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 avx512f\n")
    assert host.cpu_has_fast_bf16() is False
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile\n")
    assert host.cpu_has_fast_bf16() is True
