"""The `videobert` command: serve, analyze files locally, manage models, train."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib
import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.settings import Settings

if TYPE_CHECKING:
    from app.analysis import Task
    from app.model.manifest import Manifest


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.logs import configure_logging

    settings = Settings()
    host = args.host or settings.host
    port = args.port or settings.port
    configure_logging(settings.log_level, settings.log_format)
    from app.api.transport import bounded_head_protocol

    # By name (an app factory), so that the CLI sits below the app it serves.
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port,
                http=bounded_head_protocol(settings.max_head_bytes, settings.head_timeout_s),
                log_level=settings.log_level, log_config=None,
                # One line per request: the app's access line (with the request id and cache
                # status); uvicorn's own would repeat it.
                access_log=False,
                timeout_graceful_shutdown=int(settings.shutdown_grace_s),
                # A backstop only: the app answers past its own open-request limit with a JSON
                # 503 and Retry-After, and always answers its probes (OpenRequestLimit-
                # Middleware); uvicorn's plain-text 503 is for floods beyond twice that.
                limit_concurrency=2 * settings.open_request_limit + 16)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from app.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    if not (settings.jobs_redis_url or settings.redis_url):
        print("error: `videobert worker` shares a Redis queue with the API: set "
              "VIDEOBERT_REDIS_URL (without Redis the API process runs its own jobs)",
              file=sys.stderr)
        return 2
    if args.concurrency:
        settings = settings.model_copy(update={"worker_concurrency": args.concurrency})
    health = Path(args.health_file) if args.health_file else None
    return asyncio.run(_run_worker(settings, health))


async def _run_worker(settings: Settings, health_file: Path | None) -> int:
    import logging
    import signal

    from app.service import Services

    log = logging.getLogger("app.worker")
    services = await Services.start(settings, background_warmup=False, in_worker=True)
    if services.models.startup_error:
        await services.stop()
        print(f"error: {services.models.startup_error}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = services.jobs.start_runner()
    log.info("worker %s ready", runner.config.consumer)
    try:
        # The health file says "started" (readiness) and, by its age, "the loop still turns"
        # (liveness): Kubernetes probes read it without the worker serving HTTP.
        while not stop.is_set() and runner.is_running:
            if health_file is not None:
                health_file.touch()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=5.0)
    finally:
        log.info("worker %s stopping (%d job(s) in flight)", runner.config.consumer,
                 runner.in_flight)
        if health_file is not None:
            health_file.unlink(missing_ok=True)
        await services.stop()
    return 0


class _Progress:
    """Where the run is, on stderr: files done, and the stage of the file in hand (decoding,
    the model, the readout). A bar redrawn in place on a terminal; one plain line per step
    otherwise, so that a log shows it too."""

    STAGES = {"decoding": "decoding", "decoded": "running the model",
              "inferred": "reading out", "analyzed": "done"}

    def __init__(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.logged_quarter = 0

    def decoding(self, done: int, name: str, share: float) -> None:
        """How far the decode of the file in hand is (the model runs on its frames meanwhile):
        redrawn on a terminal at each chunk, logged at each quarter otherwise."""
        if self.tty:
            self.show(done, name, f"decoding {share:4.0%}")
            return
        quarter = int(share * 4)
        if quarter > self.logged_quarter:
            self.logged_quarter = quarter
            self.show(done, name, f"decoding {quarter * 25}%")

    def show(self, done: int, name: str, stage: str) -> None:
        elapsed = time.monotonic() - self.started
        what = self.STAGES.get(stage, stage)
        if not self.tty:
            sys.stderr.write(f"{done}/{self.total} {name}: {what} ({elapsed:.1f} s)\n")
            sys.stderr.flush()
            return
        width = 30
        filled = int(width * done / max(1, self.total))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
                         f"{elapsed:6.1f}s {name[:30]:<30} {what:<18}")
        if done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


async def _analyze_files(task: Task, files: list[Path], options: dict[str, Any],
                         contact_sheet_path: Path | None,
                         emit: Callable[[dict[str, Any]], None]) -> None:
    """The analysis use case over local files, through the cache that the settings name;
    ``emit`` gets each file's answer as soon as it is ready."""
    from app.analysis import RequestOptions, StoredVideo, keyframe_sheet
    from app.service import Services

    request_options = RequestOptions.parse(
        [(k, item) for k, v in options.items() for item in (v if isinstance(v, list) else
                                                             [str(v)])])
    if contact_sheet_path is not None:
        request_options = request_options.model_copy(
            update={"thumbnails": True, "thumbnail_px": 240})
    pipeline_options = request_options.to_pipeline()
    services = await Services.start(Settings(), background_warmup=False)
    if services.models.startup_error:
        await services.stop()
        raise SystemExit(f"error: {services.models.startup_error}")
    sheet_bodies = []
    progress = _Progress(len(files))
    try:
        for index, path in enumerate(files):
            progress.logged_quarter = 0
            progress.show(index, path.name, "decoding")

            async def on_stage(stage: str, index: int = index, name: str = path.name) -> None:
                progress.show(index + (stage == "analyzed"), name, stage)

            def on_decode(share: float, index: int = index, name: str = path.name) -> None:
                progress.decoding(index, name, share)

            video = StoredVideo(path=path, sha256=_file_sha256(path),
                                size_bytes=path.stat().st_size, is_temporary=False)
            analyzed = await services.analyzer.analyze(video, task, pipeline_options,
                                                       request_id=path.name, timeout_s=3600,
                                                       on_stage=on_stage,
                                                       on_progress=on_decode)
            body = {**analyzed.body, "file": str(path)}
            if analyzed.was_cached:
                progress.show(index + 1, path.name, "analyzed")
            if contact_sheet_path is not None and task == "summarize":
                sheet_bodies.append(body)
                body = {**body, "keyframes": [{**k, "thumbnail_jpeg_base64": None}
                                              for k in body["keyframes"]]}
            emit(body)
    finally:
        await services.stop()
    if sheet_bodies and contact_sheet_path is not None:
        contact_sheet_path.write_bytes(keyframe_sheet(sheet_bodies, _file_caption))


def _file_caption(body: Mapping[str, Any], keyframe: Mapping[str, Any]) -> str:
    return f"{Path(body['file']).name} {keyframe['time_s']:.1f}s"


def _file_sha256(path: Path) -> str:
    from app.errors import BadRequest

    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise BadRequest(f"Cannot read {path}: {exc.strerror or exc}.") from None


def _analyze(args: argparse.Namespace) -> int:
    from app.errors import VideoBertError

    options = {k: v for k, v in {
        "model": args.model, "fps": args.fps, "max_frames": args.max_frames,
        "mode": args.mode, "top_k": args.top_k, "include_frames": args.frames,
        "summary_ratio": args.summary_ratio, "num_keyframes": args.keyframes,
        "labels": getattr(args, "label", None), "label_set": getattr(args, "label_set", None),
    }.items() if v is not None and v is not False}
    sheet = getattr(args, "contact_sheet", None)

    def emit(body: dict[str, Any]) -> None:
        # JSON Lines: one object per file, whatever the number of files, as each is done.
        sys.stdout.write(json.dumps(body) + "\n")
        sys.stdout.flush()

    if args.url:
        return _remote_analyze(args, options, sheet, emit)
    try:
        asyncio.run(_analyze_files(args.command, [Path(f) for f in args.files], options,
                                   Path(sheet) if sheet else None, emit))
    except VideoBertError as exc:
        print(json.dumps(exc.to_dict()), file=sys.stderr)
        return 2
    return 0


def _remote_analyze(args: argparse.Namespace, options: dict[str, Any], sheet: str | None,
                    emit: Callable[[dict[str, Any]], None]) -> int:
    """The same command against a running service (``--url``), through the Python client:
    each file becomes a job, with the job's progress bar; no model is loaded here."""
    try:
        from videobert_client import Client
        from videobert_client import VideoBertError as RemoteError
    except ImportError:
        print("error: --url needs the Python client: pip install ./clients/python",
              file=sys.stderr)
        return 2
    if sheet and len(args.files) != 1:
        print("error: with --url, --contact-sheet takes one file", file=sys.stderr)
        return 2
    with Client(args.url, api_key=args.api_key) as client:
        try:
            for name in args.files:
                job = client.submit(name, task=args.command, **options)
                done = client.wait(job["id"], progress=True)
                result = done["result"]
                if done["status"] != "succeeded" or result is None:
                    print(json.dumps({"file": name, "error": done.get("error")}),
                          file=sys.stderr)
                    return 2
                emit({**result, "file": name})
                if sheet:
                    client.summarize(name, contact_sheet=sheet, **options)
        except RemoteError as exc:
            print(json.dumps({"error": {"code": exc.code, "message": exc.message}}),
                  file=sys.stderr)
            return 2
    return 0


def _models(args: argparse.Namespace) -> int:
    from app.model.pull import pull_model
    from app.model.store import list_models

    settings = Settings()
    if args.models_command == "list":
        rows = [_model_row(entry, settings) for entry in list_models(settings.model_store_dir)]
        if args.json:
            for row in rows:
                print(json.dumps(row))
            return 0
        header = ("NAME", "VERSION", "WEIGHTS", "DEFAULT")
        table = [header, *[(r["name"], r["version"], r["weights"],
                            "yes" if r["default"] else "") for r in rows]]
        widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
        for line in table:
            print("  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True))
                  .rstrip())
        missing = [r for r in rows if r["weights"] != "installed"]
        if missing:
            print(f"\n{len(missing)} model(s) without their weights here: `videobert models "
                  "pull NAME` fetches them (needs internet).")
        return 0
    return pull_model(settings.model_store_dir, args.name)


def _model_row(manifest: Manifest, settings: Settings) -> dict[str, Any]:
    """A model of the store: whether every weights file it names is here (not verified: that
    is the load's job, and hashing every file would make listing slow)."""
    from app.errors import ModelStoreError
    from app.model.files import resolve_weights

    folder = settings.model_store_dir / manifest.name / manifest.version
    refs = [r for r in (manifest.frame_encoder.weights, manifest.temporal.weights,
                        manifest.text_encoder.weights if manifest.text_encoder else None)
            if r is not None]
    try:
        installed = all(resolve_weights(ref, folder).is_file() for ref in refs)
    except ModelStoreError:
        installed = False
    return {"name": manifest.name, "version": manifest.version,
            "weights": "installed" if installed else "missing",
            "default": manifest.name == settings.default_model.partition(":")[0],
            "description": manifest.description}


# Commands that hand their arguments to a module under training/ (imported only when run:
# they pull in evaluation-only dependencies). Dispatched before argparse, so that their own
# options (``videobert evaluate --card X``) reach them untouched.
TRAINING_COMMANDS = {
    "train-temporal": ("training.train_temporal", "re-train the default model's Transformer"),
    "evaluate": ("training.evaluate", "regenerate docs/model-card.md"),
    "evaluate-labels": ("training.label_eval", "measure label quality into docs/model-card.md"),
    "embed-labels": ("training.embed_labels", "embed a model's class names and label sets "
                                              "(after editing a label set)"),
    "build-hierarchy": ("training.label_hierarchy", "write the WordNet categories above a "
                                                    "model's classes"),
}


def _run_training_command(command: str, rest: list[str]) -> int:
    module = importlib.import_module(TRAINING_COMMANDS[command][0])
    return int(module.main(rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videobert", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the HTTP service (settings from VIDEOBERT_*)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_serve)

    worker = sub.add_parser("worker", help="run queued jobs from Redis (settings from "
                                           "VIDEOBERT_*; start as many as you like)")
    worker.add_argument("--concurrency", type=int, help="jobs in flight (default: "
                        "VIDEOBERT_WORKER_CONCURRENCY)")
    worker.add_argument("--health-file", metavar="PATH",
                        help="touched every 5 s while the worker runs (for probes)")
    worker.set_defaults(func=_worker)

    for name in ("classify", "summarize"):
        p = sub.add_parser(name, help=f"{name} local files, here or on a server with --url "
                                      "(JSON to stdout)")
        p.add_argument("files", nargs="+")
        p.add_argument("--url", help="send the work to a running service (through the Python "
                                     "client, as jobs with a progress bar) instead of loading "
                                     "the model here")
        p.add_argument("--api-key", help="with --url: the service's API key")
        p.add_argument("--model")
        p.add_argument("--fps", type=float)
        p.add_argument("--max-frames", type=int)
        p.add_argument("--mode", choices=["exact", "fast"])
        p.add_argument("--top-k", type=int)
        p.add_argument("--frames", action="store_true", help="labels per sampled frame")
        p.add_argument("--summary-ratio", type=float)
        p.add_argument("--keyframes", type=int)
        if name == "classify":
            p.add_argument("--label", action="append", metavar="TEXT",
                           help="a class of your own (repeat for several)")
            p.add_argument("--label-set", help="a label set of the model (e.g. genres)")
        if name == "summarize":
            p.add_argument("--contact-sheet", metavar="OUT.jpg",
                           help="write the keyframes as one JPEG")
        p.set_defaults(func=_analyze)

    models = sub.add_parser("models", help="list or pull models")
    msub = models.add_subparsers(dest="models_command", required=True)
    listing = msub.add_parser("list", help="models in the store: name, version, whether "
                                          "their weights are here, the default")
    listing.add_argument("--json", action="store_true", help="one JSON object per model")
    pull = msub.add_parser("pull", help="download and verify a model's weights (needs internet)")
    pull.add_argument("name")
    models.set_defaults(func=_models)

    for command, (_, help_text) in TRAINING_COMMANDS.items():
        sub.add_parser(command, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in TRAINING_COMMANDS:
        return _run_training_command(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
