"""Pictures the digit search once got wrong, measured on this checkout and, with ``--old``, another version.

Seven sets, made here from one seed, each with what is counted:

- ``grey_sheet``: a small printed digit (10-24% of the sheet's shorter side) on grey recycled paper lying
  on a white table, photographed: the sheet is darker than the table, so the background's opening leaves
  a wedge of "ink" in each of its corners. Read right, and warned "more than one digit" (all hold one).
- ``two_digit_photo``: two-digit numbers in ``own_digits``' six photographed kinds: warned, and the answer
  one of the two digits.
- ``two_digit_canvas``: two MNIST test digits side by side, drawn as the page posts its pad: warned, and the
  answer one of the two digits.
- ``column_photo``, ``column_canvas``: the same, the two digits one over the other (a number written in a
  column), 0.25-0.7 of a digit's height apart in the photos, -4 to 5 pixels (of 28) in the canvases.
- ``tiny_on_flat``: a 30-pixel digit in a flat 700x700 picture (a screenshot), dark on light, light on dark
  and grey on grey: read right.
- ``one_digit_canvas``: the 10,000 MNIST test digits, each drawn alone on the page, the control: read
  right, and warned (falsely).
- ``fine_pen``: 500 MNIST test digits written with a fine pen or a pencil (strokes 1-4% of the digit's
  height, dark ink or grey) on paper photographed in uneven light, a JPEG of 1000x750: read right.
- ``blank_page``: 120 photos of blank paper, plain or ruled, in uneven light, half with the hard edge of a
  phone's or a hand's shadow across them: refused as blank.

Each version prepares every picture in its own subprocess (its own ``PYTHONPATH``); the network of
``--ckpt-path`` then reads both versions' 28x28 images here.

    python -m benchmarks.hard_pictures --ckpt-path CKPT --data-dir ../shared/mnist [--old ../base]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

from benchmarks.options import checkout, existing_file
from benchmarks.own_digits import PHOTOGRAPHED, font_of, fonts, page, random_size, sensor_noise, to_image
from benchmarks.prepare_speed import HERE, PHOTO, canvas, mnist_test, run
from mnist_rnn.inference import ProbabilityModel, load_network
from mnist_rnn.preparation import stroke_width

# Run in each version's interpreter: prepare every picture of each set; save the images and the warnings.
WORKER = """
import json, sys
from pathlib import Path
import numpy as np
from mnist_rnn.preparation import prepare
from mnist_rnn.user_images import decode_image
root = Path(sys.argv[1])
for folder in sorted(path for path in root.iterdir() if path.is_dir()):
    files = json.loads((folder / "truth.json").read_text())
    prepared = [prepare(decode_image(folder / name)) for name in files]
    np.save(root / f"{folder.name}.{sys.argv[2]}.npy", np.stack([p.pixels.numpy() for p in prepared]))
    np.save(root / f"{folder.name}.{sys.argv[2]}.several.npy", np.array([p.several for p in prepared]))
"""


def grey_sheet(digit: int, font_path: Path | None, rng: np.random.Generator) -> Image.Image:
    """A small digit on a sheet of grey paper lying a little askew on a white table."""
    size = random_size(rng)
    fraction = rng.uniform(0.6, 0.9)
    sheet = page(digit, font_path, rng, (int(size[0] * fraction), int(size[1] * fraction)), heights=(0.1, 0.24))
    sheet *= rng.uniform(0.78, 0.88)  # recycled paper, in the table's light
    sheet_image = to_image(sheet).convert("RGBA").rotate(rng.uniform(-10, 10), expand=True)
    photo = Image.new("RGBA", size, (int(rng.uniform(245, 255)),) * 3 + (255,))
    at = [int(rng.uniform(0, max(1, side - inner))) for side, inner in zip(size, sheet_image.size, strict=True)]
    photo.alpha_composite(sheet_image, tuple(at))
    return to_image(sensor_noise(np.asarray(photo.convert("RGB"), dtype=np.float32), rng, rng.uniform(1, 4)))


def paper_photo(rng: np.random.Generator, ruled: bool, shadow: bool) -> np.ndarray:
    """A sheet filling a phone photo (float RGB): off-white, lit unevenly (brighter towards one side and
    corner), with sensor noise; blue ruled lines and a red margin line if ``ruled``; and if ``shadow``, the
    hard-edged shadow of the phone or the hand across one corner, 20-35% darker."""
    height, width = PHOTO[1], PHOTO[0]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    slope_x, slope_y = rng.uniform(-0.3, 0.3), rng.uniform(-0.15, 0.15)
    light = 1 + slope_x * (x / width - 0.5) + slope_y * (y / height - 0.5)
    if shadow:
        angle, reach = rng.uniform(0, 2 * np.pi), rng.uniform(0.25, 0.5)
        along = np.cos(angle) * (x / width - 0.5) + np.sin(angle) * (y / height - 0.5)
        light = light * np.where(along > 0.5 - reach, 1 - rng.uniform(0.2, 0.35), 1.0)
    sheet = np.array([238, 233, 222], dtype=np.float32) * rng.uniform(0.9, 1.0)
    pixels = light[..., None] * sheet
    if ruled:
        lines = Image.new("L", PHOTO, 0)
        draw = ImageDraw.Draw(lines)
        gap, start = int(height * rng.uniform(0.06, 0.1)), int(rng.uniform(10, 40))
        for row in range(start, height, gap):
            draw.line([(0, row), (width, row)], fill=255, width=2)
        margin = np.asarray(lines, dtype=np.float32)[..., None] / 255
        pixels = pixels * (1 - margin) + margin * np.array([150, 175, 215], dtype=np.float32) * light[..., None]
    return sensor_noise(pixels, rng, rng.uniform(1, 4))


def fine_pen(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit (28x28) written with a fine pen or a pencil on a photographed sheet: enlarged to 35-70%
    of the photo's height, its strokes thinned to 1-4% of its height (the band of that width along each
    stroke's middle: the pixels as far from the edge as the farthest near them, less half the width), in dark
    ink or pencil grey."""
    side = int(PHOTO[1] * rng.uniform(0.35, 0.7))
    mask = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)) > 128
    target = side * 20 / 28 * rng.uniform(0.01, 0.04)  # MNIST's digits are 20 of their 28 pixels tall
    depth = ndimage.distance_transform_edt(mask)
    middle = ndimage.maximum_filter(depth, size=max(3, int(stroke_width(mask) / 2)))
    band = mask & (depth >= middle - max(target / 2, 1.5))
    mask = mask & ndimage.binary_closing(band, iterations=max(1, int(target / 2)))  # the band's gaps mended
    ink = ndimage.gaussian_filter(mask.astype(np.float32), rng.uniform(0.6, 1.5))
    pixels = paper_photo(rng, ruled=bool(rng.integers(2)), shadow=False)
    top, left = (int(rng.integers(0, limit - side)) for limit in (PHOTO[1], PHOTO[0]))
    colour = np.array([30, 30, 50] if rng.integers(2) else [110, 110, 110], dtype=np.float32)
    part = pixels[top : top + side, left : left + side]
    part[:] = part * (1 - ink[..., None]) + colour * ink[..., None]
    return to_image(pixels)


def tiny_on_flat(digit: int, font_path: Path | None, ink: int, paper: int) -> Image.Image:
    picture = Image.new("L", (700, 700), paper)
    ImageDraw.Draw(picture).text((320, 320), str(digit), fill=ink, font=font_of(font_path, 30))
    return picture


def write_sets(root: Path, data_dir: str, seed: int) -> dict[str, list[list[int]]]:
    """Every set's pictures in ``root/SET/``; returns {set: the digits in each picture, file order}."""
    truth: dict[str, dict[str, list[int]]] = {}

    def save(kind: str, image: Image.Image, digits: list[int], suffix: str = "png") -> None:
        folder = root / kind
        folder.mkdir(exist_ok=True)
        name = f"{len(truth.setdefault(kind, {})):04d}.{suffix}"
        image.save(folder / name, **({"quality": 90} if suffix == "jpg" else {}))
        truth[kind][name] = digits

    font_paths = list(fonts().values())
    for index in range(300):
        rng = np.random.default_rng([seed, 1, index])
        save("grey_sheet", grey_sheet(index % 10, font_paths[index % len(font_paths)], rng), [index % 10], "jpg")
    for kind_index, make in enumerate(PHOTOGRAPHED.values()):
        for index in range(36):
            rng = np.random.default_rng([seed, 2, kind_index, index])
            number = int(rng.integers(10, 100))
            image = make(number, font_paths[index % len(font_paths)], rng)
            save("two_digit_photo", image, [number // 10, number % 10], "jpg")
    for kind_index, make in enumerate(PHOTOGRAPHED.values()):
        for index in range(36):
            rng = np.random.default_rng([seed, 5, kind_index, index])
            number = int(rng.integers(10, 100))
            image = make(f"{number // 10}\n{number % 10}", font_paths[index % len(font_paths)], rng)
            save("column_photo", image, [number // 10, number % 10], "jpg")
    digits, labels = mnist_test(data_dir, 10000)
    for kind, across in (("two_digit_canvas", True), ("column_canvas", False)):
        rng = np.random.default_rng([seed, 3] if across else [seed, 6])
        for _ in range(400):
            first, second = rng.integers(0, 2000, size=2)  # pairs of the first 2,000 test digits
            gap = int(rng.integers(-4, 6))  # MNIST's digits have about 4 black pixels each side: -4 nearly touches
            pair = np.zeros((28, 56 + gap), dtype=np.uint8)  # side by side; turned below for a column
            pair[:, :28] = digits[first] if across else digits[first].T
            pair[:, 28 + gap :] = np.maximum(pair[:, 28 + gap :], digits[second] if across else digits[second].T)
            square = np.zeros((pair.shape[1], pair.shape[1]), dtype=np.uint8)
            square[(pair.shape[1] - 28) // 2 :][:28] = pair
            save(kind, canvas(square if across else square.T, rng), [int(labels[first]), int(labels[second])])
    rng = np.random.default_rng([seed, 7])
    for index in range(len(digits)):
        save("one_digit_canvas", canvas(digits[index], rng), [int(labels[index])])
    rng = np.random.default_rng([seed, 8])
    for index in range(500):
        save("fine_pen", fine_pen(digits[2000 + index], rng), [int(labels[2000 + index])], "jpg")
    rng = np.random.default_rng([seed, 9])
    for index in range(120):
        save("blank_page", to_image(paper_photo(rng, ruled=index % 2 == 0, shadow=index % 4 < 2)), [], "jpg")
    for digit in range(10):
        for ink, paper in [(0, 255), (255, 0), (110, 190)]:
            save("tiny_on_flat", tiny_on_flat(digit, font_paths[digit % len(font_paths)], ink, paper), [digit])
    for kind, files in truth.items():
        (root / kind / "truth.json").write_text(json.dumps(list(files)))
    return {kind: list(files.values()) for kind, files in truth.items()}


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt-path", type=existing_file, required=True, help="a checkpoint written by fit")
    parser.add_argument("--data-dir", required=True, help="folder holding MNIST/raw/ (for the canvases)")
    parser.add_argument("--old", type=checkout, help="a checkout of the version to compare with")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    versions = {"this version": HERE, **({str(args.old): args.old} if args.old else {})}
    model = ProbabilityModel(load_network(args.ckpt_path))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        truth = write_sets(root, args.data_dir, args.seed)
        results: dict[str, dict[str, tuple[int, int]]] = {}
        for number, (name, folder) in enumerate(versions.items()):
            run(folder, ["-c", WORKER, str(root), str(number)], root)
            for kind, digits in truth.items():
                images = torch.from_numpy(np.load(root / f"{kind}.{number}.npy"))
                with torch.inference_mode():
                    outputs = model(images)
                answers = (outputs[0] if isinstance(outputs, tuple) else outputs).argmax(1).tolist()
                warned = int(np.load(root / f"{kind}.{number}.several.npy").sum())
                right = sum(answer in shown for answer, shown in zip(answers, digits, strict=True))
                if not digits[0]:  # blank pictures: right when refused (all black, as prepare's blank() is)
                    right = int((images.flatten(1).amax(1) == 0).sum())
                results.setdefault(kind, {})[name] = (right, warned)

    print(f"| set | pictures | counted | {' | '.join(versions)} |")
    print(f"|---|---|---|{'---|' * len(versions)}")
    for kind, by_version in results.items():
        pictures = len(truth[kind])
        right = {0: "refused as blank", 1: "read right"}.get(len(truth[kind][0]), "answer is one of the digits")
        for label, column in ((right, 0), ("warned: more than one digit", 1)):
            print(f"| {kind} | {pictures} | {label} | {' | '.join(str(v[column]) for v in by_version.values())} |")


if __name__ == "__main__":
    main_cli()
