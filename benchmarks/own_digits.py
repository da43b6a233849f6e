"""How well does a checkpoint read digits that are not MNIST's, on the backgrounds users' pictures have?

Renders the digits 0-9 from fonts and runs ``python -m mnist_rnn predict`` on them in-process; prints the
accuracy per kind of background, per font, overall, how sure it was against how often it was right (the
calibration error), and the mistakes. The kinds:

- ``uniform``: dark ink on large, evenly lit canvases, off-centre, in a few sizes and colours (the first
  set this benchmark had, unchanged: 360 PNG files, no blur, no rotation);
- ``surface``: a sheet of paper photographed on a darker (wood, desk) or lighter (white table) surface,
  the sheet a little rotated, covering a third to four fifths of the picture;
- ``rotated_scan``: a scan rotated by 2-15 degrees, the corners filled with white or black;
- ``shadow``: a gradient of light across the page, or the soft-edged shadow of a hand or phone;
- ``vignetting``: a lens's fall-off, the corners at half to two thirds of the centre's brightness;
- ``jpeg_noise``: sensor noise, then a JPEG at quality 15-35 (re-saved as the file's format);
- ``smudges``: faint blots, eraser marks and stray pencil lines beside and over the digit;
- ``transparent``: a drawing app's RGBA PNG, the strokes in black, blue, red or white on transparency.

Every kind but ``uniform`` and ``transparent`` comes as PNG and as JPEG (quality 70-95), and every digit in
them is slightly rotated (up to 8 degrees), more or less blurred, in black, blue or pencil-grey ink, at a
random size and place, with a little sensor noise. Everything is drawn from one seed, so the set is the
same on every run. ``--grid`` saves what the model saw (the prepared 28x28 images, one row of ten digits
per kind, font and format); ``--samples DIR`` saves one generated picture per kind and format to look at.

    python -m benchmarks.own_digits --ckpt-path CKPT [--grid own_digits.png] [--samples DIR] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import itertools
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from torchmetrics.functional.classification import binary_calibration_error

from benchmarks.predict_agreement import run_predict
from mnist_rnn.calibration import N_BINS
from mnist_rnn.preparation import to_mnist
from mnist_rnn.user_images import decode_image

FONT_FOLDER = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSansCondensed.ttf"]
# (canvas size, font size, where the digit's top-left corner goes as a fraction of the free space)
LAYOUTS = [((640, 480), 160, (0.85, 0.2)), ((300, 400), 90, (0.1, 0.8)), ((1000, 800), 400, (0.3, 0.6))]
INKS = [((10, 10, 10), (250, 250, 250)), ((30, 40, 120), (235, 225, 200))]  # black on white; blue on paper
KINDS = ["uniform", "surface", "rotated_scan", "shadow", "vignetting", "jpeg_noise", "smudges", "transparent"]
# Ink colours of the photographed kinds: black pen, blue pen, a soft pencil.
PHOTO_INKS = [(20, 20, 25), (25, 45, 140), (90, 90, 95)]


def fonts() -> dict[str, Path | None]:
    """The DejaVu fonts where installed, and Pillow's own scalable default font everywhere."""
    found: dict[str, Path | None] = {"pillow-default": None}
    found.update({name.removesuffix(".ttf"): FONT_FOLDER / name for name in FONTS if (FONT_FOLDER / name).is_file()})
    return found


def font_of(font_path: Path | None, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size) if font_path is None else ImageFont.truetype(str(font_path), size)


def render(
    digit: int,
    font_path: Path | None,
    canvas: tuple[int, int],
    size: int,
    where: tuple[float, float],
    ink: tuple[int, int, int],
    paper: tuple[int, int, int],
) -> Image.Image:
    """The ``uniform`` kind: a sharp digit on an evenly coloured canvas."""
    font = font_of(font_path, size)
    image = Image.new("RGB", canvas, paper)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font)
    x = int(where[0] * (canvas[0] - (right - left))) - left
    y = int(where[1] * (canvas[1] - (bottom - top))) - top
    draw.text((x, y), str(digit), fill=ink, font=font)
    return image


def digit_coverage(digit: int | str, font_path: Path | None, rng: np.random.Generator, height: int) -> np.ndarray:
    """How much ink covers each pixel (float32 in [0, 1]) of a digit about ``height`` pixels tall:
    slightly rotated and more or less blurred, as a photographed or scanned digit is. A number in a column
    (``"4\\n2"``, for :mod:`benchmarks.hard_pictures`) is about ``height`` tall in all, its digits 0.25-0.7 of
    a digit's height apart."""
    if "\n" in str(digit):
        layer = _column(str(digit).split("\n"), font_of(font_path, int(height * 0.45)), rng)
    else:
        font = font_of(font_path, height)
        left, top, right, bottom = font.getbbox(str(digit))
        pad = height // 2
        layer = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
        ImageDraw.Draw(layer).text((pad - left, pad - top), str(digit), fill=255, font=font)
    layer = layer.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BICUBIC)
    layer = layer.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.03) * height))
    coverage = np.asarray(layer, dtype=np.float32) / 255
    rows, cols = np.nonzero(coverage > 0.01)
    return coverage[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def _column(lines: list[str], font: ImageFont.FreeTypeFont, rng: np.random.Generator) -> Image.Image:
    """``lines`` one over the other, centred, each 0.25-0.7 of the tallest one's height below the one above,
    with a margin around them for the rotation."""
    glyphs = []
    for line in lines:
        left, top, right, bottom = font.getbbox(line)
        glyph = Image.new("L", (right - left, bottom - top), 0)
        ImageDraw.Draw(glyph).text((-left, -top), line, fill=255, font=font)
        glyphs.append(glyph)
    tallest = max(glyph.height for glyph in glyphs)
    gaps = [int(rng.uniform(0.25, 0.7) * tallest) for _ in glyphs[1:]]
    width, height = max(glyph.width for glyph in glyphs), sum(glyph.height for glyph in glyphs) + sum(gaps)
    pad = height // 2
    layer = Image.new("L", (width + 2 * pad, height + 2 * pad), 0)
    top = pad
    for glyph, gap in zip(glyphs, [*gaps, 0], strict=True):
        layer.paste(glyph, (pad + (width - glyph.width) // 2, top))
        top += glyph.height + gap
    return layer


def page(
    digit: int,
    font_path: Path | None,
    rng: np.random.Generator,
    size: tuple[int, int],
    heights: tuple[float, float] = (0.25, 0.6),
) -> np.ndarray:
    """A sheet of paper (RGB float32 0-255, shape (H, W, 3)) with the digit inked somewhere on it, its height
    drawn from ``heights`` (fractions of the sheet's shorter side)."""
    width, height = size
    paper = np.array([rng.uniform(225, 252), rng.uniform(222, 250), rng.uniform(210, 245)], dtype=np.float32)
    ink = np.array(PHOTO_INKS[rng.integers(len(PHOTO_INKS))], dtype=np.float32)
    coverage = digit_coverage(digit, font_path, rng, int(min(size) * rng.uniform(*heights)))
    # Where the digit goes: anywhere, keeping a margin of 5% of the sheet.
    h, w = coverage.shape
    top = int(rng.uniform(0.05, 0.95) * height - h / 2)
    left = int(rng.uniform(0.05, 0.95) * width - w / 2)
    top = int(np.clip(top, 0.05 * height, height - h - 0.05 * height))
    left = int(np.clip(left, 0.05 * width, width - w - 0.05 * width))
    alpha = np.zeros((height, width), dtype=np.float32)
    alpha[top : top + h, left : left + w] = coverage[: height - top, : width - left]
    # Real ink is never perfectly opaque, nor perfectly even.
    alpha *= rng.uniform(0.8, 1.0)
    sheet = np.broadcast_to(paper, (height, width, 3)).copy()
    return sheet * (1 - alpha[..., None]) + ink * alpha[..., None]


def sensor_noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    return image + rng.normal(0, sigma, image.shape[:2])[..., None].astype(np.float32)


def to_image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def random_size(rng: np.random.Generator) -> tuple[int, int]:
    """A picture size as cameras and scanners give them, landscape or portrait."""
    width, height = int(rng.uniform(300, 900)), int(rng.uniform(300, 900))
    return width, height


def surface(digit: int, font_path: Path | None, rng: np.random.Generator) -> Image.Image:
    """A sheet lying a little askew on a darker surface, or a greyish sheet on a white table."""
    canvas = random_size(rng)
    darker = rng.random() < 0.6
    colour = (
        (rng.uniform(40, 130), rng.uniform(30, 100), rng.uniform(20, 80))  # wood, a desk
        if darker
        else (rng.uniform(245, 255),) * 3  # a white table under grey recycled paper
    )
    fraction = rng.uniform(0.6, 0.9)  # of the picture's width and height the sheet covers (36-81% of its area)
    sheet_size = (int(canvas[0] * fraction), int(canvas[1] * fraction))
    sheet = page(digit, font_path, rng, sheet_size)
    if not darker:
        sheet *= rng.uniform(0.78, 0.88)  # recycled paper, in the table's light
    sheet_image = to_image(sheet).convert("RGBA").rotate(rng.uniform(-10, 10), expand=True)
    photo = Image.new("RGBA", canvas, tuple(int(c) for c in colour) + (255,))
    x = int(rng.uniform(0, 1) * (canvas[0] - sheet_image.width)) if canvas[0] > sheet_image.width else 0
    y = int(rng.uniform(0, 1) * (canvas[1] - sheet_image.height)) if canvas[1] > sheet_image.height else 0
    photo.alpha_composite(sheet_image, (x, y))
    return to_image(sensor_noise(np.asarray(photo.convert("RGB"), dtype=np.float32), rng, rng.uniform(1, 4)))


def rotated_scan(digit: int, font_path: Path | None, rng: np.random.Generator) -> Image.Image:
    """A scan turned by 2-15 degrees, the new corners filled with white or black, as scanning software does."""
    scan = to_image(sensor_noise(page(digit, font_path, rng, random_size(rng)), rng, rng.uniform(0.5, 2)))
    angle = rng.choice([-1, 1]) * rng.uniform(2, 15)
    fill = (255, 255, 255) if rng.random() < 0.5 else (0, 0, 0)
    return scan.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)


def shadow(digit: int, font_path: Path | None, rng: np.random.Generator) -> Image.Image:
    """Light falling off across the page, or a soft shadow (a hand, a phone) over part of it."""
    width, height = size = random_size(rng)
    sheet = page(digit, font_path, rng, size)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    # Position along a random direction, 0 at one side of the picture and 1 at the other.
    along = cols * np.cos(angle) + rows * np.sin(angle)
    along = (along - along.min()) / (along.max() - along.min())
    if rng.random() < 0.5:
        light = 1 - rng.uniform(0.4, 0.55) * along  # a gradient
    else:
        edge, softness = rng.uniform(0.3, 0.7), rng.uniform(0.03, 0.15)
        light = 1 - rng.uniform(0.35, 0.5) / (1 + np.exp(-(along - edge) / softness))  # a soft shadow
    return to_image(sensor_noise(sheet * light[..., None], rng, rng.uniform(1, 3)))


def vignetting(digit: int, font_path: Path | None, rng: np.random.Generator) -> Image.Image:
    """A lens's fall-off: bright in the middle, the corners at 45-65% of that."""
    width, height = size = random_size(rng)
    sheet = page(digit, font_path, rng, size)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    radius2 = ((cols - width / 2) / (width / 2)) ** 2 + ((rows - height / 2) / (height / 2)) ** 2  # 2 at corners
    light = 1 - (1 - rng.uniform(0.45, 0.65)) * (radius2 / 2) ** rng.uniform(0.8, 1.5)
    return to_image(sensor_noise(sheet * light[..., None], rng, rng.uniform(1, 3)))


def jpeg_noise(digit: int, font_path: Path | None, rng: np.random.Generator) -> Image.Image:
    """A dim phone picture: strong sensor noise, then compressed hard as a JPEG."""
    sheet = page(digit, font_path, rng, random_size(rng)) * rng.uniform(0.7, 1.0)
    noisy = to_image(sensor_noise(sheet, rng, rng.uniform(6, 14)))
    buffer = io.BytesIO()
    noisy.save(buffer, "JPEG", quality=int(rng.uniform(15, 35)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def smudges(digit: int, font_path: Path | None, rng: np.random.Generator) -> Image.Image:
    """Faint blots, eraser marks and stray pencil lines, some of them close to or over the digit."""
    width, height = size = random_size(rng)
    sheet = page(digit, font_path, rng, size)
    marks = Image.new("L", size, 0)
    draw = ImageDraw.Draw(marks)
    for _ in range(rng.integers(3, 8)):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        strength = int(rng.uniform(0.08, 0.25) * 255)  # faint: a tenth to a quarter of the ink's darkness
        if rng.random() < 0.5:
            rx, ry = rng.uniform(0.02, 0.12) * width, rng.uniform(0.02, 0.12) * height
            draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=strength)
        else:
            length, turn = rng.uniform(0.1, 0.4) * min(size), rng.uniform(0, np.pi)
            end = (x + length * np.cos(turn), y + length * np.sin(turn))
            draw.line((x, y, *end), fill=strength, width=int(rng.uniform(0.005, 0.02) * min(size)) + 1)
    marks = marks.filter(ImageFilter.GaussianBlur(rng.uniform(0.005, 0.02) * min(size)))
    darkness = np.asarray(marks, dtype=np.float32)[..., None] / 255
    grime = np.array([90, 85, 80], dtype=np.float32)  # greyish-brown dirt
    sheet = sheet * (1 - darkness) + grime * darkness
    return to_image(sensor_noise(sheet, rng, rng.uniform(1, 3)))


def transparent(digit: int, font_path: Path | None, rng: np.random.Generator) -> Image.Image:
    """A drawing app's export: the strokes in one colour, everything else fully transparent."""
    side = int(rng.uniform(200, 600))
    coverage = digit_coverage(digit, font_path, rng, int(side * rng.uniform(0.4, 0.8)))
    h, w = coverage.shape
    alpha = np.zeros((side, side), dtype=np.float32)
    top, left = int(rng.uniform(0, max(1, side - h))), int(rng.uniform(0, max(1, side - w)))
    alpha[top : top + h, left : left + w] = coverage[: side - top, : side - left]
    colour = [(0, 0, 0), (20, 60, 200), (200, 30, 30), (255, 255, 255)][rng.integers(4)]
    pixels = np.zeros((side, side, 4), dtype=np.uint8)
    pixels[..., :3] = colour
    pixels[..., 3] = np.rint(alpha * 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGBA")


PHOTOGRAPHED = {
    "surface": surface,
    "rotated_scan": rotated_scan,
    "shadow": shadow,
    "vignetting": vignetting,
    "jpeg_noise": jpeg_noise,
    "smudges": smudges,
}


def generate(folder: Path, seed: int) -> dict[str, int]:
    """Write every image into ``folder``; return {file name: digit}. Names are ``kind_font_variant_digit.ext``."""
    truth = {}
    for (font, path), (layout_index, layout), (ink_index, (ink, paper)) in itertools.product(
        fonts().items(), enumerate(LAYOUTS), enumerate(INKS)
    ):
        for digit in range(10):
            name = f"uniform_{font}_l{layout_index}i{ink_index}_{digit}.png"
            render(digit, path, *layout, ink, paper).save(folder / name)
            truth[name] = digit
    for kind_index, kind in enumerate(KINDS[1:], start=1):
        for font_index, (font, path) in enumerate(fonts().items()):
            for digit in range(10):
                # One generator per image: adding a kind or a font does not change the others' images.
                rng = np.random.default_rng([seed, kind_index, font_index, digit])
                if kind == "transparent":
                    name = f"{kind}_{font}_rgba_{digit}.png"
                    transparent(digit, path, rng).save(folder / name)
                    truth[name] = digit
                    continue
                for suffix in ("png", "jpg"):
                    name = f"{kind}_{font}_{suffix}_{digit}.{suffix}"
                    image = PHOTOGRAPHED[kind](digit, path, rng)
                    if suffix == "jpg":
                        image.save(folder / name, quality=int(rng.uniform(70, 95)))
                    else:
                        image.save(folder / name)
                    truth[name] = digit
    return truth


def save_grid(folder: Path, truth: dict[str, int], out: Path) -> None:
    """The prepared 28x28 images, one row of ten digits per kind, font and variant, kinds apart by a gap."""
    stems = sorted({name.rsplit("_", 1)[0] for name in truth}, key=lambda s: (KINDS.index(kind_of(s)), s))
    rows, previous_kind = [], None
    for stem in stems:
        kind = kind_of(stem)
        if previous_kind is not None and kind != previous_kind:
            rows.append(np.full((6, 280), 80, dtype=np.uint8))  # a grey gap between kinds
        previous_kind = kind
        names = sorted((n for n in truth if n.rsplit("_", 1)[0] == stem), key=lambda n: truth[n])
        rows.append(np.concatenate([to_mnist(decode_image(folder / n))[0].numpy() for n in names], 1))
    grid = np.concatenate(rows)
    Image.fromarray(grid).save(out)


def kind_of(name: str) -> str:
    return next(kind for kind in sorted(KINDS, key=len, reverse=True) if name.startswith(kind + "_"))


def calibration_summary(truth: dict[str, int], predicted: dict[str, tuple[str, str]]) -> str:
    """Do the probabilities mean what they say on these pictures, which are not MNIST's? The mean top
    probability against the share read right, their calibration error (ECE, the test's 15 bins), and how
    sure the wrong answers were; rows without a probability (blank, error) are left out."""
    answered = [name for name in truth if predicted[name][0] not in ("blank", "error")]
    confidence = torch.tensor([float(predicted[name][1]) for name in answered])
    right = torch.tensor([predicted[name][0] == str(truth[name]) for name in answered]).long()
    ece = float(binary_calibration_error(confidence, right, n_bins=N_BINS, norm="l1"))
    wrong = confidence[right == 0]
    sure_of_wrong = f"{wrong.median():.2f}" if len(wrong) else "-"
    return (
        f"calibration: mean top probability {confidence.mean():.1%}, read right {right.float().mean():.1%} "
        f"(ECE {ece:.1%}, {N_BINS} bins); the wrong answers' median probability {sure_of_wrong}"
    )


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt-path", type=Path, required=True, help="a checkpoint written by fit")
    parser.add_argument("--grid", type=Path, help="save the prepared digits as one PNG here")
    parser.add_argument("--samples", type=Path, help="copy one generated picture per kind and format here")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated pictures")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder, workdir = Path(tmp) / "digits", Path(tmp) / "run"
        folder.mkdir()
        workdir.mkdir()
        truth = generate(folder, args.seed)
        predicted = run_predict(args.ckpt_path.resolve(), folder, workdir)
        if args.grid:
            save_grid(folder, truth, args.grid)
        if args.samples:
            args.samples.mkdir(parents=True, exist_ok=True)
            for name in truth:  # the 3 in DejaVu Sans, in each kind and format (one layout of the uniform ones)
                if "_DejaVuSans_" in name and name.rsplit(".")[0].endswith("_3") and "_l0i0" not in name:
                    if not name.startswith("uniform_") or "_l0i1_" in name:
                        shutil.copy(folder / name, args.samples / name)

    per_kind: dict[str, list[bool]] = defaultdict(list)
    per_font: dict[str, list[bool]] = defaultdict(list)
    mistakes = []
    for name, digit in truth.items():
        said = predicted[name][0]
        right = said == str(digit)
        per_kind[kind_of(name)].append(right)
        per_font[name.removeprefix(kind_of(name) + "_").split("_")[0]].append(right)
        if not right:
            mistakes.append(f"{name}: read as {said} ({predicted[name][1]})")
    total = sum(sum(v) for v in per_kind.values())
    print(f"own digits (seed {args.seed}): {total}/{len(truth)} correct ({total / len(truth):.1%})")
    print(f"  {'kind':14s} {'correct':>9s} {'accuracy':>9s}")
    for kind in KINDS:
        results = per_kind[kind]
        print(f"  {kind:14s} {sum(results):>4d}/{len(results):<4d} {sum(results) / len(results):>9.1%}")
    print("  per font:", ", ".join(f"{font} {sum(r)}/{len(r)}" for font, r in per_font.items()))
    print(f"  {calibration_summary(truth, predicted)}")
    for line in sorted(mistakes):
        print(f"  wrong: {line}")


if __name__ == "__main__":
    main_cli()
