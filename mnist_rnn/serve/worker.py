"""The inference worker of ``serve``: LitServe's ``LitAPI`` around a backend that runs the network.

It only runs the network, optionally on batches: uploads arrive already prepared (see
:mod:`mnist_rnn.serve.http`).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import litserve
import numpy as np
import torch
from starlette.responses import Response

from mnist_rnn.errors import muted
from mnist_rnn.inference import ProbabilityModel, load_network
from mnist_rnn.network import row_end_steps
from mnist_rnn.serve.http import API_PATH
from mnist_rnn.stopping import sigterm_when_parent_ends


class Backend:
    """Runs the exported computation: uint8 images (B, 1, 28, 28) -> probabilities, per-step probabilities."""

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError


class TorchBackend(Backend):
    def __init__(self, ckpt_path: str | Path) -> None:
        with muted():  # its notes (no temperature) were printed when serve loaded it first
            self.model = ProbabilityModel(load_network(ckpt_path))

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        outputs = self.model(torch.from_numpy(images))
        return outputs[0].numpy(), (outputs[1].numpy() if len(outputs) > 1 else None)


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


def end_when_serve_ends(serve: int) -> None:
    """Get SIGTERM when ``serve`` ends, whose handler then ends this process, as serve is gone. Killed alone
    (kill -9, the out-of-memory killer), serve left its HTTP processes, queue manager and inference worker
    running, holding the port, until their group got a SIGTERM (still the way on macOS)."""
    if sigterm_when_parent_ends() and os.getppid() != serve:
        os.kill(os.getpid(), signal.SIGTERM)  # serve ended before the call: no signal would come


def _end_once_serve_is_gone(serve: int) -> Callable[[int, Any], None]:
    """The worker's SIGTERM handler: nothing while ``serve`` (the process that started it) runs, which ends it
    in order; once serve is gone (killed by SIGKILL, or for memory), end as the signal would: it ignored the
    group's SIGTERM too, and stayed behind."""

    def handle(signum: int, frame: Any) -> None:
        if os.getppid() == serve:
            return
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    return handle


# What ImageUploads found in the picture, passed beside the prepared image and answered as they came, with the
# value of a request that lacks one.
PICTURE_FACTS = {"several": False, "small": False, "frames": 1}


class DigitAPI(litserve.LitAPI):
    """The model in LitServe's inference worker: prepared 28x28 images in, probabilities out.

    Args:
        ckpt_path: The Lightning checkpoint (read again in the worker process); None with the ``onnx`` backend
            when the ONNX file is served alone.
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
        ckpt_path: str | Path | None,
        class_names: list[str],
        image_size: int,
        backend: str = "torch",
        onnx_path: str | Path | None = None,
        threads: int = 1,
        max_batch_size: int = 1,
        batch_timeout: float = 0.0,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, api_path=API_PATH)
        self.ckpt_path = None if ckpt_path is None else str(ckpt_path)
        self.class_names = list(class_names)
        self.image_size = image_size
        self.backend_name = backend
        self.onnx_path = None if onnx_path is None else str(onnx_path)
        self.threads = threads

    def setup(self, device: str) -> None:
        # Ctrl+C in a terminal, and a SIGTERM sent to the whole group (kill -- -PGID, timeout, systemd), reach every
        # process of the group: the serve command answers them and ends this worker once the HTTP processes have
        # answered what they hold (DigitServer._perform_graceful_shutdown). Here SIGINT would only print a
        # KeyboardInterrupt's traceback, and SIGTERM ended the worker under the requests in flight (a 500 each).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, _end_once_serve_is_gone(os.getppid()))
        end_when_serve_ends(os.getppid())
        torch.set_num_threads(self.threads)
        if self.backend_name == "onnx":
            self.backend: Backend = OnnxBackend(self.onnx_path, self.threads)
        else:
            self.backend = TorchBackend(self.ckpt_path)
        self.backend(np.zeros((1, 1, self.image_size, self.image_size), dtype=np.uint8))  # warm up

    def decode_request(self, request, context):  # no annotation: LitServe takes the request type from it
        """The prepared image from :class:`mnist_rnn.serve.http.ImageUploads` (a dict read from JSON) as uint8
        (1, 28, 28). Whether the picture held more than one digit, or a small one, and how many frames or pages
        its file held, go to the answer through LitServe's per-request ``context``, past ``predict`` and its
        batches."""
        for name, default in PICTURE_FACTS.items():
            context[name] = type(default)(request.get(name, default))
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

    def encode_response(self, output: dict[str, Any], context):  # no annotation: LitServe passes a Response through
        """The answer as a ready JSON response, encoded here with ``json.dumps``: given a dict, FastAPI would encode
        it in the HTTP process with ``jsonable_encoder``, several times slower, in the process that serves every
        request."""
        probabilities = output["probabilities"]
        best = int(probabilities.argmax())
        answer = {
            "class": best,
            "class_name": self.class_names[best],
            "probabilities": probabilities.tolist(),
            "prepared": output["prepared"].tolist(),
            **{name: context.get(name, default) for name, default in PICTURE_FACTS.items()},
        }
        per_step = output["per_step"]
        if per_step is not None:
            # Rounded in float64: float32's 0.000247 is 0.0002469999890308827 as a Python float, which made the
            # answer far longer than its six decimals need.
            per_step = per_step.astype(np.float64)
            answer["per_step"] = np.round(per_step, 6).tolist()
            answer["per_row"] = np.round(per_step[row_end_steps(len(per_step), self.image_size)], 6).tolist()
        return Response(json.dumps(answer), media_type="application/json")
