"""Load on ``python -m mnist_rnn serve`` with what users send, optionally side by side with another version.

Four payloads, each with its true digit, so the answers' accuracy is known:

- ``mnist``: MNIST test images as 28x28 PNG files;
- ``canvas``: the page's drawings: MNIST test digits drawn large, as the page posts its pad (a 320x320 RGBA
  PNG, white strokes about 25 pixels wide with soft edges on black; see ``mnist_rnn/web/index.html``);
- ``photo``: phone photos: a digit inked on paper (``benchmarks.own_digits.page``), 1000x750, a little
  sensor noise, JPEG at quality 85;
- ``phone``: the same at a phone camera's full size, 4032x3024 (0.4-1.5 MB at quality 85), what the page's
  upload button sends from a phone: 20 distinct photos, posted in turn.

For each payload and each number of clients (1, 8, 32), each client sends payloads back to back over a
keep-alive connection for ``--seconds``: requests/s, p50 and p99 latency, errors, the accuracy of the
answers, and the server's CPU time per request (its whole process tree's user + system time from
``/proc``, so a busy host does not hide what the server costs). With ``--baseline DIR`` the same runs go
to a server started from another checkout (e.g. a worktree of an earlier commit), the two alternating run
by run, and the ratios are printed: what the two versions did under the same load on the same host.

    python -m benchmarks.serve_load --ckpt-path CKPT --data-dir ../shared/mnist [--baseline ../base]
        [--payloads mnist canvas photo] [--clients 1 8 32] [--seconds 10] [--repeats 1] [--backend torch|onnx]
        [--variants "" "--api_servers 2" "--max_batch_size 8 --batch_timeout 0.002"]

``--variants`` starts one server of this checkout per set of ``serve`` options, to tune them side by side.
``--uploaders N``: during every run, N more clients upload ``phone`` photos back to back beside the measured
ones (a classroom: students drawing on the page while others send photos); their count and median latency
are printed below each row.

Loopback only (127.0.0.1), and bounded: at most 64 clients and 120 seconds per run.
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.options import checkout, data_folder, existing_file
from mnist_rnn.data import MNISTDataModule

ROOT = Path(__file__).parents[1]
MAX_CLIENTS, MAX_SECONDS = 64, 120
PAYLOADS = ("mnist", "canvas", "photo", "phone")
CANVAS = 320  # the page's pad, in pixels
PHOTO = (1000, 750)
PHONE = (4032, 3024)  # a phone camera's 12 megapixels, what the page's upload button sends from a phone
PHONE_FILES = 20  # distinct full-size photos (0.4-1.5 MB each, slow to make), posted in turn
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TABLE_HEAD = "| payload | clients | server | requests | requests/s | p50 ms | p99 ms | errors | accuracy | CPU ms/req |"


# ----- what users send ------------------------------------------------------------------------------------


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def canvas_drawing(digit: np.ndarray) -> Image.Image:
    """A 28x28 MNIST digit as the page's pad would post it if a user drew it: 320x320 RGBA, white on black.

    Enlarged smoothly, then its soft grey edges steepened, so that the strokes are white with a rim of about
    two anti-aliased pixels (as a canvas draws them), about as wide as the page's pen (320/13 = 25 pixels at
    mean pressure).
    """
    large = Image.fromarray(digit).resize((CANVAS, CANVAS), Image.Resampling.BICUBIC)
    ink = np.clip((np.asarray(large, dtype=np.float32) - 100) * 5, 0, 255).astype(np.uint8)
    rgba = np.dstack([ink, ink, ink, np.full_like(ink, 255)])  # the pad is opaque: black fill, then strokes
    return Image.fromarray(rgba, "RGBA")


def phone_photo(digit: int, seed: int, size: tuple[int, int] = PHOTO) -> bytes:
    """A phone photo of a digit inked on paper: a JPEG (quality 85) of ``size`` with a little sensor noise."""
    from benchmarks.own_digits import fonts, page, sensor_noise, to_image

    rng = np.random.default_rng([seed, digit])
    font_paths = list(fonts().values())
    sheet = page(digit, font_paths[seed % len(font_paths)], rng, size)
    buffer = io.BytesIO()
    to_image(sensor_noise(sheet, rng, rng.uniform(1, 4))).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def payloads(kind: str, data_dir: str, count: int) -> tuple[list[bytes], np.ndarray]:
    """``count`` files of one kind and their true digits."""
    if kind in ("photo", "phone"):
        labels = np.arange(count if kind == "photo" else min(count, PHONE_FILES)) % 10
        size = PHOTO if kind == "photo" else PHONE
        return [phone_photo(int(digit), seed, size) for seed, digit in enumerate(labels)], labels
    data = MNISTDataModule(data_dir=data_dir)
    data.setup("test")
    images, labels = data.test_set.images[:count, 0].numpy(), data.test_set.labels[:count].numpy()
    if kind == "mnist":
        return [png(Image.fromarray(image)) for image in images], labels
    return [png(canvas_drawing(image)) for image in images], labels


def in_process_accuracy(ckpt_path: str, data_dir: str, count: int) -> float:
    """What ``test`` computes on the first ``count`` MNIST test images: the network on the raw tensors."""
    from mnist_rnn.inference import load_network

    data = MNISTDataModule(data_dir=data_dir)
    data.setup("test")
    with torch.inference_mode():
        predicted = load_network(ckpt_path)(data.test_set.images[:count]).argmax(dim=-1).numpy()
    return float((predicted == data.test_set.labels[:count].numpy()).mean())


# ----- the clients ----------------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP connection posting files to /predict."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def predict(self, data: bytes, content_type: str) -> tuple[int, int | None]:
        """(status, class) of one request; status 0 when the connection failed."""
        try:
            self.connection.request("POST", "/predict", body=data, headers={"Content-Type": content_type})
            response = self.connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            return 0, None
        if response.status != 200:
            return response.status, None
        return 200, json.loads(body)["class"]


def load_run(
    server: Server,
    files: list[bytes],
    labels: np.ndarray,
    content_type: str,
    clients: int,
    seconds: float,
    beside: tuple[list[bytes], int] = ([], 0),
):
    """``clients`` threads, each posting files back to back for ``seconds``; the figures of the run. ``beside``:
    photos (JPEG) and how many more threads upload them meanwhile, unmeasured but for their count and median."""
    photos, uploaders = beside
    results: list[list[tuple[float, int, bool]]] = [[] for _ in range(clients + uploaders)]
    cpu_before = server.cpu_seconds()
    start = time.perf_counter()
    stop = start + seconds

    def work(c: int) -> None:
        client = Client(server.port)
        sent_files, sent_labels, kind = (files, labels, content_type) if c < clients else (photos, None, "image/jpeg")
        i = c * 997  # each client starts elsewhere in the files
        while time.perf_counter() < stop:
            k = i % len(sent_files)
            sent = time.perf_counter()
            status, answer = client.predict(sent_files[k], kind)
            results[c].append(
                (time.perf_counter() - sent, status, sent_labels is not None and answer == sent_labels[k])
            )
            i += 1

    threads = [threading.Thread(target=work, args=(c,)) for c in range(clients + uploaders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    cpu = server.cpu_seconds() - cpu_before
    rows = [row for per_client in results[:clients] for row in per_client]
    uploads = [latency for per_client in results[clients:] for latency, status, _ in per_client if status == 200]
    latencies = np.array([latency for latency, status, _ in rows if status == 200]) * 1000
    ok = [correct for _, status, correct in rows if status == 200]
    return {
        "requests": len(rows),
        "per_s": len(rows) / elapsed,
        "p50": float(np.percentile(latencies, 50)) if len(latencies) else float("nan"),
        "p99": float(np.percentile(latencies, 99)) if len(latencies) else float("nan"),
        "errors": len(rows) - len(ok),
        "accuracy": float(np.mean(ok)) if ok else float("nan"),
        "cpu_ms": 1000 * cpu / max(1, len(rows) + len(uploads)),
        "uploads": len(uploads),
        "uploads_p50": 1000 * float(np.median(uploads)) if uploads else float("nan"),
    }


# ----- the servers ----------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of every process in the server's session (its workers included)."""
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            if int(fields[3]) == self.process.pid:  # session id (field 6 of stat; the 4th after the name)
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLOCK_TICKS

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # anything the server left behind
        except ProcessLookupError:
            pass
        self.process.wait()


def start_server(name: str, checkout: Path, ckpt_path: str, options: list[str], log: Path) -> Server:
    """``python -m mnist_rnn serve`` from ``checkout``'s code, in a session of its own, on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, "-m", "mnist_rnn", "serve", "--ckpt_path", ckpt_path, "--port", str(port), *options]
    process = subprocess.Popen(
        command, cwd=checkout, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    server = Server(name, process, port)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the {name} server exited with {process.returncode}; see {log}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.5)
    server.stop()
    raise SystemExit(f"the {name} server did not become healthy; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ckpt-path", dest="ckpt_path", type=existing_file, required=True, help="the checkpoint every server serves"
    )
    parser.add_argument("--data-dir", type=data_folder("mnist"), default="data", help="folder holding MNIST/raw/")
    parser.add_argument("--baseline", type=checkout, help="a checkout of another version, served side by side")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=[""],
        metavar="OPTIONS",
        help='serve options of this checkout\'s servers, one server each (e.g. "" "--api_servers 2"): to tune them',
    )
    parser.add_argument("--payloads", nargs="+", default=list(PAYLOADS), choices=PAYLOADS)
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load run")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each payload and client count, alternating")
    parser.add_argument("--images", type=int, default=300, help="files per payload (MNIST's first N test images)")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--uploaders", type=int, default=0, help="clients uploading phone photos beside each run")
    args = parser.parse_args()
    if any(not 1 <= c <= MAX_CLIENTS for c in args.clients) or not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"clients must be 1-{MAX_CLIENTS} and seconds at most {MAX_SECONDS}")
    if not 1 <= args.repeats <= 10:
        parser.error("--repeats must be 1 to 10")

    print(f"in-process accuracy on the first {args.images} MNIST test images (what test computes): "
          f"{in_process_accuracy(args.ckpt_path, args.data_dir, args.images):.2%}")  # fmt: skip
    files = {kind: payloads(kind, args.data_dir, args.images) for kind in args.payloads}
    beside = (payloads("phone", args.data_dir, PHONE_FILES)[0] if args.uploaders else [], args.uploaders)
    logs = Path(tempfile.mkdtemp(prefix="serve_load_"))  # read them when a server fails
    backend = ["--backend", args.backend]
    servers = []
    try:
        for i, options in enumerate(args.variants):
            name = f"new {options}".strip() if len(args.variants) > 1 or options else "new"
            servers.append(start_server(name, ROOT, args.ckpt_path, [*backend, *options.split()], logs / f"{i}.log"))
        if args.baseline:
            servers.append(start_server("baseline", args.baseline, args.ckpt_path, backend, logs / "baseline.log"))
        print(f"backend {args.backend}; {os.cpu_count()} CPUs; server logs in {logs}")
        print(TABLE_HEAD)
        print("|---|---|---|---|---|---|---|---|---|---|")
        ratios = []
        cells = [
            (kind, clients, repeat)
            for kind in args.payloads
            for clients in args.clients
            for repeat in range(args.repeats)
        ]
        for run, (kind, clients, _) in enumerate(cells):
            content_type = "image/jpeg" if kind in ("photo", "phone") else "image/png"
            order = servers if run % 2 == 0 else servers[::-1]  # alternate which goes first
            figures = {}
            for server in order:
                r = figures[server.name] = load_run(server, *files[kind], content_type, clients, args.seconds, beside)
                print(
                    f"| {kind} | {clients} | {server.name} | {r['requests']} | {r['per_s']:.1f} | {r['p50']:.1f} "
                    f"| {r['p99']:.1f} | {r['errors']} | {r['accuracy']:.2%} | {r['cpu_ms']:.1f} |",
                    flush=True,
                )
                if args.uploaders:
                    print(f"|  | beside: {args.uploaders} uploading phone photos | | {r['uploads']} "
                          f"| | {r['uploads_p50']:.1f} | | | | |", flush=True)  # fmt: skip
            if args.baseline:
                old = figures["baseline"]
                for name, new in figures.items():
                    if name != "baseline":
                        ratios.append(
                            (kind, clients, name, new["per_s"] / old["per_s"], old["cpu_ms"] / new["cpu_ms"],
                             old["p99"] / new["p99"])
                        )  # fmt: skip
    finally:
        for server in servers:
            server.stop()
    if ratios:
        print("\nMedians over the repeats (each repeat a pair of runs, one after the other):")
        print("| payload | clients | server | requests/s, server / baseline | CPU per request, baseline / server "
              "| p99 latency, baseline / server |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for key in dict.fromkeys(r[:3] for r in ratios):
            speed, cpu, p99 = np.median([r[3:] for r in ratios if r[:3] == key], axis=0)
            print(f"| {' | '.join(map(str, key))} | {speed:.2f}x | {cpu:.2f}x | {p99:.2f}x |")


if __name__ == "__main__":
    main()
