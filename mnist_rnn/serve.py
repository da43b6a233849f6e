"""``python -m mnist_rnn serve``: a checkpoint behind HTTP, on LitServe, with a page to draw digits on.

- ``POST /predict``: one image (PNG, JPEG, BMP or GIF; the raw body, or a multipart upload in a field named
  ``file``) -> JSON: ``class``, ``class_name``, ``probabilities``, ``prepared`` (the 28x28 image the model saw,
  prepared by :func:`mnist_rnn.preparation.prepare` as ``predict`` does), and for one-way networks ``per_step``
  (the probabilities after every time step) and ``per_row`` (after each image row: the page's reading view).
- ``GET /``: the page (``mnist_rnn/web/index.html``); ``GET /health``: ``ok`` once the model is loaded;
  ``GET /info``: the model's description.
- A bad request gets a 4xx answer ``{"error": "..."}`` naming the problem, and the server carries on. A
  blank image is one (422): the model would answer anyway, with a guess.

How the work is split, and why not all of it is LitServe's ``LitAPI``:

- LitServe (0.2.19) reads a request body only as JSON or as a form and hands it to its inference worker, in
  another process, through a queue. A raw image body would fail as bad JSON, and a form's file would have
  to cross the queue as a temporary-file object. And when requests are batched, one request whose
  ``decode_request`` raises fails every request in its batch. So :class:`ImageUploads`, an ASGI middleware
  given to ``LitServer(middlewares=...)``, reads each upload in the HTTP process, checks it, prepares the
  28x28 image and passes that on as a small JSON document. A bad request is answered there, alone.
- The inference worker (:class:`DigitAPI`, the ``LitAPI``) only runs the network, optionally on batches.
- ``GET /`` replaces LitServe's own ``litserve running`` text with the page: a plain FastAPI route on
  LitServe's app, since LitServe has no notion of static pages.
"""

from __future__ import annotations

import argparse
import email.message
import io
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import litserve
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from mnist_rnn.errors import UserError
from mnist_rnn.preparation import prepare

PAGE = Path(__file__).parent / "web" / "index.html"
API_PATH = "/predict"
MAX_BYTES = 20 * 1024 * 1024  # the largest upload taken
MAX_SIDE = 4000  # the largest width and height taken, in pixels
FORMATS = ("PNG", "JPEG", "BMP", "GIF")
DRAIN_LIMIT = 4 * MAX_BYTES  # an oversized body is read (and dropped) up to here, so the client sees the 413

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class RequestError(Exception):
    """A request the server refuses: the HTTP status and a message that names the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ----- the HTTP side: reading and preparing one upload ----------------------------------------------------


def upload_bytes(body: bytes, content_type: str) -> bytes:
    """The image file in a request body: the body itself, or the field ``file`` of a multipart form."""
    header = email.message.Message()
    header["content-type"] = content_type or "application/octet-stream"
    if header.get_content_type() != "multipart/form-data":
        return body
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise RequestError(400, "multipart upload without a boundary in its Content-Type")
    for part in body.split(b"--" + boundary.encode("latin-1"))[1:-1]:
        head, separator, content = part.partition(b"\r\n\r\n")
        if not separator:
            continue
        fields = email.message.Message()
        for line in head.decode("latin-1").strip().splitlines():
            name, _, value = line.partition(":")
            fields[name.strip()] = value.strip()
        if fields.get_param("name", header="content-disposition") == "file":
            return content[:-2] if content.endswith(b"\r\n") else content
    raise RequestError(400, "multipart upload without a field named 'file' (send the image in the field 'file')")


def open_image(data: bytes) -> Image.Image:
    """Decode an uploaded image fully, checking its format and size first; :class:`RequestError` if bad."""
    if not data:
        raise RequestError(400, "empty body: send one image file (PNG, JPEG, BMP or GIF)")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as error:
        raise RequestError(413, f"image too large ({error})") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise RequestError(415, "not an image: send a PNG, JPEG, BMP or GIF file") from error
    width, height = image.size
    if width > MAX_SIDE or height > MAX_SIDE:
        raise RequestError(413, f"image of {width} x {height} pixels: the limit is {MAX_SIDE} x {MAX_SIDE}")
    try:
        image.load()  # PIL decodes lazily: truncated or damaged data shows only here
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise RequestError(400, f"truncated or damaged {image.format} image ({error})") from error
    return image


def prepare_upload(body: bytes, content_type: str) -> Tensor:
    """The 28x28 uint8 image (1, 28, 28) the model sees, from a request body, exactly as ``predict`` makes it."""
    prepared = prepare(open_image(upload_bytes(body, content_type)))
    if prepared.blank:  # no digit to find: any answer would be a guess
        raise RequestError(422, "blank image: no digit found (draw or upload one digit)")
    return prepared.pixels


class ImageUploads:
    """ASGI middleware: turns ``POST /predict`` bodies into prepared 28x28 images, or answers a 4xx itself.

    The body is read here, counting its bytes (over :data:`MAX_BYTES`: 413), then decoded and prepared in a
    thread, so a large image does not hold up other requests. The endpoint behind receives
    ``{"prepared": [784 ints]}`` as JSON, which LitServe passes to :meth:`DigitAPI.decode_request`.
    """

    def __init__(self, app: Callable, api_path: str = API_PATH) -> None:
        self.app = app
        self.api_path = api_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.api_path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool

        headers = dict(scope["headers"])
        try:
            body = await _read_body(receive)
            prepared = await run_in_threadpool(
                prepare_upload, body, headers.get(b"content-type", b"").decode("latin-1")
            )
        except RequestError as error:
            await send_error(send, error.status, error.message)
            return
        payload = json.dumps({"prepared": prepared.flatten().tolist()}).encode()
        rest = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        scope = {
            **scope,
            "headers": [*rest, (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
        sent = False

        async def receive_prepared() -> Message:
            nonlocal sent
            if sent:  # later calls wait for the client to go away, as the original receive does
                return await receive()
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        await self.app(scope, receive_prepared, send)


async def _read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError(400, "the client went away before the body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BYTES:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT:
            break
        if not message.get("more_body", False):
            break
    if size > MAX_BYTES:
        raise RequestError(413, f"upload of more than {MAX_BYTES // 2**20} MB: the limit is {MAX_BYTES // 2**20} MB")
    return b"".join(chunks)


async def send_error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# ----- the inference worker -------------------------------------------------------------------------------


class Backend:
    """Runs the exported computation: uint8 images (B, 1, 28, 28) -> probabilities, per-step probabilities."""

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError


class TorchBackend(Backend):
    def __init__(self, ckpt_path: str | Path) -> None:
        from mnist_rnn.export import ProbabilityModel, load_network

        self.model = ProbabilityModel(load_network(ckpt_path))

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        outputs = self.model(torch.from_numpy(images))
        if isinstance(outputs, Tensor):
            return outputs.numpy(), None
        return outputs[0].numpy(), outputs[1].numpy()


class OnnxBackend(Backend):
    def __init__(self, onnx_path: str | Path, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        outputs = self.session.run(None, {"images": images})
        return outputs[0], (outputs[1] if len(outputs) > 1 else None)


class DigitAPI(litserve.LitAPI):
    """The model in LitServe's inference worker: prepared 28x28 images in, probabilities out.

    Args:
        ckpt_path: The Lightning checkpoint (read again in the worker process).
        class_names: The names of the classes, index order.
        image_size: Rows of the images; ``per_row`` has one line per row.
        backend: ``torch`` (the network in PyTorch) or ``onnx`` (the exported model in onnxruntime).
        onnx_path: The ONNX file, for the ``onnx`` backend.
        threads: Threads for the model's arithmetic in the worker.
        max_batch_size: Requests run together at most (LitServe's batching); 1: one at a time.
        batch_timeout: Seconds LitServe waits to fill a batch.
    """

    def __init__(
        self,
        ckpt_path: str | Path,
        class_names: list[str],
        image_size: int = 28,
        backend: str = "torch",
        onnx_path: str | Path | None = None,
        threads: int = 1,
        max_batch_size: int = 1,
        batch_timeout: float = 0.0,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, api_path=API_PATH)
        self.ckpt_path = str(ckpt_path)
        self.class_names = list(class_names)
        self.image_size = image_size
        self.backend_name = backend
        self.onnx_path = None if onnx_path is None else str(onnx_path)
        self.threads = threads

    def setup(self, device: str) -> None:
        torch.set_num_threads(self.threads)
        if self.backend_name == "onnx":
            self.backend: Backend = OnnxBackend(self.onnx_path, self.threads)
        else:
            self.backend = TorchBackend(self.ckpt_path)
        self.backend(np.zeros((1, 1, self.image_size, self.image_size), dtype=np.uint8))  # warm up

    def decode_request(self, request):  # no annotation: LitServe takes the request type from it
        """The prepared image from :class:`ImageUploads` (a dict read from JSON) as uint8 (1, 28, 28)."""
        size = self.image_size
        return np.asarray(request["prepared"], dtype=np.uint8).reshape(1, size, size)

    def predict(self, images: np.ndarray) -> list[dict[str, Any]]:
        single = images.ndim == 3  # without batching LitServe passes one request; with it, LitAPI.batch stacks them
        batch = images[None] if single else images
        probabilities, per_step = self.backend(batch)
        results = [
            {
                "prepared": image[0],
                "probabilities": probabilities[i],
                "per_step": None if per_step is None else per_step[i],
            }
            for i, image in enumerate(batch)
        ]
        return results[0] if single else results

    def encode_response(self, output: dict[str, Any]) -> dict[str, Any]:
        probabilities = output["probabilities"]
        best = int(probabilities.argmax())
        answer = {
            "class": best,
            "class_name": self.class_names[best],
            "probabilities": probabilities.tolist(),
            "prepared": output["prepared"].tolist(),
        }
        per_step = output["per_step"]
        if per_step is not None:
            answer["per_step"] = np.round(per_step, 6).tolist()
            answer["per_row"] = np.round(rows_of(per_step, self.image_size), 6).tolist()
        return answer


def rows_of(per_step: np.ndarray, image_size: int) -> np.ndarray:
    """Per-step values (steps, ...) at the step that ends each image row, or each 1/image_size of the sequence.

    Rows as steps: every step. A pixel sequence (784 steps): steps 27, 55, ..., 783. This is what
    ``RNNNetwork.row_logits`` picks; here it is applied to probabilities that come out of an exported model.
    """
    stride = len(per_step) // image_size
    return per_step[stride - 1 :: stride]


# ----- the server -----------------------------------------------------------------------------------------


def describe(hparams: dict[str, Any]) -> str:
    """One line about the model for the page: e.g. "2-layer LSTM, 128 units, reading rows (28 steps)"."""
    size = hparams.get("image_size", 28)
    cell = str(hparams.get("cell", "lstm")).upper()
    sequence = hparams.get("sequence", "rows")
    reads = {
        "rows": f"reads the image row by row ({size} steps of {size} pixels)",
        "pixels": f"reads the image pixel by pixel ({size * size} steps)",
        "permuted": f"reads the pixels in a fixed shuffled order ({size * size} steps)",
    }[sequence]
    both = "bidirectional " if hparams.get("bidirectional") else ""
    layers, hidden = hparams.get("num_layers", 2), hparams.get("hidden_size", 128)
    return f"A {layers}-layer {both}{cell} with {hidden} units {reads}."


def build_server(
    ckpt_path: str | Path,
    backend: str = "torch",
    onnx_path: str | Path | None = None,
    workers: int = 1,
    threads: int = 1,
    max_batch_size: int = 1,
    batch_timeout: float = 0.0,
) -> Any:
    """The LitServer for a checkpoint: :class:`DigitAPI` behind :class:`ImageUploads`, plus the page."""
    from fastapi import Request
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.exceptions import HTTPException

    from mnist_rnn.export import checkpoint_hparams

    hparams = checkpoint_hparams(ckpt_path)
    class_names = list(hparams.get("class_names") or [str(k) for k in range(hparams.get("num_classes", 10))])
    api = DigitAPI(
        ckpt_path,
        class_names,
        image_size=hparams.get("image_size", 28),
        backend=backend,
        onnx_path=onnx_path,
        threads=threads,
        max_batch_size=max_batch_size,
        batch_timeout=batch_timeout,
    )
    metadata = {
        "checkpoint": Path(ckpt_path).name,
        "backend": backend,
        "description": describe(hparams),
        "class_names": class_names,
        **{key: hparams.get(key) for key in ("dataset", "cell", "sequence", "bidirectional", "hidden_size")},
    }
    server = litserve.LitServer(
        api,
        accelerator="cpu",
        workers_per_device=workers,
        model_metadata=metadata,
        middlewares=[(ImageUploads, {"api_path": API_PATH})],
        fast_queue=True,
    )
    app = server.app
    app.router.routes[:] = [route for route in app.router.routes if getattr(route, "path", None) != "/"]
    page = PAGE.read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        """Every error as ``{"error": ...}``, naming what was wrong, like those of :class:`ImageUploads`."""
        path = request.url.path
        if error.status_code == 404:
            message = f"no such path: {path} (POST images to {API_PATH}; the page is at /)"
        elif error.status_code == 405:
            allowed = {k.lower(): v for k, v in (error.headers or {}).items()}.get("allow", "?")
            message = f"{request.method} is not allowed on {path} (allowed: {allowed})"
        else:
            message = str(error.detail)
        return JSONResponse({"error": message}, status_code=error.status_code, headers=error.headers)

    app.add_exception_handler(HTTPException, http_error)
    return server


def parse_args(argv: list[str]) -> argparse.Namespace:
    from mnist_rnn.export import ToolParser

    parser = ToolParser(
        "serve", "Serve a checkpoint over HTTP: POST /predict takes an image and answers JSON; / is a page to draw on."
    )
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "0.0.0.0", "::"])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    parser.add_argument(
        "--onnx", help="the ONNX file for --backend onnx (default: export the checkpoint to a temporary file)"
    )
    parser.add_argument("--workers", type=int, default=1, help="inference worker processes (default: 1)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker for the model (default: 1)")
    parser.add_argument("--max_batch_size", type=int, default=1, help="requests run together (default: 1)")
    parser.add_argument("--batch_timeout", type=float, default=0.0, help="seconds to wait to fill a batch")
    parser.add_argument("--log_level", default="warning", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    if not 1024 <= args.port <= 65535:
        parser.error(f"--port {args.port}: choose a port from 1024 to 65535")
    for name in ("workers", "threads", "max_batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.batch_timeout < 0:
        parser.error("--batch_timeout must not be negative")
    return args


def main(argv: list[str]) -> None:
    """``python -m mnist_rnn serve ...``: check the options and the checkpoint, then serve until Ctrl+C."""
    import tempfile

    from mnist_rnn.checkpoint import check_checkpoint
    from mnist_rnn.export import export_checkpoint

    args = parse_args(argv)
    check_checkpoint(args.ckpt_path)
    with tempfile.TemporaryDirectory(prefix="mnist-rnn-serve-") as folder:
        onnx_path = args.onnx
        if args.backend == "onnx" and onnx_path is None:
            onnx_path = Path(folder) / "model.onnx"
            export_checkpoint(args.ckpt_path, "onnx", onnx_path, check=False)
        elif onnx_path is not None and not Path(onnx_path).is_file():
            raise UserError(f"--onnx {onnx_path}: no such file")
        server = build_server(
            args.ckpt_path,
            args.backend,
            onnx_path,
            workers=args.workers,
            threads=args.threads,
            max_batch_size=args.max_batch_size,
            batch_timeout=args.batch_timeout,
        )
        # LitServe shuts down in order on KeyboardInterrupt; make SIGTERM do the same, and Ctrl+C work even when
        # a shell started the server in the background (which ignores SIGINT there).
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print(f"mnist-rnn: serving {args.ckpt_path} at http://{args.host}:{args.port}/", file=sys.stderr, flush=True)
        server.run(host=args.host, port=args.port, generate_client_file=False, log_level=args.log_level)


_MAIN_PID = os.getpid()


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM in the main process: LitServe's orderly shutdown. In an HTTP process LitServe forked (which
    inherits this handler, and re-raises the signal once uvicorn has stopped): end as the signal would."""
    if os.getpid() != _MAIN_PID:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise KeyboardInterrupt
