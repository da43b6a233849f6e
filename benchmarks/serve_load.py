"""Load on ``python -m mnist_rnn serve``: concurrent clients posting MNIST test images as PNG, on loopback.

For each backend it starts a server from ``--ckpt-path`` (or targets a running one with ``--url``), then:

1. the accuracy check: each of the first ``--images`` test images is sent once (8 clients); the answers'
   accuracy and errors, beside the accuracy of the same network in-process on the same images (what
   ``test`` computes on them);
2. the load: for 1, 8 and 32 clients, each client sends images back to back for ``--seconds``: requests/s,
   p50 and p99 latency, errors, and the accuracy of the answers.

    python -m benchmarks.serve_load --ckpt-path CKPT --data-dir ../shared/mnist [--backends torch onnx]
        [--clients 1 8 32] [--seconds 10] [-- SERVE OPTIONS, e.g. --max_batch_size 8 --batch_timeout 0.002]

Loopback only, and bounded: at most 64 clients and 120 seconds per run.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mnist_rnn.data import MNISTDataModule

ROOT = Path(__file__).parents[1]
MAX_CLIENTS, MAX_SECONDS = 64, 120


def load_test_images(data_dir: str, count: int) -> tuple[torch.Tensor, list[bytes], np.ndarray]:
    data = MNISTDataModule(data_dir=data_dir)
    data.setup("test")
    images, labels = data.test_set.images[:count], data.test_set.labels[:count]
    pngs = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image[0].numpy()).save(buffer, "PNG")
        pngs.append(buffer.getvalue())
    return images, pngs, labels.numpy()


def in_process_accuracy(ckpt_path: str, images: torch.Tensor, labels: np.ndarray) -> float:
    """What ``test`` computes on these images: the network on the raw test tensors."""
    from mnist_rnn.export import load_network

    with torch.inference_mode():
        predicted = load_network(ckpt_path)(images).argmax(dim=-1).numpy()
    return float((predicted == labels).mean())


class Client:
    """One keep-alive HTTP connection posting PNGs to /predict."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def predict(self, png: bytes) -> tuple[int, int | None]:
        """(status, class) of one request; status 0 when the connection failed."""
        try:
            self.connection.request("POST", "/predict", body=png, headers={"Content-Type": "image/png"})
            response = self.connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            return 0, None
        if response.status != 200:
            return response.status, None
        return 200, json.loads(body)["class"]


def accuracy_check(url: str, pngs: list[bytes], labels: np.ndarray) -> tuple[float, int]:
    """Send every image once (8 clients); the accuracy of the answers and the number of errors."""
    local = threading.local()

    def one(i: int) -> tuple[int, int | None]:
        if not hasattr(local, "client"):
            local.client = Client(url)
        return local.client.predict(pngs[i])

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(len(pngs))))
    errors = sum(status != 200 for status, _ in answers)
    correct = sum(answer == label for (_, answer), label in zip(answers, labels, strict=True))
    return correct / len(pngs), errors


def load_run(url: str, pngs: list[bytes], labels: np.ndarray, clients: int, seconds: float) -> dict:
    """``clients`` threads, each posting images back to back for ``seconds``."""
    results: list[list[tuple[float, int, bool]]] = [[] for _ in range(clients)]
    start = time.perf_counter()
    stop = start + seconds

    def work(c: int) -> None:
        client = Client(url)
        i = c * 997  # each client starts elsewhere in the images
        while time.perf_counter() < stop:
            k = i % len(pngs)
            sent = time.perf_counter()
            status, answer = client.predict(pngs[k])
            results[c].append((time.perf_counter() - sent, status, answer == labels[k]))
            i += 1

    threads = [threading.Thread(target=work, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    rows = [row for per_client in results for row in per_client]
    latencies = np.array([latency for latency, status, _ in rows if status == 200]) * 1000
    ok = [correct for _, status, correct in rows if status == 200]
    return {
        "clients": clients,
        "requests": len(rows),
        "per_s": len(rows) / elapsed,
        "p50": float(np.percentile(latencies, 50)) if len(latencies) else float("nan"),
        "p99": float(np.percentile(latencies, 99)) if len(latencies) else float("nan"),
        "errors": len(rows) - len(ok),
        "accuracy": float(np.mean(ok)) if ok else float("nan"),
    }


def start_server(ckpt_path: str, backend: str, extra: list[str], log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "mnist_rnn", "serve", "--ckpt_path", ckpt_path, "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--backend", backend, *extra],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"serve exited with {process.returncode}; see {log}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process, url
        except OSError:
            pass
        time.sleep(0.5)
    stop_server(process)
    raise SystemExit(f"serve did not become healthy; see {log}")


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--ckpt-path", dest="ckpt_path", help="start a server for this checkpoint, once per backend")
    target.add_argument("--url", help="a running server on this machine, e.g. http://127.0.0.1:8000")
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx"], choices=["torch", "onnx"])
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load run")
    parser.add_argument("--images", type=int, default=1000, help="test images used (the first N)")
    parser.add_argument("--data-dir", default="data", help="folder holding MNIST/raw/")
    args = parser.parse_args(argv)
    if any(not 1 <= c <= MAX_CLIENTS for c in args.clients) or not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"clients must be 1-{MAX_CLIENTS} and seconds at most {MAX_SECONDS}")
    if args.url and urllib.parse.urlsplit(args.url).hostname not in ("127.0.0.1", "localhost"):
        parser.error("loopback only: --url must be http://127.0.0.1:PORT")

    images, pngs, labels = load_test_images(args.data_dir, args.images)
    if args.ckpt_path:
        accuracy = in_process_accuracy(args.ckpt_path, images, labels)
        print(f"in-process accuracy on these {len(pngs)} images (what test computes): {accuracy:.2%}")
    print(f"server options: {' '.join(extra) or '(defaults)'}; {os.cpu_count()} CPUs")
    print("| backend | clients | requests | requests/s | p50 ms | p99 ms | errors | accuracy |")
    print("|---|---|---|---|---|---|---|---|")
    for backend in args.backends if args.ckpt_path else ["(running server)"]:
        process = None
        url = args.url
        if args.ckpt_path:
            log = Path(tempfile.gettempdir()) / f"serve_load_{backend}.log"  # read it when a server fails
            process, url = start_server(args.ckpt_path, backend, extra, log)
        try:
            accuracy, errors = accuracy_check(url, pngs, labels)
            print(f"| {backend} | all {len(pngs)} images once | {len(pngs)} | | | | {errors} | {accuracy:.2%} |")
            for clients in args.clients:
                r = load_run(url, pngs, labels, clients, args.seconds)
                print(
                    f"| {backend} | {clients} | {r['requests']} | {r['per_s']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} "
                    f"| {r['errors']} | {r['accuracy']:.2%} |",
                    flush=True,
                )
        finally:
            if process is not None:
                stop_server(process)


if __name__ == "__main__":
    main()
