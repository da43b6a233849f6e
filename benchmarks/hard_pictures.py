"""Pictures the digit search once got wrong, measured on this checkout and, with ``--old``, another version.

Twenty-two sets, made here from one seed, each with what is counted:

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
- ``framed_photo``: 200 MNIST test digits (2,500-2,699) written with a marker on paper in uneven light, a
  2000x1500 JPEG (its 28-pixel frame enlarged to 450-675), with a box (turned up to 6 degrees), a rounded box, a
  circle or an ellipse drawn round them in the same ink, 6 (a printed form's box) to 50 pixels (a marker)
  wide, 6-40% of the digit's height clear of it: read right.
- ``framed_canvas``: 400 MNIST test digits (3,000-3,399) drawn on the page with its pen (18-31 pixels wide)
  and framed the same ways with it: read right.
- ``underlined_canvas``: 200 MNIST test digits (3,400-3,599) drawn on the page and underlined with its pen,
  the line 6-30% of the digit's height under it and reaching past it by up to a fifth: read right.
- ``noisy_paper``: 300 MNIST test digits (6,000-6,299) written on paper in uneven light, photographed in the
  dark: a JPEG 100-1000 pixels tall, the digit 40-70% of it, under sensor noise of 20-100 (of 255): read right.
- ``ruled_photo``: 300 MNIST test digits (6,300-6,599) written with a marker in blue or dark ink across the
  lines of a ruled page (lines 2 pixels wide) in uneven light, half with a shadow, a JPEG of 1000x750 or
  750x1000, the digit 35-70% of its shorter side: read right (the lines through the digit once made it one
  region with them, from edge to edge).
- ``speck_in_loop``: the control, 300 MNIST test 0s, 6s, 8s and 9s (from 4,000 on) drawn on the page with
  a dot in their largest loop (10-30% of the loop's width, clear of its strokes): read right.
- ``filling_the_pad``: 400 MNIST test digits (7,000-7,399) drawn on the page with its pen as large as the pad,
  the ink as tall as it (and as wide, where wider), so that strokes run along its edges (a 7's bar along the
  top): read right.
- ``broad_pen``: 600 MNIST test digits (7,400-7,999) drawn with a round pen 8-40 pixels wide along their
  strokes, the ink's box 40-300 pixels, anywhere on a 320x320 canvas, white on black (RGBA, as the page) or
  black on white (RGB), antialiased: a drawing app's, a tablet's or a notebook widget's raw canvas, whose pen
  is not fitted to a small drawing as the page's is: read right.
- ``fitted_pen``: the control, 400 MNIST test digits (8,000-8,399) drawn as the page draws a small digit
  (its ink's box 50-110 pixels), the pen at 0.75-1.25 of its middle width, fitted (``fitPen``) to at most a
  third of the drawing across: read right.
- ``tight_print``: digits 0-9 printed in each font of ``own_digits`` at 60, 120 and 200 pixels, dark on white,
  cropped to the ink's exact box (a screenshot cut to the digit): read right.
- ``cropped_print``: digits 0-9 printed in each font of ``own_digits`` at 40, 80 and 160 pixels, cropped to the
  ink's box and 0-3 pixels of paper, dark on white and light on black (a bold digit is most of such a picture):
  read right.

- ``phone_beside``: 200 MNIST test digits (8,400-8,599) written with a marker on paper in uneven light, 30-50% of
  the photo's height, a JPEG of 1000x750, with a dark phone (a rounded box 18-28% of the width, 55-85% of the
  height, turned up to 15 degrees, cut by the picture's edge where it reaches it) lying beside them: read right
  (the phone, far heavier than the digit, was taken for it).
- ``pencil_on_lines``: 200 MNIST test digits (8,600-8,799) written in pencil (grey 150-175, the ruling's shade,
  strokes 1.5-3% of the digit's height) across the lines of a ruled page in uneven light, a JPEG of 1000x750, the
  digit 35-70% of its height: read right (the pencil's strokes, as faint as the lines in the working copy, made
  one region with them, dropped as a hairline, until the lines were taken away first; see docs/predict.md).

Each version prepares every picture in its own subprocess (its own ``PYTHONPATH``); the network of
``--ckpt-path`` then reads both versions' 28x28 images here.

    python -m benchmarks.hard_pictures --ckpt-path CKPT --data-dir ../shared/mnist [--old ../base] [--sets SET ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageOps
from scipy import ndimage

from benchmarks.options import checkout, data_folder, existing_file
from benchmarks.own_digits import PHOTOGRAPHED, font_of, fonts, page, random_size, sensor_noise, to_image
from benchmarks.prepare_speed import CANVAS, HERE, PHOTO, canvas, mnist_test, run
from mnist_rnn.inference import ProbabilityModel, load_network
from mnist_rnn.preparation import box_around, octagon_footprint, stroke_width

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


def paper_photo(rng: np.random.Generator, ruled: bool, shadow: bool, size: tuple[int, int] = PHOTO) -> np.ndarray:
    """A sheet filling a phone photo of ``size`` (float RGB): off-white, lit unevenly (brighter towards one side
    and corner), with sensor noise; blue ruled lines and a red margin line if ``ruled``; and if ``shadow``, the
    hard-edged shadow of the phone or the hand across one corner, 20-35% darker."""
    width, height = size
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
        lines = Image.new("L", size, 0)
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


FRAMED_PHOTO = (2000, 1500)  # the size of the photos the frames were found on
FRAME_SHAPES = ("box", "rounded", "circle", "ellipse")
FRAME_WIDTHS = (6, 10, 16, 25, 35, 50)  # pixels of FRAMED_PHOTO: a printed form's box to a marker's
PEN = CANVAS / 13  # the page's pen at middle pressure (web/index.html: 0.75-1.25 times this)


def framed(ink: np.ndarray, shape: str, width: float, gap: float, angle: float, supersample: int = 1) -> np.ndarray:
    """``ink`` (a digit, float in [0, 1]) with a frame drawn round it in the same ink: a ``shape`` ("box", turned
    by ``angle`` degrees, "rounded", "circle" or "ellipse"), ``width`` pixels wide and ``gap`` pixels clear of
    the digit's strokes (not of its box: a circle round a 1 is smaller than round a 0). The picture grows to
    hold the frame; drawn ``supersample`` times as large and box-averaged down, for a canvas's soft edge."""
    rows, cols = np.nonzero(ink > 0.5)
    points = np.stack([cols + 0.5, rows + 0.5], axis=1)
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    offsets = points - centre
    turn = np.radians(angle if shape == "box" else 0.0)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    along = offsets @ rotation  # the strokes in the frame's own axes
    if shape in ("box", "rounded"):
        half = np.abs(along).max(axis=0) + gap + (0.1 * min(np.abs(along).max(axis=0)) if shape == "rounded" else 0)
    else:  # the smallest circle or ellipse (as tall and wide as the digit's box) that clears every stroke
        axes = np.ones(2) if shape == "circle" else np.abs(along).max(axis=0)
        half = np.sqrt(((along / axes) ** 2).sum(axis=1)).max() * axes + gap
    reach = float(np.hypot(*half)) + width + 2  # from the centre, however the box is turned
    height, wide = ink.shape
    margin = int(max(0.0, reach - min(centre[0], centre[1], wide - centre[0], height - centre[1]))) + 1
    big = np.pad(ink, margin)
    middle = (centre + margin) * supersample
    layer = Image.new("L", (big.shape[1] * supersample, big.shape[0] * supersample), 0)
    draw = ImageDraw.Draw(layer)
    w, half = width * supersample, half * supersample
    if shape == "box":
        path = [np.array(corner) * (half + w / 2) for corner in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
        corners = [tuple(middle + rotation @ corner) for corner in path]
        draw.line([*corners, corners[0], corners[1]], fill=255, width=round(w), joint="curve")
    else:
        outer = (*(middle - half - w), *(middle + half + w))
        if shape == "rounded":
            draw.rounded_rectangle(outer, radius=float(0.3 * min(half) + w), outline=255, width=round(w))
        else:
            draw.ellipse(outer, outline=255, width=round(w))
    if supersample > 1:
        layer = layer.reduce(supersample)
    return np.maximum(big, np.asarray(layer, dtype=np.float32) / 255)


def framed_photo(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit (28x28) written with a marker, framed in the same ink, on a sheet filling the photo."""
    for shrink in 0.9 ** np.arange(20):  # a smaller digit until the frame fits in the photo
        side = int(FRAMED_PHOTO[1] * rng.uniform(0.3, 0.45) * shrink)
        large = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32)
        ink = np.clip((large - 96) / 64, 0, 1)
        ink = ink[box_around(ink > 0, 1)]
        shape = FRAME_SHAPES[int(rng.integers(len(FRAME_SHAPES)))]
        pen = float(rng.choice(FRAME_WIDTHS))
        drawing = framed(ink, shape, pen, rng.uniform(0.06, 0.4) * ink.shape[0], rng.uniform(-6, 6))
        if drawing.shape[0] < FRAMED_PHOTO[1] - 40 and drawing.shape[1] < FRAMED_PHOTO[0] - 40:
            break
    drawing = ndimage.gaussian_filter(drawing, rng.uniform(0.8, 2.5))  # the camera's blur
    pixels = paper_photo(rng, ruled=False, shadow=False, size=FRAMED_PHOTO)
    height, width = drawing.shape
    top, left = (
        int(rng.integers(20, FRAMED_PHOTO[1] - height - 20)),
        int(rng.integers(20, FRAMED_PHOTO[0] - width - 20)),
    )
    colour = np.array([[25, 28, 40], [30, 40, 120], [90, 90, 95]][int(rng.integers(3))], dtype=np.float32)
    part = pixels[top : top + height, left : left + width]
    part[:] = part * (1 - drawing[..., None]) + colour * drawing[..., None]
    return to_image(pixels)


def noisy_paper(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit (28x28) written on a sheet filling a photo taken in the dark: heavy sensor noise."""
    height = int(rng.uniform(100, 1000))
    size = (int(height * rng.uniform(0.75, 1.34)), height)
    side = int(min(size) * rng.uniform(0.4, 0.7))
    large = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32)
    ink = np.clip(large / 255, 0, 1)
    pixels = paper_photo(rng, ruled=False, shadow=False, size=size) * rng.uniform(0.6, 1.0)  # a dim room
    top, left = int(rng.integers(0, size[1] - side + 1)), int(rng.integers(0, size[0] - side + 1))
    part = pixels[top : top + side, left : left + side]
    part[:] = part * (1 - ink[..., None]) + np.float32(30) * ink[..., None]
    return to_image(sensor_noise(pixels, rng, rng.uniform(20, 100)))


def ruled_photo(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit (28x28) written with a marker across the lines of a ruled page filling the photo."""
    size = PHOTO if rng.random() < 0.5 else PHOTO[::-1]
    pixels = paper_photo(rng, ruled=True, shadow=bool(rng.random() < 0.5), size=size)
    side = int(min(size) * rng.uniform(0.35, 0.7))
    large = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32)
    ink = np.clip(large / 255, 0, 1)[..., None]
    top, left = int(rng.integers(0, size[1] - side + 1)), int(rng.integers(0, size[0] - side + 1))
    colour = np.array([[20, 40, 150], [30, 30, 40]][int(rng.integers(2))], dtype=np.float32)
    part = pixels[top : top + side, left : left + side]
    part[:] = part * (1 - ink) + colour * ink
    return to_image(pixels)


def phone_beside(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit (28x28) written with a marker on paper, a dark phone lying beside it (turned a little)."""
    pixels = paper_photo(rng, ruled=False, shadow=False)
    width, height = PHOTO
    side = int(height * rng.uniform(0.3, 0.5))
    large = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32)
    ink = np.clip(large / 255, 0, 1)[..., None]
    left, top = int(width * rng.uniform(0.05, 0.15)), int(height * rng.uniform(0.1, 0.9) - side / 2)
    top = min(max(top, 0), height - side)
    phone_width, phone_height = int(width * rng.uniform(0.18, 0.28)), int(height * rng.uniform(0.55, 0.85))
    x, y = int(width * rng.uniform(0.62, 0.75)), int(height * rng.uniform(0.05, 0.95) - phone_height / 2)
    layer = Image.new("L", PHOTO, 0)
    ImageDraw.Draw(layer).rounded_rectangle((x, y, x + phone_width, y + phone_height), phone_width // 6, fill=255)
    centre = (x + phone_width / 2, y + phone_height / 2)
    layer = layer.rotate(rng.uniform(-15, 15), Image.Resampling.BICUBIC, center=centre)
    if rng.random() < 0.5:  # the phone on the left, the digit on the right
        layer, left = ImageOps.mirror(layer), width - left - side
    part = pixels[top : top + side, left : left + side]
    part[:] = part * (1 - ink) + np.float32(30) * ink
    phone = np.asarray(layer, dtype=np.float32)[..., None] / 255
    return to_image(pixels * (1 - phone) + phone * np.float32(rng.uniform(15, 40)))


def pencil_on_lines(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit (28x28) written in pencil, as grey and nearly as fine as the ruling, on a ruled page."""
    side = int(PHOTO[1] * rng.uniform(0.35, 0.7))
    mask = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)) > 128
    # The strokes' middles, a pencil's 1.5-3% of the digit's height wide (and broken where MNIST's are uneven).
    target = side * 20 / 28 * rng.uniform(0.015, 0.03)
    depth = ndimage.distance_transform_edt(mask)
    middle = ndimage.maximum_filter(depth, size=max(3, int(stroke_width(mask) / 2)))
    band = mask & (depth >= middle - max(target / 2, 1.5))
    mask &= ndimage.binary_closing(band, iterations=max(1, int(target / 2)))
    ink = ndimage.gaussian_filter(mask.astype(np.float32), rng.uniform(0.6, 1.2))[..., None]
    pixels = paper_photo(rng, ruled=True, shadow=False)
    top, left = int(rng.integers(0, PHOTO[1] - side)), int(rng.integers(0, PHOTO[0] - side))
    part = pixels[top : top + side, left : left + side]
    part[:] = part * (1 - ink) + np.float32(rng.uniform(150, 175)) * ink
    return to_image(pixels)


def on_the_pad(drawing: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A drawing (float in [0, 1], at most CANVAS pixels) as the page posts its pad: white on black, RGBA."""
    pad = np.zeros((CANVAS, CANVAS), dtype=np.float32)
    top, left = (int(rng.integers(0, CANVAS - side + 1)) for side in drawing.shape)
    pad[top : top + drawing.shape[0], left : left + drawing.shape[1]] = drawing
    gray = Image.fromarray(np.rint(pad * 255).astype(np.uint8))
    return Image.merge("RGBA", [gray] * 3 + [Image.new("L", (CANVAS, CANVAS), 255)])


def drawn_with_the_pen(digit: np.ndarray, side: int, pen: float) -> np.ndarray:
    """An MNIST digit enlarged to ``side`` pixels, its strokes widened to the pen's (float in [0, 1], cropped)."""
    large = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32)
    ink = np.clip((large - 96) / 64, 0, 1)  # a 2-pixel antialiased edge, as the canvas draws it
    widen = int(round(pen - stroke_width(ink > 0.5)))
    if widen >= 2:
        ink = ndimage.grey_dilation(ink, footprint=octagon_footprint(widen | 1) if widen >= 7 else np.ones((3, 3)))
    return ink[box_around(ink > 0, 1)]


def framed_canvas(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit drawn on the page with its pen, and a frame drawn round it with the same pen."""
    pen = PEN * rng.uniform(0.75, 1.25)
    shape = FRAME_SHAPES[int(rng.integers(len(FRAME_SHAPES)))]
    gap, angle = rng.uniform(0.06, 0.4), rng.uniform(-6, 6)
    for shrink in 0.9 ** np.arange(20):  # a smaller digit until the frame fits on the pad
        ink = drawn_with_the_pen(digit, int(CANVAS * rng.uniform(0.4, 0.6) * shrink), pen)
        drawing = framed(ink, shape, pen, gap * ink.shape[0], angle, supersample=4)
        drawing = drawing[box_around(drawing > 0, 0)]
        if max(drawing.shape) <= CANVAS:
            break
    return on_the_pad(drawing, rng)


def underlined_canvas(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit drawn on the page with its pen, and underlined with it: a line 6-30% of the digit's height
    under it, at least as wide as 0.6 of its height and reaching past it by up to a fifth, turned by up to 4
    degrees."""
    pen = PEN * rng.uniform(0.75, 1.25)
    ink = drawn_with_the_pen(digit, int(CANVAS * rng.uniform(0.45, 0.65)), pen)
    height, width = ink.shape
    length = max(width, 0.6 * height) * rng.uniform(1.0, 1.4)
    slope = np.tan(np.radians(rng.uniform(-4, 4)))
    below = height + rng.uniform(0.06, 0.3) * height + pen / 2 + abs(slope) * length / 2
    start, end = width / 2 - length / 2, width / 2 + length / 2
    ends = [(start, below - slope * length / 2), (end, below + slope * length / 2)]
    reach = int(np.ceil(max(0.0, -start) + pen))
    size = (int(width + 2 * reach), int(below + abs(slope) * length + pen + 2))
    layer = Image.new("L", (size[0] * 4, size[1] * 4), 0)
    draw = ImageDraw.Draw(layer)
    points = [((x + reach) * 4, y * 4) for x, y in ends]
    draw.line(points, fill=255, width=round(pen * 4))
    for x, y in points:  # the pen's round ends
        draw.ellipse((x - pen * 2, y - pen * 2, x + pen * 2, y + pen * 2), fill=255)
    drawing = np.asarray(layer.reduce(4), dtype=np.float32) / 255
    drawing[:height, reach : reach + width] = np.maximum(drawing[:height, reach : reach + width], ink)
    return on_the_pad(drawing[box_around(drawing > 0, 0)], rng)


def speck_in_loop(digit: np.ndarray, rng: np.random.Generator) -> Image.Image | None:
    """An MNIST digit drawn on the page, with a dot in its largest loop (10-30% of the loop's width, clear of
    its strokes); None when it has no loop of 12 pixels or more across."""
    ink = drawn_with_the_pen(digit, int(CANVAS * rng.uniform(0.6, 0.85)), 0)
    holes, count = ndimage.label(ndimage.binary_fill_holes(ink > 0.5) & (ink < 0.5))
    if count == 0:
        return None
    depth = ndimage.distance_transform_edt(holes == np.bincount(holes.ravel())[1:].argmax() + 1)
    radius = float(depth.max())  # half the loop's width, at its deepest point
    if radius < 6:
        return None
    centre = np.unravel_index(depth.argmax(), depth.shape)
    rows, cols = np.ogrid[: ink.shape[0], : ink.shape[1]]
    dot = np.clip(rng.uniform(0.1, 0.3) * radius + 0.5 - np.hypot(rows - centre[0], cols - centre[1]), 0, 1)
    return on_the_pad(np.maximum(ink, dot), rng)


def filling_the_pad(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit drawn with the page's pen, its ink's box made as tall as the pad (as wide, where wider)."""
    rows, cols = box_around(digit > 0, 0)
    side = int(CANVAS * 28 / max(rows.stop - rows.start, cols.stop - cols.start))  # its box as large as the pad
    ink = drawn_with_the_pen(digit, side, PEN * rng.uniform(0.75, 1.25))[1:-1, 1:-1]  # without the margin
    scale = CANVAS / max(ink.shape)
    size = (min(CANVAS, round(ink.shape[1] * scale)), min(CANVAS, round(ink.shape[0] * scale)))
    return on_the_pad(np.asarray(Image.fromarray(ink).resize(size, Image.Resampling.BILINEAR)), rng)


def skeleton(mask: np.ndarray) -> np.ndarray:
    """A mask's middle lines, one pixel wide (Zhang and Suen's thinning): the path a pen took along its strokes."""
    path = np.pad(mask.astype(np.uint8), 1)
    around = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]  # clockwise from the top
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            p = [np.roll(path, (-dy, -dx), (0, 1)) for dy, dx in around]
            neighbours = sum(p)
            rises = sum((p[i] == 0) & (p[(i + 1) % 8] == 1) for i in range(8))
            first, second = (
                (p[0] * p[2] * p[4], p[2] * p[4] * p[6]) if step == 0 else (p[0] * p[2] * p[6], p[0] * p[4] * p[6])
            )
            gone = (path == 1) & (neighbours >= 2) & (neighbours <= 6) & (rises == 1) & (first == 0) & (second == 0)
            if gone.any():
                path[gone], changed = 0, True
    return path[1:-1, 1:-1].astype(bool)


def pen_path(digit: np.ndarray, extent: float) -> np.ndarray:
    """The path of an MNIST digit's strokes (a 1-pixel skeleton), ``extent`` pixels on its longer side."""
    crop = digit[box_around(digit > 0, 0)]
    scale = max(extent, 4) / max(crop.shape)
    for _ in range(2):  # the skeleton is shorter than the ink it is taken from: once more at the scale it needs
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        path = skeleton(np.pad(np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BICUBIC)) > 100, 2))
        path = path[box_around(path, 0)]
        scale *= max(extent, 4) / max(max(path.shape) - 1, 1)
    return path


def along(path: np.ndarray, pen: float) -> np.ndarray:
    """A round pen ``pen`` pixels wide drawn along ``path``, its edge antialiased (float in [0, 1], cropped)."""
    reach = int(np.ceil(pen / 2)) + 2
    distance = ndimage.distance_transform_edt(~np.pad(path, reach))
    ink = np.clip(pen / 2 - distance + 0.5, 0, 1).astype(np.float32)
    return ink[box_around(ink > 0, 0)]


def broad_pen(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit drawn with a pen 8-40 pixels wide, its ink 40-300 pixels, on a plain 320x320 canvas."""
    size, pen = rng.uniform(40, 300), rng.uniform(8, 40)
    ink = along(pen_path(digit, size - pen), pen)[:CANVAS, :CANVAS]
    if rng.random() < 0.5:
        return on_the_pad(ink, rng)
    pad = np.asarray(on_the_pad(ink, rng).convert("L"))
    return Image.fromarray(255 - pad).convert("RGB")


def fitted_pen(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit drawn small on the page (its ink 50-110 pixels), the pen fitted as ``fitPen`` fits it."""
    size, widest = rng.uniform(50, 110), PEN * rng.uniform(0.75, 1.25)
    path = pen_path(digit, size - min(widest, size / 4))
    return on_the_pad(along(path, min(widest, (max(path.shape) - 1) / 3)), rng)


def tight_print(digit: int, font_path: Path | None, size: int) -> Image.Image:
    """A digit printed dark on white, cropped to its ink's exact box."""
    picture = Image.new("L", (2 * size, 2 * size), 255)
    ImageDraw.Draw(picture).text((size // 2, size // 4), str(digit), fill=0, font=font_of(font_path, size))
    return picture.crop(ImageOps.invert(picture).getbbox())


def cropped_print(digit: int, font_path: Path | None, size: int, margin: int, light_ink: bool) -> Image.Image:
    """:func:`tight_print`'s digit with ``margin`` pixels of paper round its box, dark on white or light on black."""
    picture = ImageOps.expand(tight_print(digit, font_path, size), margin, fill=255)
    return ImageOps.invert(picture) if light_ink else picture


def tiny_on_flat(digit: int, font_path: Path | None, ink: int, paper: int) -> Image.Image:
    picture = Image.new("L", (700, 700), paper)
    ImageDraw.Draw(picture).text((320, 320), str(digit), fill=ink, font=font_of(font_path, 30))
    return picture


SETS = (
    "grey_sheet",
    "two_digit_photo",
    "column_photo",
    "two_digit_canvas",
    "column_canvas",
    "one_digit_canvas",
    "fine_pen",
    "blank_page",
    "tiny_on_flat",
    "framed_photo",
    "framed_canvas",
    "noisy_paper",
    "ruled_photo",
    "speck_in_loop",
    "underlined_canvas",
    "filling_the_pad",
    "tight_print",
    "cropped_print",
    "broad_pen",
    "fitted_pen",
    "phone_beside",
    "pencil_on_lines",
)


def write_sets(root: Path, data_dir: str, seed: int, chosen: tuple[str, ...] = SETS) -> dict[str, list[list[int]]]:
    """The ``chosen`` sets' pictures in ``root/SET/``; returns {set: the digits in each picture, file order}."""
    truth: dict[str, dict[str, list[int]]] = {}

    def save(kind: str, image: Image.Image, digits: list[int], suffix: str = "png") -> None:
        folder = root / kind
        folder.mkdir(exist_ok=True)
        name = f"{len(truth.setdefault(kind, {})):04d}.{suffix}"
        image.save(folder / name, **({"quality": 90} if suffix == "jpg" else {}))
        truth[kind][name] = digits

    font_paths = list(fonts().values())
    if "grey_sheet" in chosen:
        for index in range(300):
            rng = np.random.default_rng([seed, 1, index])
            save("grey_sheet", grey_sheet(index % 10, font_paths[index % len(font_paths)], rng), [index % 10], "jpg")
    for kind, seed_key, column in (("two_digit_photo", 2, False), ("column_photo", 5, True)):
        if kind not in chosen:
            continue
        for kind_index, make in enumerate(PHOTOGRAPHED.values()):
            for index in range(36):
                rng = np.random.default_rng([seed, seed_key, kind_index, index])
                number = int(rng.integers(10, 100))
                text = f"{number // 10}\n{number % 10}" if column else number
                save(kind, make(text, font_paths[index % len(font_paths)], rng), [number // 10, number % 10], "jpg")
    printed = {"grey_sheet", "tiny_on_flat", "tight_print", "cropped_print"}
    digits, labels = mnist_test(data_dir, 10000) if set(chosen) - printed else ([], [])
    for kind, across in (("two_digit_canvas", True), ("column_canvas", False)):
        if kind not in chosen:
            continue
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
    if "one_digit_canvas" in chosen:
        rng = np.random.default_rng([seed, 7])
        for index in range(len(digits)):
            save("one_digit_canvas", canvas(digits[index], rng), [int(labels[index])])
    if "fine_pen" in chosen:
        rng = np.random.default_rng([seed, 8])
        for index in range(500):
            save("fine_pen", fine_pen(digits[2000 + index], rng), [int(labels[2000 + index])], "jpg")
    if "blank_page" in chosen:
        rng = np.random.default_rng([seed, 9])
        for index in range(120):
            save("blank_page", to_image(paper_photo(rng, ruled=index % 2 == 0, shadow=index % 4 < 2)), [], "jpg")
    if "tiny_on_flat" in chosen:
        for digit in range(10):
            for ink, paper in [(0, 255), (255, 0), (110, 190)]:
                save("tiny_on_flat", tiny_on_flat(digit, font_paths[digit % len(font_paths)], ink, paper), [digit])
    if "framed_photo" in chosen:
        rng = np.random.default_rng([seed, 10])
        for index in range(2500, 2700):
            save("framed_photo", framed_photo(digits[index], rng), [int(labels[index])], "jpg")
    if "framed_canvas" in chosen:
        rng = np.random.default_rng([seed, 11])
        for index in range(3000, 3400):
            save("framed_canvas", framed_canvas(digits[index], rng), [int(labels[index])])
    if "noisy_paper" in chosen:
        rng = np.random.default_rng([seed, 14])
        for index in range(6000, 6300):
            save("noisy_paper", noisy_paper(digits[index], rng), [int(labels[index])], "jpg")
    if "ruled_photo" in chosen:
        rng = np.random.default_rng([seed, 15])
        for index in range(6300, 6600):
            save("ruled_photo", ruled_photo(digits[index], rng), [int(labels[index])], "jpg")
    if "speck_in_loop" in chosen:
        rng = np.random.default_rng([seed, 12])
        looped = (index for index in range(4000, len(digits)) if labels[index] in (0, 6, 8, 9))
        while len(truth.get("speck_in_loop", {})) < 300:
            index = next(looped)
            picture = speck_in_loop(digits[index], rng)
            if picture is not None:
                save("speck_in_loop", picture, [int(labels[index])])
    if "underlined_canvas" in chosen:
        rng = np.random.default_rng([seed, 13])
        for index in range(3400, 3600):
            save("underlined_canvas", underlined_canvas(digits[index], rng), [int(labels[index])])
    if "filling_the_pad" in chosen:
        rng = np.random.default_rng([seed, 16])
        for index in range(7000, 7400):
            save("filling_the_pad", filling_the_pad(digits[index], rng), [int(labels[index])])
    if "broad_pen" in chosen:
        rng = np.random.default_rng([seed, 17])
        for index in range(7400, 8000):
            save("broad_pen", broad_pen(digits[index], rng), [int(labels[index])])
    if "fitted_pen" in chosen:
        rng = np.random.default_rng([seed, 18])
        for index in range(8000, 8400):
            save("fitted_pen", fitted_pen(digits[index], rng), [int(labels[index])])
    if "phone_beside" in chosen:
        rng = np.random.default_rng([seed, 19])
        for index in range(8400, 8600):
            save("phone_beside", phone_beside(digits[index], rng), [int(labels[index])], "jpg")
    if "pencil_on_lines" in chosen:
        rng = np.random.default_rng([seed, 20])
        for index in range(8600, 8800):
            save("pencil_on_lines", pencil_on_lines(digits[index], rng), [int(labels[index])], "jpg")
    if "tight_print" in chosen:
        for size in (60, 120, 200):
            for font_path in font_paths:
                for digit in range(10):
                    save("tight_print", tight_print(digit, font_path, size), [digit])
    if "cropped_print" in chosen:
        for size in (40, 80, 160):
            for font_path in font_paths:
                for digit in range(10):
                    for light_ink in (False, True):
                        picture = cropped_print(digit, font_path, size, digit % 4, light_ink)
                        save("cropped_print", picture, [digit])
    for kind, files in truth.items():
        (root / kind / "truth.json").write_text(json.dumps(list(files)))
    return {kind: list(files.values()) for kind, files in truth.items()}


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt-path", type=existing_file, required=True, help="a checkpoint written by fit")
    parser.add_argument(
        "--data-dir", type=data_folder("mnist"), required=True, help="folder holding MNIST/raw/ (for the canvases)"
    )
    parser.add_argument("--old", type=checkout, help="a checkout of the version to compare with")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", nargs="+", choices=SETS, default=SETS, help="the sets to make and measure (all)")
    args = parser.parse_args()
    versions = {"this version": HERE, **({str(args.old): args.old} if args.old else {})}
    model = ProbabilityModel(load_network(args.ckpt_path))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        truth = write_sets(root, args.data_dir, args.seed, tuple(args.sets))
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
