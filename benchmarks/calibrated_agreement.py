"""Do ``predict``, ``serve`` and the exported ONNX model give the same calibrated probabilities?

The first ``--count`` MNIST test images are saved as PNG files. ``predict`` reads the folder (its CSV has the
top probability, 4 decimals); a real ``serve`` (a subprocess on a free port) gets each file over HTTP and
answers all ten probabilities and the 28x28 image it prepared; the checkpoint exported to ONNX (checked as
``export`` checks it) runs in onnxruntime on those prepared images. All three divide the logits by the
checkpoint's temperature. Printed: the largest differences, and how sure each is on average.

    python -m benchmarks.calibrated_agreement --ckpt-path CKPT --data-dir /path/to/mnist [--count 200]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.options import data_folder, existing_file
from benchmarks.serve_load import start_server

ROOT = Path(__file__).parents[1]


def run_cli(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "mnist_rnn", *args], env=env, **kwargs)


def serve_answers(ckpt_path: str, files: list[Path], folder: Path) -> list[dict]:
    """Each file's answer from a real ``serve`` subprocess (started as ``serve_load`` starts its servers)."""
    server = start_server("serve", ROOT, ckpt_path, [], folder / "serve.log")
    try:
        answers = []
        for path in files:
            request = urllib.request.Request(
                f"http://127.0.0.1:{server.port}/predict", data=path.read_bytes(), headers={"Content-Type": "image/png"}
            )
            with urllib.request.urlopen(request) as response:
                answers.append(json.loads(response.read()))
        return answers
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt-path", type=existing_file, required=True)
    parser.add_argument("--data-dir", type=data_folder("mnist"), required=True)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    import onnxruntime
    from torchvision.datasets import MNIST

    from mnist_rnn.export import export_checkpoint

    test_set = MNIST(args.data_dir, train=False, download=False)
    with tempfile.TemporaryDirectory(prefix="calibrated-agreement-") as tmp:
        folder = Path(tmp)
        images = folder / "images"
        images.mkdir()
        files = []
        for index in range(args.count):
            path = images / f"{index:05d}.png"
            Image.fromarray(test_set.data[index].numpy()).save(path)
            files.append(path)

        table = run_cli(
            ["predict", "--ckpt_path", str(args.ckpt_path), "--data.predict_path", str(images)],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        predicted = {Path(row["path"]).name: row for row in csv.DictReader(io.StringIO(table))}

        answers = serve_answers(args.ckpt_path, files, folder)
        served = np.array([answer["probabilities"] for answer in answers])
        prepared = np.array([answer["prepared"] for answer in answers], dtype=np.uint8)[:, None]

        onnx_path, parity = export_checkpoint(args.ckpt_path, "onnx", folder / "model.onnx", args.data_dir)
        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        exported = session.run(None, {"images": prepared})[0]

    top = served.argmax(axis=1)
    predict_top = np.array([float(predicted[path.name]["probability"]) for path in files])
    predict_class = np.array([int(predicted[path.name]["digit"]) for path in files])
    temperature = float(torch.load(args.ckpt_path, weights_only=True)["state_dict"].get("network.temperature", 1.0))
    print(f"{args.count} MNIST test images as PNG files; checkpoint temperature {temperature:.4f}")
    print(f"export check: {parity}")
    print(f"same class: predict-serve {int((predict_class == top).sum())}/{args.count}, "
          f"serve-ONNX {int((exported.argmax(axis=1) == top).sum())}/{args.count}")  # fmt: skip
    print(f"largest difference, serve vs ONNX (all 10 probabilities): {np.abs(served - exported).max():.2e}")
    print(
        f"largest difference, predict (4 decimals) vs serve (top probability): "
        f"{np.abs(predict_top - served[np.arange(args.count), top]).max():.2e}"
    )
    print(f"mean top probability: predict {predict_top.mean():.4f}, serve {served.max(axis=1).mean():.4f}, "
          f"ONNX {exported.max(axis=1).mean():.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
