"""How fast is the preparation on the pictures users really send, against another version of the code?

Two kinds of picture, made here from one seed: the page's canvas (MNIST test digits drawn large, white
strokes on black, a 320x320 RGBA PNG, as ``web/index.html`` posts it) and phone photos (a JPEG of
1000x750, a printed digit on a sheet lying askew on a desk, with sensor noise). Each version of the code
(this checkout and ``--old``, e.g. a worktree of an earlier commit) runs in its own subprocess with its
own ``PYTHONPATH`` and times decoding + preparing every picture; the versions alternate, round after
round, so a busy host slows both alike. With ``--ckpt-path``, ``python -m mnist_rnn predict`` on
``--predict-count`` MNIST test images saved as PNG is timed the same way (default torch threads).

    python -m benchmarks.prepare_speed --old ../base --data-dir /work/shared/mnist [--ckpt-path CKPT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.options import checkout, data_folder, existing_file
from benchmarks.own_digits import fonts, page, sensor_noise, to_image
from mnist_rnn.data import MNISTDataModule

HERE = Path(__file__).resolve().parents[1]
CANVAS = 320  # the page's drawing pad, in pixels
PHOTO = (1000, 750)

# Run in each version's own interpreter: decode + prepare every file of each kind, once (after one warm-up
# picture), and print the seconds per kind as JSON. Both the old layout (mnist_rnn.images) and the new one,
# chosen by the files the checkout has: not by trying the import, which an editable install of this project
# answers from its own folder when the checkout lacks the module.
WORKER = """
import json, sys, time
from pathlib import Path
import mnist_rnn
if (Path(mnist_rnn.__file__).parent / "preparation.py").exists():
    from mnist_rnn.preparation import prepare
    from mnist_rnn.user_images import decode_image
else:
    from mnist_rnn.images import load_image as decode_image, prepare
assert Path(sys.modules[prepare.__module__].__file__).parent == Path(mnist_rnn.__file__).parent
timings = {}
for folder in sys.argv[1:]:
    files = sorted(Path(folder).iterdir())
    prepare(decode_image(files[0]))
    start = time.perf_counter()
    for path in files:
        prepare(decode_image(path))
    timings[Path(folder).name] = (time.perf_counter() - start) / len(files)
print(json.dumps(timings))
"""


def mnist_test(data_dir: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    data = MNISTDataModule(data_dir=data_dir)
    data.setup("test")
    return data.test_set.images[:count, 0].numpy(), data.test_set.labels[:count].numpy()


def canvas(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit drawn large on the page: scaled up to 60-85% of the pad, its edges made as crisp as a
    canvas stroke's (the page draws white lines about 25 pixels wide on black), placed anywhere on it."""
    side = int(CANVAS * rng.uniform(0.6, 0.85))
    large = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32)
    strokes = np.clip((large - 96) * 4, 0, 255)  # a 2-pixel antialiased edge, as the canvas draws it
    pad = np.zeros((CANVAS, CANVAS), dtype=np.float32)
    top, left = rng.integers(0, CANVAS - side + 1, size=2)
    pad[top : top + side, left : left + side] = strokes
    gray = np.rint(pad).astype(np.uint8)
    return Image.merge("RGBA", [Image.fromarray(gray)] * 3 + [Image.new("L", (CANVAS, CANVAS), 255)])


def photo(digit: int, rng: np.random.Generator) -> Image.Image:
    """A phone photo: a printed digit on a sheet turned a little, lying on a desk, with sensor noise."""
    font = list(fonts().values())[digit % len(fonts())]
    fraction = rng.uniform(0.6, 0.85)
    sheet = page(digit, font, rng, (int(PHOTO[0] * fraction), int(PHOTO[1] * fraction)))
    sheet_image = to_image(sheet).convert("RGBA").rotate(rng.uniform(-10, 10), expand=True)
    shade = rng.uniform(40, 130)
    desk = Image.new("RGBA", PHOTO, (int(shade), int(shade * 0.8), int(shade * 0.6), 255))
    at = (
        int(rng.uniform(0, max(1, PHOTO[0] - sheet_image.width))),
        int(rng.uniform(0, max(1, PHOTO[1] - sheet_image.height))),
    )
    desk.alpha_composite(sheet_image, at)
    return to_image(sensor_noise(np.asarray(desk.convert("RGB"), dtype=np.float32), rng, rng.uniform(1, 4)))


def write_pictures(folder: Path, digits: np.ndarray, labels: np.ndarray, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    (folder / "canvas").mkdir(parents=True)
    (folder / "photo").mkdir()
    for index, image in enumerate(digits):
        canvas(image, rng).save(folder / "canvas" / f"{index:04d}.png")
    for index, label in enumerate(labels):
        photo(int(label), rng).save(folder / "photo" / f"{index:04d}.jpg", quality=85)
    return [folder / "canvas", folder / "photo"]


def run(root: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """A command with ``root`` (a checkout) first on the import path, run in ``cwd`` (not a checkout: the
    current folder comes first on ``python -c``'s path)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, check=True, capture_output=True, text=True)


def time_predict(root: Path, ckpt: Path, folder: Path, workdir: Path) -> float:
    start = time.perf_counter()
    run(root, ["-m", "mnist_rnn", "predict", "--ckpt_path", str(ckpt), "--data.predict_path", str(folder)], workdir)
    return time.perf_counter() - start


def speed(old: float, new: float) -> str:
    """The new version's speed against the old one's, in words ("1.6x faster", "1.04x slower")."""
    ratio = old / new
    return f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=checkout, required=True, help="a checkout of the version to compare with")
    parser.add_argument("--data-dir", type=data_folder("mnist"), required=True, help="folder holding MNIST/raw/")
    parser.add_argument("--count", type=int, default=20, help="pictures of each kind")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--ckpt-path", type=existing_file, help="also time predict on MNIST test PNGs with this checkpoint"
    )
    parser.add_argument("--predict-count", type=int, default=5000)
    parser.add_argument("--predict-rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    versions = {"new": HERE, "old": args.old}

    digits, labels = mnist_test(args.data_dir, max(args.count, args.predict_count if args.ckpt_path else 0))
    with tempfile.TemporaryDirectory() as tmp:
        folders = write_pictures(Path(tmp) / "pictures", digits[: args.count], labels[: args.count], args.seed)
        seconds: dict[str, dict[str, list[float]]] = {name: {} for name in versions}
        for round_ in range(args.rounds):
            order = list(versions) if round_ % 2 == 0 else list(versions)[::-1]
            for name in order:
                timings = json.loads(run(versions[name], ["-c", WORKER, *map(str, folders)], Path(tmp)).stdout)
                for kind, value in timings.items():
                    seconds[name].setdefault(kind, []).append(value)
        print(f"decode + prepare, mean per picture over {args.count} pictures, median of {args.rounds} rounds:")
        for kind in (folder.name for folder in folders):
            new, old = (float(np.median(seconds[name][kind])) for name in ("new", "old"))
            print(f"  {kind:7s} new {new * 1000:8.1f} ms   old {old * 1000:8.1f} ms   {speed(old, new)}")

        if args.ckpt_path:
            pngs, workdir = Path(tmp) / "mnist_png", Path(tmp) / "run"
            pngs.mkdir()
            workdir.mkdir()
            for index, image in enumerate(digits[: args.predict_count]):
                Image.fromarray(image).save(pngs / f"{index:05d}.png")
            times: dict[str, list[float]] = {name: [] for name in versions}
            for round_ in range(args.predict_rounds):
                for name in list(versions) if round_ % 2 == 0 else list(versions)[::-1]:
                    times[name].append(time_predict(versions[name], args.ckpt_path.resolve(), pngs, workdir))
            new, old = (float(np.median(times[name])) for name in ("new", "old"))
            print(f"predict on {args.predict_count} MNIST test PNGs (whole command, default torch threads):")
            print(f"  new {new:.1f} s   old {old:.1f} s   {speed(old, new)}")


if __name__ == "__main__":
    main_cli()
