"""The server of ``serve``: its options, the checks before it starts, the LitServer, and an orderly stop.

``GET /`` replaces LitServe's own ``litserve running`` text with the page: a plain FastAPI route on
LitServe's app, since LitServe has no notion of static pages.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import logging
import multiprocessing
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import litserve
import torch

from mnist_rnn.checkpoint import exported_model
from mnist_rnn.errors import UserError, first_line, pasted, shown_name, tell
from mnist_rnn.inference import (
    ProbabilityModel,
    checkpoint_hparams,
    class_names_of,
    compare,
    generated_images,
    load_network,
    note_if_uncalibrated,
    onnx_bytes,
)
from mnist_rnn.network import RNNNetwork
from mnist_rnn.serve.http import (
    API_PATH,
    MAX_BYTES,
    AllowedOrigins,
    ClosesSilentConnections,
    ImageUploads,
    ToldOnce,
    http_error,
)
from mnist_rnn.serve.worker import DigitAPI, OnnxBackend, end_when_serve_ends
from mnist_rnn.tools import ToolParser, program_name
from mnist_rnn.user_images import preparation_for, small_size, subject_of

PAGE = Path(__file__).parents[1] / "web" / "index.html"
ONNX_CHECK_IMAGES = 32  # generated images an --onnx file must answer as the checkpoint does
# What serve reads from an --onnx file's metadata (mnist_rnn.export.file_metadata) when no --ckpt_path is given:
# the page's description, classes and data set, and the size of the prepared images. Strings as ONNX holds
# them; the others JSON, each of the type it must have.
ONNX_METADATA = {
    "dataset": str,
    "class_names": list,
    "image_size": int,
    "num_classes": int,
    "cell": str,
    "sequence": str,
    "bidirectional": bool,
    "hidden_size": int,
    "num_layers": int,
    "temperature": float,
}

ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+")  # a web page's origin: scheme://host[:port]
DEFAULT_PORTS = {"http": ":80", "https": ":443"}  # left out of an origin by browsers (RFC 6454, 6.1)

# The best of the variants measured with benchmarks/serve_load.py on the 2-core CPU (docs/serve.md, "Tuning").
DEFAULTS = {"workers": 1, "threads": 1, "api_servers": 2, "max_batch_size": 8, "batch_timeout": 0.002}


def describe(hparams: dict[str, Any]) -> str:
    """One line about the model for the page: e.g. "A 2-layer LSTM with 128 units reads the image row by row"."""
    size = hparams["image_size"]
    reads = {
        "rows": f"reads the image row by row ({size} steps of {size} pixels)",
        "pixels": f"reads the image pixel by pixel ({size * size} steps)",
        "permuted": f"reads the pixels in a fixed shuffled order ({size * size} steps)",
    }[hparams["sequence"]]
    both = "bidirectional " if hparams["bidirectional"] else ""
    cell = str(hparams["cell"]).upper()
    return f"A {hparams['num_layers']}-layer {both}{cell} with {hparams['hidden_size']} units {reads}."


def checkpoint_model(ckpt_path: str | Path) -> dict[str, Any]:
    """What the server and the page need to know of the model, from the checkpoint: its hyperparameters, the
    names of its classes, and its file's name."""
    hparams = checkpoint_hparams(ckpt_path)
    return {**hparams, "class_names": class_names_of(hparams), "checkpoint": Path(ckpt_path).name}


def onnx_model(onnx_path: str | Path) -> dict[str, Any]:
    """What :func:`checkpoint_model` gives, read from the metadata ``export`` wrote into an ONNX file (see
    :func:`mnist_rnn.export.file_metadata`), for a user who deploys the file alone; ``checkpoint`` is the name of
    the checkpoint it was exported from.

    Raises:
        UserError: not an ONNX model, or one without export's metadata (written by another tool, or stripped):
            without the checkpoint nothing else says which data set, classes and preparation it takes.
    """
    import json

    from google.protobuf.message import DecodeError

    from mnist_rnn.export import read_metadata

    try:
        found = read_metadata(Path(onnx_path).read_bytes(), "onnx")
    except (OSError, DecodeError) as error:
        raise UserError(f"--onnx {shown_name(onnx_path)}: not an ONNX model ({first_line(error)})") from error
    model: dict[str, Any] = {"checkpoint": found.get("checkpoint", "")}
    unreadable = []
    for key, kind in ONNX_METADATA.items():
        value: Any = found.get(key)
        if value is not None and kind is not str:
            try:
                value = json.loads(value)
            except ValueError:
                value = None
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:  # bool is an int, but an int is no bool
            unreadable.append(key)
        model[key] = value
    names = model["class_names"]
    if "class_names" not in unreadable and (
        len(names) != model["num_classes"] or not all(isinstance(name, str) for name in names)
    ):
        unreadable.append("class_names")
    if model["sequence"] not in ("rows", "pixels", "permuted") and "sequence" not in unreadable:
        unreadable.append("sequence")
    if unreadable:
        what = "no metadata" if not found else f"not export's metadata (no readable {', '.join(unreadable)})"
        raise UserError(
            f"--onnx {shown_name(onnx_path)}: {what}, and without a checkpoint serve needs export's to know the "
            f"model's data set, classes and input; pass --ckpt_path, the checkpoint it was exported from, or export "
            "that again"
        )
    return model


class DigitServer(litserve.LitServer):
    """LitServe's server, which starts a new inference worker when one dies (killed for memory, a crash in a
    native library), and says so in one line, rather than shutting down: LitServe's default left the requests
    unanswered for 30 s and ended ``serve`` with a traceback. Not while the server stops (``stopping``, set by
    :class:`Stop`): Ctrl+C ends the workers too, and one started then would outlive it."""

    stopping = False
    ready_line: str | None = None  # printed once the HTTP processes are listening

    def _start_server(
        self, port: int, num_servers: int, log_level: str, sockets: list[socket.socket], *args: Any, **kwargs: Any
    ) -> dict[int, Any]:
        """Start the HTTP processes, then say where the server is once its socket listens (an HTTP process calls
        ``listen`` on the socket LitServe bound, which this process shares): printed before ``run``, the line
        came seconds before the port took connections (LitServe loads the model first), and a newcomer who
        opened it at once got "connection refused"."""
        workers = super()._start_server(port, num_servers, log_level, sockets, *args, **kwargs)
        if self.ready_line:  # from a thread: a stop meanwhile reaches LitServe's own wait, which shuts down in order
            threading.Thread(target=self._say_when_listening, args=(sockets or [],), daemon=True).start()
        return workers

    def _say_when_listening(self, sockets: list[socket.socket]) -> None:
        deadline = time.monotonic() + 60  # an HTTP process that fails to start: its own error says why
        while time.monotonic() < deadline and not all(_listening(sock) for sock in sockets):
            time.sleep(0.05)
        if not self.stopping:
            print(self.ready_line, file=sys.stderr, flush=True)

    def launch_single_inference_worker(self, lit_api: litserve.LitAPI, worker_id: int) -> Any:
        """Called by LitServe's monitor (every 2 s) for each dead worker, which it then replaces."""
        dead = self.inference_workers[worker_id]  # one API: its workers are the list, in order
        if self.stopping:
            return dead
        code = dead.exitcode or 0
        if code == -signal.SIGKILL:
            how = "was killed (SIGKILL: out of memory?)"
        else:
            how = f"ended by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        print(
            f"mnist-rnn: warning: the inference worker {how}; starting a new one (requests wait until it has "
            f"loaded the model)",
            file=sys.stderr,
            flush=True,
        )
        return super().launch_single_inference_worker(lit_api, worker_id)

    def _perform_graceful_shutdown(
        self, manager: Any, uvicorn_workers: dict[str, Any], *args: Any, **kwargs: Any
    ) -> None:
        """LitServe's shutdown, which ends the HTTP processes (once they have answered the requests they hold),
        then the inference workers, then the queues' manager. The workers let SIGTERM pass while serve runs (a
        SIGTERM sent to the whole group reached them at once, and the requests in flight got a 500): SIGKILL ends
        them here instead, as they keep nothing to save."""
        for worker in self.inference_workers:
            worker.terminate = worker.kill
        # LitServe's monitor thread asks the queues' manager every 2 s whether to stop, by an event LitServe does
        # not set on Ctrl+C, and this shutdown ends the manager last: a look after that, before this process had
        # exited, logged "Monitoring worker crashed" and a traceback (BrokenPipeError). Its next look reads an
        # event of this process, set, and it ends (nor does it start a worker in place of one ended here).
        self.stopping = True
        stopped = threading.Event()
        stopped.set()
        self._shutdown_event = stopped
        super()._perform_graceful_shutdown(manager, uvicorn_workers, *args, **kwargs)


def build_server(
    ckpt_path: str | Path | None,
    backend: str = "torch",
    onnx_path: str | Path | None = None,
    workers: int = DEFAULTS["workers"],
    threads: int = DEFAULTS["threads"],
    max_batch_size: int = DEFAULTS["max_batch_size"],
    batch_timeout: float = DEFAULTS["batch_timeout"],
    allow_origins: list[str] | None = None,
    model: dict[str, Any] | None = None,
) -> DigitServer:
    """The LitServer for a checkpoint: :class:`DigitAPI` behind :class:`ImageUploads`, plus the page.

    ``ckpt_path`` None: the ``onnx`` backend's ``onnx_path`` alone, the model described by its metadata
    (:func:`onnx_model`).
    ``allow_origins``: the web pages (``http://localhost:3000``, or ``*``) whose scripts may call the API from
    a browser (CORS); none by default, as a browser then refuses other sites' scripts the answers.
    ``model``: what :func:`checkpoint_model` or :func:`onnx_model` gives, where the caller has it (``main`` reads an
    ``--onnx`` file's metadata to check the file before this), rather than read again."""
    from fastapi.responses import HTMLResponse
    from starlette.exceptions import HTTPException

    if ckpt_path is None and (backend != "onnx" or onnx_path is None):
        raise ValueError("without ckpt_path, build_server serves the onnx backend's onnx_path")
    if model is None:
        model = checkpoint_model(ckpt_path) if ckpt_path is not None else onnx_model(onnx_path)
    class_names = model["class_names"]
    api = DigitAPI(
        ckpt_path,
        class_names,
        image_size=model["image_size"],
        backend=backend,
        onnx_path=onnx_path,
        threads=threads,
        max_batch_size=max_batch_size,
        batch_timeout=batch_timeout,
    )
    dataset = model.get("dataset") or "mnist"
    metadata = {
        "checkpoint": model["checkpoint"],
        "backend": backend,
        "description": describe(model),
        "class_names": class_names,
        "max_upload_bytes": MAX_BYTES,  # the page refuses a larger file before sending it
        "small_size": small_size(dataset),  # under it, an answer is flagged small
        **{key: model.get(key) for key in ("dataset", "cell", "sequence", "bidirectional", "hidden_size")},
    }
    uploads = {
        "api_path": API_PATH,
        "preparation": preparation_for(dataset),
        "subject": subject_of(dataset),
        "allow_origins": allow_origins,
        "origins_told": ToldOnce(),  # made before LitServe forks its HTTP processes: shared by them
    }
    middlewares: list[tuple[Any, dict[str, Any]]] = [(ImageUploads, uploads)]
    if allow_origins:  # Starlette runs the last one added first: CORS answers a preflight, and marks errors too
        cors = {"allow_origins": allow_origins, "allow_methods": ["GET", "POST"], "allow_headers": ["*"]}
        # A front-end whose calls carry credentials (fetch's credentials: "include", axios' withCredentials, often
        # set once for all of an app's calls) had every answer kept from it by the browser, which wants
        # Access-Control-Allow-Credentials, and serve saw nothing amiss. Allowed for the origins listed: serve has
        # no cookies or logins for them to carry. Never with *: any site's page could then call it with the user's
        # cookies (docs/serve.md, --allow_origin).
        cors["allow_credentials"] = "*" not in allow_origins
        # Chrome's preflight of a call from a site's page to a server on this machine or network (Private Network
        # Access) asks for it too: refused, an allowed origin's got "Disallowed CORS private-network" (400). The
        # option is Starlette's from 0.51 on (the project takes 0.44): an older one answers such preflights so still.
        if "allow_private_network" in inspect.signature(AllowedOrigins).parameters:
            cors["allow_private_network"] = True
        middlewares.append((AllowedOrigins, cors))
    server = DigitServer(
        api,
        accelerator="cpu",
        workers_per_device=workers,
        model_metadata=metadata,
        middlewares=middlewares,
        fast_queue=True,
        restart_workers=True,  # a dead inference worker is replaced (DigitServer)
        # No /openapi.json, so no FastAPI /docs page: generated from the endpoint behind the middleware, it
        # described POST /predict as taking no body, and loaded its scripts from a CDN. docs/serve.md is the API.
        disable_openapi_url=True,
    )
    app = server.app
    app.router.routes[:] = [route for route in app.router.routes if getattr(route, "path", None) != "/"]
    page = PAGE.read_text(encoding="utf-8")

    # HEAD too: uptime monitors and `curl -I` ask with it, and got a 405 from a GET-only route.
    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    app.add_exception_handler(HTTPException, http_error)
    return server


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = ToolParser(
        "serve",
        "Serve a checkpoint, or the ONNX file export wrote from one, over HTTP: POST /predict takes an image and "
        "answers JSON; / is a page to draw on.",
        ckpt_path_unless="--onnx, whose file says what serve needs",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        choices=["127.0.0.1", "0.0.0.0", "::"],
        # Its default said at the end, as every option's is: "this machine only (default)" stood beside a choice.
        help="where to listen: 127.0.0.1, this machine only; 0.0.0.0 or ::, every network interface, without "
        "authentication (%(default)s)",
    )
    parser.add_argument("--port", type=int, default=8000, help="the TCP port to listen on, 1024-65535 (%(default)s)")
    parser.add_argument(
        "--allow_origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let the scripts of web pages from ORIGIN (http://localhost:3000, or *) call the API from a browser "
        "(CORS); repeat it for several",
    )
    parser.add_argument(
        "--backend",
        choices=["torch", "onnx"],
        help="what runs the network: torch, or onnxruntime on the exported model, which gives the same answers "
        "(torch; onnx with --onnx)",
    )
    parser.add_argument(
        "--onnx",
        help="the ONNX file that `export` wrote, run by onnxruntime (implies --backend onnx): alone, its metadata "
        "describes the model; beside --ckpt_path, it must answer as that checkpoint (without --onnx, --backend "
        "onnx exports the checkpoint to a temporary file at start)",
    )
    parser.add_argument(
        "--workers", type=int, default=DEFAULTS["workers"], help="inference worker processes (%(default)s)"
    )
    parser.add_argument(
        "--threads", type=int, default=DEFAULTS["threads"], help="threads per worker for the model (%(default)s)"
    )
    parser.add_argument(
        "--api_servers",
        type=int,
        default=DEFAULTS["api_servers"],
        help="HTTP processes, which read and prepare the uploads (%(default)s)",
    )
    parser.add_argument(
        "--max_batch_size", type=int, default=DEFAULTS["max_batch_size"], help="requests run together (%(default)s)"
    )
    parser.add_argument(
        "--batch_timeout",
        type=float,
        default=DEFAULTS["batch_timeout"],
        help="seconds to wait to fill a batch (%(default)s)",
    )
    parser.add_argument(
        "--log_level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="how much LitServe and its HTTP server log (%(default)s)",
    )
    args = parser.parse_args(argv)
    if not 1024 <= args.port <= 65535:
        parser.error(f"--port {args.port}: choose a port from 1024 to 65535")
    for name in ("workers", "threads", "api_servers", "max_batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.batch_timeout < 0:
        parser.error("--batch_timeout must not be negative")
    # A browser's Origin header is scheme://host[:port] in lower case, nothing after it, and no port where it is
    # the scheme's own (:80 of http, :443 of https): an --allow_origin copied from the address bar
    # (http://localhost:3000/), typed without its scheme, or with its default port (https://host:443) matched no
    # page, and the browser blocked every call, as if the option were not there.
    for at, origin in enumerate(args.allow_origin):
        if origin not in ("*", "null") and not ORIGIN.fullmatch(origin.rstrip("/")):
            parser.error(
                f"--allow_origin {origin}: not an origin, which is scheme://host[:port] as the browser's address bar "
                f"shows it, without a path (http://localhost:3000), or *"
            )
        origin = origin.rstrip("/").lower()
        default = DEFAULT_PORTS.get(origin.partition("://")[0])
        args.allow_origin[at] = origin.removesuffix(default) if default else origin
    # --onnx FILE names the model to run: it means --backend onnx, refused only beside a --backend torch typed.
    if args.onnx is not None and args.backend == "torch":
        parser.error("--onnx runs an ONNX file, --backend torch the checkpoint in PyTorch: give one of them")
    if args.ckpt_path is None and args.onnx is None:
        parser.error("pass --ckpt_path CKPT, a checkpoint, or --onnx FILE, an ONNX file written by export")
    args.backend = args.backend or ("onnx" if args.onnx is not None else "torch")
    if args.onnx is not None and not Path(args.onnx).is_file():
        raise UserError(f"--onnx {shown_name(args.onnx)}: no such file")
    # export's other file: onnxruntime's own words for it were "INVALID_PROTOBUF ... Protobuf parsing failed."
    if args.onnx is not None and exported_model(Path(args.onnx)) == "a torch.export program":
        if args.ckpt_path is None:
            raise UserError(
                f"--onnx {shown_name(args.onnx)}: a torch.export program (.pt2), not an ONNX model: serve runs the "
                ".onnx of export --format onnx, or a checkpoint (--ckpt_path)"
            )
        raise UserError(
            f"--onnx {shown_name(args.onnx)}: a torch.export program (.pt2), not an ONNX model: leave --onnx out to "
            "run --ckpt_path in PyTorch, or give the .onnx of export --format onnx"
        )
    return args


def check_port(host: str, port: int) -> None:
    """Refuse a port that another program holds, before anything says it is serving."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a closing port is free
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UserError(
                f"--port {port}: cannot listen on {host}:{port} ({first_line(error)}); choose another --port"
            ) from error


def run_onnx_file(onnx_path: str | Path, images: torch.Tensor, of: str = "") -> tuple[Any, Any]:
    """The outputs of an ``--onnx`` file on ``images``, as the inference worker will run it; a file that
    onnxruntime cannot run is one line here (``of``: what it should have been a model of, for the message),
    not a worker that fails to start."""
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    runtime_errors = (OSError, ort_errors.Fail, ort_errors.InvalidArgument, ort_errors.InvalidGraph,
                      ort_errors.InvalidProtobuf, ort_errors.NoSuchFile, ort_errors.NotImplemented,
                      ort_errors.RuntimeException)  # fmt: skip
    try:
        return OnnxBackend(onnx_path, threads=1)(images.numpy())
    except runtime_errors as error:
        raise UserError(f"--onnx {shown_name(onnx_path)}: not an ONNX model{of} ({first_line(error)})") from error


def check_onnx_alone(onnx_path: str | Path, model: dict[str, Any]) -> None:
    """Refuse an ``--onnx`` file served without its checkpoint (described by :func:`onnx_model`) that onnxruntime
    cannot run, or whose answers are not of the classes its metadata names."""
    images = generated_images(ONNX_CHECK_IMAGES, model["image_size"])
    probabilities = run_onnx_file(onnx_path, images)[0]
    if probabilities.shape != (ONNX_CHECK_IMAGES, model["num_classes"]):
        raise UserError(
            f"--onnx {shown_name(onnx_path)}: answers probabilities of shape {tuple(probabilities.shape)} for "
            f"{ONNX_CHECK_IMAGES} images, not of the {model['num_classes']} classes its metadata names; pass "
            f"--ckpt_path, the checkpoint it was exported from"
        )


def check_onnx_file(onnx_path: str | Path, ckpt_path: str | Path, network: RNNNetwork) -> None:
    """Refuse an ``--onnx`` file that onnxruntime cannot run, or that answers otherwise than the checkpoint:
    the page would show another model's answers under this checkpoint's description."""
    images = generated_images(ONNX_CHECK_IMAGES, network.image_size)
    outputs = run_onnx_file(onnx_path, images, " of --ckpt_path")
    try:
        parity = compare(
            ProbabilityModel(network),
            [torch.from_numpy(output) for output in outputs if output is not None],
            images,
            "generated images",
        )
    except ValueError as error:
        raise UserError(f"--onnx {shown_name(onnx_path)}: not an ONNX model of --ckpt_path ({error})") from error
    if not parity.passed:
        raise UserError(
            f"--onnx {shown_name(onnx_path)}: answers otherwise than --ckpt_path {shown_name(ckpt_path)} ({parity}): "
            f"exported from another checkpoint? Export this one with: {program_name()} export --ckpt_path "
            f"{pasted(ckpt_path)} --format onnx"
        )


def note_if_exported_uncalibrated(onnx_path: str | Path, model: dict[str, Any]) -> None:
    """For an ``--onnx`` file served alone, the note :func:`mnist_rnn.inference.note_if_uncalibrated` gives for a
    checkpoint never calibrated: its metadata's temperature is 1 (a fitted one is practically never exactly 1)."""
    if model["temperature"] == 1.0:
        tell(
            f"note: {shown_name(onnx_path)} was exported from a checkpoint that was not calibrated (temperature 1), so "
            f"its probabilities are not how often it is right; `{program_name()} calibrate` the checkpoint, then "
            f"export it again"
        )


def urls(host: str, port: int) -> list[str]:
    """Addresses a browser can open: loopback, and this machine's name when every interface listens."""
    if host == "127.0.0.1":
        return [f"http://127.0.0.1:{port}/"]
    loopback = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
    return [f"http://{loopback}:{port}/", f"http://{socket.gethostname()}:{port}/"]


def main(argv: list[str]) -> None:
    """``python -m mnist_rnn serve ...``: check the options and the checkpoint, then serve until Ctrl+C or SIGTERM.

    A stop while serving is LitServe's orderly shutdown (exit 0); one while starting ends with one line and
    exit status 130 (Ctrl+C) or 143 (SIGTERM), leaving no process behind (see :class:`Stop`).
    """
    from mnist_rnn.checkpoint import check_checkpoint

    folder = Path(tempfile.mkdtemp(prefix="mnist-rnn-serve-"))  # for the ONNX file of --backend onnx
    stop = Stop(folder)
    try:
        args = parse_args(argv)
        if args.backend == "onnx":
            # Only the inference worker runs it, in a process of its own: missing, it ended serve in two
            # tracebacks there, after the export. Here its ModuleNotFoundError names the extra to install.
            import onnxruntime  # noqa: F401
        onnx_path = args.onnx
        if args.ckpt_path is None:  # the --onnx file alone: its metadata describes the model
            model = onnx_model(onnx_path)
            check_port(args.host, args.port)
            check_onnx_alone(onnx_path, model)
        else:
            check_checkpoint(args.ckpt_path)
            check_port(args.host, args.port)
            network = load_network(args.ckpt_path)  # refuses, in one line, a checkpoint of another model
            if args.backend == "onnx" and onnx_path is None:
                onnx_path = folder / "model.onnx"
                # torch's exporter takes a while (longest for 784-step pixel models), with nothing said meanwhile
                exported = Path(args.ckpt_path).with_suffix(".onnx")  # where export writes it by default
                tell(
                    f"exporting the checkpoint to ONNX for --backend onnx (`{program_name()} export --ckpt_path "
                    f"{pasted(args.ckpt_path)} --format onnx` once, then --onnx {pasted(exported)}, starts at once)"
                )
                onnx_path.write_bytes(onnx_bytes(ProbabilityModel(network)))
            elif onnx_path is not None:
                check_onnx_file(onnx_path, args.ckpt_path, network)
        server = build_server(
            args.ckpt_path,
            args.backend,
            onnx_path,
            workers=args.workers,
            threads=args.threads,
            max_batch_size=args.max_batch_size,
            batch_timeout=args.batch_timeout,
            allow_origins=args.allow_origin,
            model=model if args.ckpt_path is None else None,  # the --onnx file's metadata, read once
        )
        if args.host != "127.0.0.1":
            print(
                f"mnist-rnn: warning: --host {args.host} listens on every network interface, without "
                f"authentication: anyone who can reach this machine can use the server",
                file=sys.stderr,
            )
        if args.ckpt_path is None:
            note_if_exported_uncalibrated(onnx_path, model)
        else:
            note_if_uncalibrated(args.ckpt_path)
        # shown_name: a line break in the file's name split the line that says where the server is in two
        served = shown_name(args.ckpt_path if args.ckpt_path is not None else onnx_path)
        server.ready_line = f"mnist-rnn: serving {served} at {' or '.join(urls(args.host, args.port))}"
        print(
            "mnist-rnn: starting the server (its inference worker loads the model first)", file=sys.stderr, flush=True
        )
        _open_files_up_to_the_hard_limit()
        # The HTTP processes (forked from this one) prepare single images: small arrays, for which a second
        # torch thread costs more than it gives (canvas uploads: 20% less CPU with one on the 2-core CPU).
        torch.set_num_threads(1)
        logging.getLogger("litserve.server").addFilter(_expected_at_ctrl_c)
        stop.server = server
        server.run(
            host=args.host,
            port=args.port,
            num_api_servers=args.api_servers,
            generate_client_file=False,
            log_level=args.log_level,
            http=ClosesSilentConnections,  # uvicorn's own, with the timeouts it lacks (silent, slow head, stop)
        )
        if stop.signal_name:  # uvicorn's own "Shutting down" is below the log level: say that it is over
            print(f"mnist-rnn: serve stopped by {stop.signal_name}", file=sys.stderr, flush=True)
    finally:
        stop.uninstall()
        shutil.rmtree(folder, ignore_errors=True)


def _listening(sock: socket.socket) -> bool:
    """Whether ``listen`` was called on the socket (by any process that shares it)."""
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError:  # closed, or a platform without SO_ACCEPTCONN
        return True


def _open_files_up_to_the_hard_limit() -> None:
    """Each connection is an open file: with the soft limit of 1,024 that shells and systemd units give by
    default, a burst of 2,000 uploads lost up to a third of its answers (the HTTP process's accept failed with
    EMFILE, and the clients saw the connection closed, with nothing in the log). The hard limit is this
    process's to take; the HTTP processes forked from it inherit it."""
    try:
        import resource
    except ImportError:  # not on Windows, where the limit is of another kind
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard  # an unlimited hard limit: the kernel's may be lower
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _expected_at_ctrl_c(record: logging.LogRecord) -> bool:
    """Leave out LitServe's warning "LitServer-1 (PID: ...): Already not alive." at shutdown: Ctrl+C in a
    terminal reaches every process of the group, so the HTTP processes have ended on it before the orderly
    shutdown of this one comes to them. Nothing went wrong, and it was the only line Ctrl+C printed."""
    return not record.getMessage().endswith(": Already not alive.")


class Stop:
    """What SIGTERM and SIGINT do while ``serve`` runs (installed by the constructor; Ctrl+C works even where a
    shell started the server in the background, which ignores SIGINT there).

    - Serving (LitServe's HTTP processes exist): ``KeyboardInterrupt``, which LitServe takes as the call to
      shut down in order; a signal after that one is left to the shutdown under way.
    - Starting: nothing to shut down in order, and an exception raised there may land in one of the hooks
      around LitServe's forks, which swallow it (the server would start anyway): so end here, the processes
      started so far terminated, with one line and exit status 128 + the signal's number.
    - In a process LitServe forked (which inherits the handler, and where uvicorn re-raises the signal once
      it has stopped): end that process as the signal would.

    This process is told by its id, taken when ``serve`` starts and not at import, so a server started in a
    process forked after the import still stops in order.
    """

    serving: int | None = None  # serve's process id while it runs, for the processes it forks (_after_fork)
    forking_thread_is_main = False  # set before each fork, read in the child

    def __init__(self, folder: Path) -> None:
        self.main_pid = Stop.serving = os.getpid()
        self.folder = folder
        self.server: DigitServer | None = None  # once serving: told it is stopping, so it restarts no worker
        self.signal_name: str | None = None  # the signal that began the orderly shutdown
        self.previous = {signum: signal.signal(signum, self) for signum in (signal.SIGTERM, signal.SIGINT)}

    def __call__(self, signum: int, frame: Any) -> None:
        if os.getpid() != self.main_pid:
            manager = multiprocessing.current_process().name.startswith("SyncManager")
            if manager and os.getppid() == self.main_pid:
                # LitServe's queues, forked: a SIGTERM sent to the whole group (kill -- -PGID, timeout, systemd)
                # ended them while the HTTP processes still had requests to put in them (a 500 for each); the
                # orderly shutdown ends them last, by a message, as Python's manager ignores SIGINT for this.
                # Not once serve itself is gone (killed by SIGKILL, or for memory): nothing else would end them.
                return
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if self.server is not None and self.server.stopping:
            # LitServe's orderly shutdown is under way (and bounded by its timeouts). A second signal, as
            # `timeout` sends one to serve and then to its group, raised again inside it: a traceback, and the
            # HTTP process was left spinning while serve never exited.
            return
        children = multiprocessing.active_children()
        if any(child.name.startswith("LitServer-") for child in children):  # LitServe's names for them
            if self.server is not None:
                self.server.stopping = True
            self.signal_name = signal.Signals(signum).name
            raise KeyboardInterrupt
        for child in children:
            # SIGKILL: the queues' manager and the inference worker let SIGTERM pass while serve runs (see
            # DigitServer), and they hold nothing to save yet
            child.kill()
        for pid in _forked_but_not_listed(self.main_pid, children):
            os.kill(pid, signal.SIGKILL)  # the queues' manager, just forked, would let SIGTERM pass
        for child in children:
            child.join(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)
        print(f"mnist-rnn: serve stopped by {signal.Signals(signum).name} while starting", file=sys.stderr, flush=True)
        os._exit(128 + signum)

    def uninstall(self) -> None:
        """Put back the handlers there were (for ``main`` called from Python, e.g. a test)."""
        Stop.serving = None
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    @staticmethod
    def _before_fork() -> None:
        Stop.forking_thread_is_main = threading.current_thread() is threading.main_thread()

    @staticmethod
    def _after_fork() -> None:
        """In each process serve forks from its main thread (LitServe's HTTP processes and queue manager): end when
        serve ends (see :func:`end_when_serve_ends`). Not from another thread, whose end would stop them."""
        if Stop.serving is not None and os.getppid() == Stop.serving and Stop.forking_thread_is_main:
            end_when_serve_ends(Stop.serving)


os.register_at_fork(before=Stop._before_fork, after_in_child=Stop._after_fork)


def _forked_but_not_listed(parent: int, listed: list[multiprocessing.Process]) -> list[int]:
    """Processes whose parent is ``parent`` that multiprocessing does not list yet: one forked just as the signal
    came, before ``Process.start`` had recorded it (read from /proc; Linux, where LitServe forks)."""
    known = {child.pid for child in listed}
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        pid = int(stat.parent.name)
        if int(fields[1]) == parent and pid not in known:
            found.append(pid)
    return found
