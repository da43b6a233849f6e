"""Phone-like photos of real MNIST test digits, each kind with one fault, for ``predict`` to read (docs/predict.md).

Each picture: an MNIST test digit written large and dark on off-white paper (its 28-pixel frame enlarged
to 20-45% of the photo's shorter side, the strokes' edges made crisp as a marker's), photographed at
3000x4000 or 4032x3024 (portrait or landscape): the scene rendered at half size and enlarged bicubically (a
phone's softness), mild light fall-off everywhere, sensor noise, JPEG quality 85. Each kind adds one fault:

- ``clean``: none (the control);
- ``vignette``: corners 30-55% darker, and a slope of light across the sheet;
- ``soft_shadow``: a hand's or phone's shadow, 25-50% deep, its edge blurred over 3-12% of the diagonal,
  across a corner or along a side (sometimes over the digit);
- ``ruled``: a ruled page, blue lines every 5-8% of the height, 4-8 pixels wide, a red margin line;
- ``rotated``: the digit turned 6-15 degrees;
- ``exif6``, ``exif8``: stored sideways with EXIF orientation 6 or 8, as phones do;
- ``blue_ink``: a blue ballpoint or gel pen;
- ``off_centre``: the digit's centre 15-28% of the side from two edges (a corner of the sheet);
- ``dark_border``: the sheet ends 5-20% from one or two sides, a dark table (40-110) beyond its slanted edge;
- ``all``: every fault at once (the orientation 1, 6 or 8);
- ``small``: the digit 8-16% of the shorter side (a digit a few centimetres tall on a whole page);
- ``small_shadow``, ``small_border``, ``small_all``: a small digit with a soft shadow, with a table's edge
  (here 1-4% of the side clear of the digit), with every fault.

The table's edge never covers the digit (ink does not go past the sheet). ``--blank N`` writes N blank pages
(no digit) of each of BLANK_KINDS instead, as ``OUT/blank_<kind>_<index>.jpg``: they should be refused as blank.

    python -m benchmarks.phone_photos OUT --data-dir ../shared/mnist --per-kind 40 [--seed 0] [--blank 30]
    python -m mnist_rnn predict --ckpt_path CKPT --data.predict_path OUT > answers.csv

Files: ``OUT/<kind>_<index>_<label>.jpg``, the digit's label last: each answer's row names what it should be.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from benchmarks.options import data_folder
from benchmarks.prepare_speed import mnist_test

KINDS = (
    "clean",
    "vignette",
    "soft_shadow",
    "ruled",
    "rotated",
    "exif6",
    "exif8",
    "blue_ink",
    "off_centre",
    "dark_border",
    "all",
    "small",
    "small_shadow",
    "small_border",
    "small_all",
)
BLANK_KINDS = {
    "plain": set(),
    "soft_shadow": {"soft_shadow"},
    "vignette": {"vignette"},
    "ruled_soft_shadow": {"ruled", "soft_shadow"},
    "dark_border": {"dark_border"},
}
SIZES = ((3000, 4000), (4000, 3000), (3024, 4032), (4032, 3024))  # (width, height)


def digit_alpha(digit: np.ndarray, side: int, angle: float) -> np.ndarray:
    """The MNIST digit enlarged to ``side`` pixels, its edges crisp (a marker's), turned by ``angle``."""
    large = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32)
    alpha = np.clip((large - 96) * 4, 0, 255).astype(np.uint8)
    turned = Image.fromarray(alpha).rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    return np.asarray(turned, dtype=np.float32) / 255


def photo(digit: np.ndarray, faults: set[str], rng: np.random.Generator) -> tuple[Image.Image, int]:
    """A phone photo (upright RGB) of ``digit`` with ``faults``, and the EXIF orientation to store it with."""
    width, height = SIZES[rng.integers(len(SIZES))]
    w, h = width // 2, height // 2  # rendered at half size, enlarged at the end
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = x / w - 0.5, y / h - 0.5
    light = 1 + rng.uniform(-0.08, 0.08) * u + rng.uniform(-0.08, 0.08) * v
    light *= 1 - rng.uniform(0.0, 0.12) * (u**2 + v**2) / 0.5  # every phone's fall-off
    if "vignette" in faults:
        light *= 1 - rng.uniform(0.3, 0.55) * ((u**2 + v**2) / 0.5) ** 1.2
        light *= 1 + rng.uniform(-0.2, 0.2) * u + rng.uniform(-0.15, 0.15) * v
    if "soft_shadow" in faults:
        angle = rng.uniform(0, 2 * np.pi)
        if rng.random() < 0.5:  # along a side: the direction is one of the axes
            angle = rng.integers(4) * np.pi / 2 + rng.uniform(-0.15, 0.15)
        along = np.cos(angle) * u + np.sin(angle) * v  # 0 at the centre; up to ~0.7 at a corner
        reach = rng.uniform(0.15, 0.45)  # how far in from the edge the shadow comes
        edge = np.abs(np.cos(angle)) * 0.5 + np.abs(np.sin(angle)) * 0.5 - reach
        soft = rng.uniform(0.03, 0.12)
        light *= 1 - rng.uniform(0.25, 0.5) / (1 + np.exp(-(along - edge) / (soft / 4)))
    paper = np.array([236, 232, 222], dtype=np.float32) * rng.uniform(0.88, 1.0)
    texture = ndimage.zoom(rng.normal(0, 1, (h // 40 + 2, w // 40 + 2)).astype(np.float32), 40, order=1)[:h, :w]
    scene = paper * (1 + 0.01 * texture)[..., None] * np.ones((h, w, 1), np.float32)
    if "ruled" in faults:
        gap = h * rng.uniform(0.05, 0.08)
        line = rng.uniform(2, 4)  # half size: 4-8 pixels in the photo
        phase = (y - rng.uniform(0, gap)) % gap
        rule = np.clip(line / 2 + 0.5 - np.abs(phase - gap / 2), 0, 1)  # antialiased
        scene = scene * (1 - 0.7 * rule[..., None]) + 0.7 * rule[..., None] * np.array([140, 170, 215], np.float32)
        margin = w * rng.uniform(0.08, 0.15)
        red = np.clip(line / 2 + 0.5 - np.abs(x - margin), 0, 1)[..., None]
        scene = scene * (1 - 0.7 * red) + 0.7 * red * np.array([215, 120, 120], np.float32)
    side = int(min(w, h) * (rng.uniform(0.08, 0.16) if "small" in faults else rng.uniform(0.2, 0.45)))
    turn = rng.uniform(6, 15) * rng.choice([-1, 1]) if "rotated" in faults else rng.uniform(-3, 3)
    alpha = digit_alpha(digit, side, turn) * rng.uniform(0.85, 0.97)
    ah, aw = alpha.shape
    if "off_centre" in faults:
        cy = h * (rng.uniform(0.15, 0.28) if rng.random() < 0.5 else rng.uniform(0.72, 0.85))
        cx = w * (rng.uniform(0.15, 0.28) if rng.random() < 0.5 else rng.uniform(0.72, 0.85))
    else:
        cy, cx = h * rng.uniform(0.45, 0.55), w * rng.uniform(0.45, 0.55)
    top = int(np.clip(cy - ah / 2, 0, h - ah))
    left = int(np.clip(cx - aw / 2, 0, w - aw))
    ink = np.array([20, 40, 140] if "blue_ink" in faults else [25, 25, 32], np.float32) * rng.uniform(0.8, 1.2)
    part = scene[top : top + ah, left : left + aw]
    part[:] = part * (1 - alpha[..., None]) + ink * alpha[..., None]
    if "dark_border" in faults:
        table = np.array([90, 70, 50], np.float32) * rng.uniform(0.45, 1.2)
        sides = rng.choice(4, size=rng.integers(1, 3), replace=False)
        outside = np.zeros((h, w), np.float32)
        # How far the digit lies from each side (top, bottom, left, right), as a fraction of that dimension.
        clear = (top / h, 1 - (top + ah) / h, left / w, 1 - (left + aw) / w)
        gap = rng.uniform(0.01, 0.04) if "small" in faults else rng.uniform(0.02, 0.08)
        for s in sides:
            band, slant = rng.uniform(0.05, 0.2), rng.uniform(-0.05, 0.05)
            band = min(band, clear[int(s)] - gap - 0.03)  # the slant moves the edge by up to 0.025
            if band < 0.02:
                continue
            distance = {
                0: -v - (0.5 - band) + slant * u,
                1: v - (0.5 - band) + slant * u,
                2: -u - (0.5 - band) + slant * v,
                3: u - (0.5 - band) + slant * v,
            }[int(s)]
            outside = np.maximum(outside, np.clip(distance * min(w, h) + 0.5, 0, 1))
        wood = table * (1 + 0.05 * texture)[..., None]
        scene = scene * (1 - outside[..., None]) + wood * outside[..., None]
    scene *= light[..., None]
    image = Image.fromarray(np.clip(np.rint(scene), 0, 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    pixels = np.asarray(image, dtype=np.float32)
    noise = rng.standard_normal((height, width), dtype=np.float32) * rng.uniform(2, 5)
    pixels = pixels + noise[..., None]
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    orientation = 1
    if "exif6" in faults:
        orientation = 6
    elif "exif8" in faults:
        orientation = 8
    return image, orientation


def save(image: Image.Image, orientation: int, path: Path) -> None:
    """Saved as a phone does: the sensor's pixels sideways and an EXIF tag to turn them upright."""
    exif = Image.Exif()
    if orientation == 6:  # shown turned 90 degrees clockwise: stored turned counter-clockwise
        image = image.transpose(Image.Transpose.ROTATE_90)
    elif orientation == 8:
        image = image.transpose(Image.Transpose.ROTATE_270)
    exif[0x0112] = orientation
    image.save(path, quality=85, exif=exif)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the folder to write the photos in")
    parser.add_argument("--data-dir", type=data_folder("mnist"), required=True, help="folder holding MNIST/raw/")
    parser.add_argument("--per-kind", type=int, default=40, help="photos of each kind (40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="the kinds to write (all)")
    parser.add_argument("--blank", type=int, default=0, help="write this many blank pages of each kind instead")
    args = parser.parse_args()
    if args.blank:
        args.out.mkdir(parents=True, exist_ok=True)
        for k, (kind, faults) in enumerate(BLANK_KINDS.items()):
            rng = np.random.default_rng([args.seed, 100 + k])
            for i in range(args.blank):
                image, orientation = photo(np.zeros((28, 28), np.uint8), faults, rng)
                save(image, orientation, args.out / f"blank_{kind}_{i:03d}.jpg")
            print(kind, "done", flush=True)
        return
    digits, labels = mnist_test(args.data_dir, len(KINDS) * args.per_kind)
    args.out.mkdir(parents=True, exist_ok=True)
    for k, kind in enumerate(KINDS):
        if kind not in args.kinds:
            continue
        rng = np.random.default_rng([args.seed, k])
        every = {"vignette", "soft_shadow", "ruled", "rotated", "off_centre", "dark_border"}
        faults = {
            "all": every,
            "small": {"small"},
            "small_shadow": {"small", "soft_shadow"},
            "small_border": {"small", "dark_border"},
            "small_all": every | {"small"},
        }.get(kind, {kind})
        for i in range(args.per_kind):
            index = k * args.per_kind + i
            chosen = set(faults)
            if kind in ("all", "small_all"):
                chosen |= {"blue_ink"} if rng.random() < 0.5 else set()
                chosen |= {str(rng.choice(["", "exif6", "exif8"]))}
            image, orientation = photo(digits[index], chosen, rng)
            save(image, orientation, args.out / f"{kind}_{i:03d}_{labels[index]}.jpg")
        print(kind, "done", flush=True)


if __name__ == "__main__":
    main()
