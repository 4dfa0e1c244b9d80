"""The isolated decode pool: results, domain errors, crashes, overruns, memory limits.

The worker-side hooks below are module-level so that spawned workers can import them by name.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from app.errors import ServiceUnavailable, UnsupportedMedia, VideoRejected
from app.inference.decode_pool import DecodePool
from app.video import SamplingSpec, VideoPolicy, decode
from tests.media import sample_clip

T = TypeVar("T")
HOOKS = {name: f"tests.unit.test_decode_pool:{name}"
         for name in ("hook_kill_self", "hook_sleep", "hook_allocate_mb", "hook_spin", "hook_pid")}


# -- run inside the workers --------------------------------------------------------------------
def hook_kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def hook_sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def hook_allocate_mb(mb: int) -> int:
    return int(np.ones(mb * 1024 * 1024, dtype=np.uint8).sum())


def hook_spin() -> None:
    while True:
        pass


def hook_pid() -> int:
    return os.getpid()


# -- helpers -----------------------------------------------------------------------------------
def with_pool(body: Callable[[DecodePool], Awaitable[T]], **kwargs: Any) -> tuple[T, DecodePool]:
    """Run ``body`` against a fresh pool (one worker unless told) in its own event loop."""
    options: dict[str, Any] = {"workers": 1, "memory_limit_mb": 1024, **kwargs}
    pool = DecodePool(**options, extra_functions=HOOKS)

    async def main() -> T:
        pool.start()
        try:
            return await body(pool)
        finally:
            await pool.close()

    return asyncio.run(main()), pool


BIKES = sample_clip("bikes.mp4")


def test_decode_matches_in_process_decode() -> None:
    async def body(pool: DecodePool) -> Any:
        return await pool.decode(BIKES, VideoPolicy(), SamplingSpec(), timeout_s=60)

    result, pool = with_pool(body)
    direct = decode(BIKES, VideoPolicy(), SamplingSpec())
    np.testing.assert_array_equal(result.times_s, direct.times_s)
    np.testing.assert_array_equal(result.frames, direct.frames)
    assert pool.restarts == 0


def test_domain_errors_cross_as_the_same_class_and_code(tmp_path: Path) -> None:
    playlist = tmp_path / "x.mp4"
    playlist.write_bytes(b"#EXTM3U\n")

    async def body(pool: DecodePool) -> list[BaseException]:
        errors: list[BaseException] = []
        for policy in (VideoPolicy(), VideoPolicy(max_duration_s=1.0)):
            path = playlist if not errors else BIKES
            try:
                await pool.decode(path, policy, SamplingSpec(), timeout_s=60)
            except Exception as exc:  # noqa: BLE001 - inspected below
                errors.append(exc)
        return errors

    errors, pool = with_pool(body)
    assert isinstance(errors[0], UnsupportedMedia)
    assert errors[0].code == "unsupported_container"
    assert isinstance(errors[1], VideoRejected)
    assert errors[1].code == "video_too_long"
    assert pool.restarts == 0


def test_killed_worker_gives_decode_failed_and_is_replaced() -> None:
    reasons: list[str] = []

    async def body(pool: DecodePool) -> tuple[int, int, int]:
        first = await pool.run("hook_pid", timeout_s=60)
        with pytest.raises(VideoRejected) as info:
            await pool.run("hook_kill_self", timeout_s=60)
        assert info.value.code == "decode_failed"
        second = await pool.run("hook_pid", timeout_s=60)
        frames = await pool.decode(BIKES, VideoPolicy(), SamplingSpec(num_frames=2), timeout_s=60)
        return first, second, len(frames.frames)

    (first, second, n), pool = with_pool(body, on_restart=reasons.append)
    assert first != second and n == 2
    assert pool.restarts == 1
    assert len(reasons) == 1 and reasons[0].startswith("crash")


def test_overrun_is_killed_and_others_keep_working() -> None:
    async def body(pool: DecodePool) -> tuple[BaseException | str, Any]:
        stuck = pool.run("hook_sleep", 60.0, timeout_s=1.0)
        normal = pool.decode(BIKES, VideoPolicy(), SamplingSpec(num_frames=4), timeout_s=60)
        outcome = await asyncio.gather(stuck, normal, return_exceptions=True)
        after = await pool.run("hook_sleep", 0.0, timeout_s=60)
        assert after == "slept"
        return outcome[0], outcome[1]

    (stuck, normal), pool = with_pool(body, workers=2)
    assert isinstance(stuck, VideoRejected) and stuck.code == "decode_timeout"
    assert normal.frames.shape == (4, 224, 224, 3)
    assert pool.restarts == 1


def test_memory_error_under_rlimit_is_a_clean_rejection() -> None:
    async def body(pool: DecodePool) -> tuple[int, int, int]:
        before = await pool.run("hook_pid", timeout_s=60)
        with pytest.raises(VideoRejected) as info:
            await pool.run("hook_allocate_mb", 2048, timeout_s=60)
        assert info.value.code == "video_too_large"
        small = await pool.run("hook_allocate_mb", 8, timeout_s=60)
        after = await pool.run("hook_pid", timeout_s=60)
        return before, after, small

    (before, after, small), pool = with_pool(body, memory_limit_mb=768)
    assert before == after  # the worker survived its MemoryError
    assert small == 8 * 1024 * 1024
    assert pool.restarts == 0


def test_cpu_limit_ends_a_spinning_worker() -> None:
    async def body(pool: DecodePool) -> str:
        with pytest.raises(VideoRejected) as info:
            await pool.run("hook_spin", timeout_s=60)
        assert info.value.code == "decode_timeout"
        result: str = await pool.run("hook_sleep", 0.0, timeout_s=60)
        return result

    result, pool = with_pool(body, cpu_limit_s=1)
    assert result == "slept" and pool.restarts == 1


def test_closed_pool_refuses_calls() -> None:
    async def main() -> None:
        pool = DecodePool(workers=1, memory_limit_mb=1024)
        pool.start()
        await pool.close()
        with pytest.raises(ServiceUnavailable):
            await pool.decode(BIKES, VideoPolicy(), SamplingSpec(), timeout_s=5)

    asyncio.run(main())


def test_unknown_function_is_refused() -> None:
    async def main() -> None:
        pool = DecodePool(workers=1, memory_limit_mb=1024)
        with pytest.raises(ValueError):
            await pool.run("os.system", "true", timeout_s=1)

    asyncio.run(main())


async def test_waiting_for_a_free_worker_counts_against_the_deadline(tmp_path: Path) -> None:
    from app.errors import DeadlineExceeded

    pool = DecodePool(workers=1, memory_limit_mb=2048,
                      extra_functions={"sleep": "time:sleep"})
    pool.start()
    try:
        busy = asyncio.create_task(pool.run("sleep", 1.0, timeout_s=10))
        await asyncio.sleep(0.2)
        with pytest.raises(DeadlineExceeded):
            await pool.run("sleep", 0.0, timeout_s=10, wait_s=0.1)
        await busy
    finally:
        await pool.close()


def test_memory_budget_counts_from_what_the_worker_already_maps() -> None:
    from app.inference import decode_pool

    mapped = decode_pool._mapped_bytes()
    assert mapped > 10 * 2**20  # this test process maps at least the interpreter and numpy


def test_pool_works_under_a_main_module_that_imports_torch(tmp_path: Path) -> None:
    """Spawned workers re-import __main__; torch there maps gigabytes before the limit."""
    import subprocess
    import sys

    script = tmp_path / "embedding.py"
    script.write_text(
        "import asyncio, sys\n"
        "import torch  # noqa: F401  (what a script embedding the service imports)\n"
        "from app.inference.decode_pool import DecodePool\n"
        "from app.video import SamplingSpec, VideoPolicy\n"
        "async def main():\n"
        "    pool = DecodePool(workers=1, memory_limit_mb=512)\n"
        "    pool.start()\n"
        "    try:\n"
        "        out = await pool.decode(sys.argv[1], VideoPolicy(), SamplingSpec(),\n"
        "                                timeout_s=60)\n"
        "        print(out.frames.shape[0])\n"
        "    finally:\n"
        "        await pool.close()\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, str(script), str(sample_clip("bikes.mp4"))],
                            capture_output=True, text=True, timeout=120, cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "20"


def test_streamed_decode_hands_over_every_chunk_before_it_returns() -> None:
    chunks: list[tuple[np.ndarray, np.ndarray]] = []
    seen_at_return: list[int] = []

    async def body(pool: DecodePool) -> Any:
        result = await pool.decode(BIKES, VideoPolicy(), SamplingSpec(), timeout_s=60,
                                   on_chunk=lambda t, f, _share: chunks.append((t, f)),
                                   chunk_frames=6)
        seen_at_return.append(len(chunks))
        return result

    result, pool = with_pool(body)
    direct = decode(BIKES, VideoPolicy(), SamplingSpec())
    assert result.frames.shape[0] == 0
    assert seen_at_return == [len(chunks)] and len(chunks) == -(-len(direct.times_s) // 6)
    np.testing.assert_array_equal(np.concatenate([t for t, _ in chunks]), direct.times_s)
    np.testing.assert_array_equal(np.concatenate([f for _, f in chunks]), direct.frames)
    np.testing.assert_array_equal(result.times_s, direct.times_s)
    assert pool.restarts == 0
