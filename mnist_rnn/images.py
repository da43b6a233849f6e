"""Users' own images -> MNIST-style 28x28 uint8 tensors (predict time only).

A model trained on MNIST has only ever seen one kind of picture: a light digit on a black background,
scaled so its longer side is 20 pixels and placed in a 28x28 frame with its centre of mass in the middle.
A photo of dark ink on paper, a scan, or a drawing app's PNG with a transparent background looks nothing
like that, so :func:`prepare` finds the digit in it and redoes MNIST's own normalisation. An image that
already looks like MNIST goes through unchanged, or at most shifted by one pixel.

:class:`UserImages` holds a whole set of them for ``predict``: the prepared tensors, the files they came
from, the files that could not be read and the images in which no digit was found.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import Tensor
from torch.utils.data import Dataset

from mnist_rnn.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
FRAME = 28  # MNIST's image size
BOX = 20  # MNIST's digits fit a 20x20 box inside the frame
CENTRE = 14.0  # where MNIST's centres of mass lie (mean over the test set: 13.99 down, 14.01 across)
# Finding the digit happens on a copy at most this many pixels on its longer side (enough to see a digit,
# small enough to be quick); the digit itself is then cut from the full-resolution image.
WORKING_SIZE = 256
# The background is what an opening with a square this fraction of the shorter side leaves: anything
# narrower (a pen stroke) is ink; anything wider (a sheet, a table, a shadow, the light's fall-off) is not.
BACKGROUND_WINDOW = 1 / 3
MIN_WINDOW = 15  # pixels: in a small image a bold stroke's blob is up to 9 across (MNIST's 28x28 ones)
STRONG, WEAK = 0.5, 0.2  # of the digit's peak: a digit has strokes above STRONG; its extent is above WEAK
INK = 0.05  # of the digit's peak: the crop box holds the pixels above this, not the faintest edge
# A region with fewer pixels than this times its longer side squared is a hairline, not a digit (a thin
# MNIST 1 has about 0.1; the sliver along a sheet's edge 0.01).
HAIRLINE = 0.04
LIGHT_INK = 0.35  # above this fraction of light pixels, the light part is paper (see _ink_is_dark)
# A light region is paper when it is shaped like a sheet (see _looks_like_a_sheet): at least SHEET_SIZE of
# the picture's shorter side wide in every direction, filling SHEET_SOLIDITY of its convex hull once the
# ink on it is filled in, and with an outline of at most SHEET_CORNERS corners (four, or a few more where
# the picture's edge cuts it) when straightened within CORNER_TOLERANCE of its diagonal. A digit's own
# outline, however bold, is rounded: ten corners or more at that tolerance.
SHEET_SIZE, SHEET_SOLIDITY, SHEET_CORNERS, CORNER_TOLERANCE = 0.2, 0.9, 6, 0.03
# Only photos are looked at for a sheet: in an image smaller than this (MNIST's own 28x28), a digit's
# outline is a few pixels across and can straighten into a few corners (1 of MNIST's 10,000 test digits).
SHEET_MIN_SIDE = 64
RING_NEAR, RING_FAR = 3, 6  # working pixels: where a stroke's surroundings are (see _stands_out)
NO_CONTRAST = 0.05  # no pixel stands out from its surroundings by this much (of full scale): a blank image


class ImageError(UserError):
    """A file that cannot be read as an image; the message names the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def find_images(path_or_glob: str | Path) -> list[Path]:
    """The image files a user means: one file, the images in a folder, or the images a glob matches.

    A file named explicitly is always taken, whatever its suffix, so that a bad file is reported rather
    than skipped; in a folder or a glob only files with an image suffix count. Sorted, for a stable order.
    """
    path = Path(path_or_glob)
    if path.is_file():
        return [path]
    if path.is_dir():
        candidates = path.iterdir()
    else:
        candidates = (Path(p) for p in glob.glob(str(path_or_glob), recursive=True))
    found = sorted(p for p in candidates if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise UserError(f"no images found at {path_or_glob} (looked for {', '.join(IMAGE_SUFFIXES)} files)")
    return found


def load_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image, so an empty, truncated or non-image file fails here, naming itself.

    PIL opens files lazily; ``load()`` forces the decoding that finds truncated data. Of an animated GIF
    only the first frame is read.
    """
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except FileNotFoundError as error:
        raise ImageError(path, "no such file") from error
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        # PIL's UnidentifiedImageError (not an image, or empty) is an OSError, as is "image file is truncated".
        reason = "empty file" if Path(path).stat().st_size == 0 else str(error).strip() or type(error).__name__
        raise ImageError(path, f"not a readable image ({reason})") from error


class UserImages(Dataset):
    """Users' images prepared for the model, and where each came from: the one record ``predict`` keeps.

    ``images[i]`` was prepared from ``files[i]``, and ``blank[i]`` says that no digit was found in it;
    the files that could not be read are in ``failures``, each with its reason, and have no image. A
    DataLoader batch is ``(images uint8 (B, 1, 28, 28), indices)``: the indices point into ``files``, so
    whoever writes the predictions knows which file each row is about.
    """

    def __init__(self, files: list[Path], images: Tensor, blank: list[bool], failures: list[tuple[Path, str]]) -> None:
        if not len(files) == len(images) == len(blank):
            raise ValueError(f"{len(files)} files, {len(images)} images and {len(blank)} blank flags")
        self.files = files
        self.images = images
        self.blank = blank
        self.failures = failures

    @classmethod
    def load(cls, path_or_glob: str | Path) -> UserImages:
        """Read and prepare every image up front: a bad file is recorded with its reason, the others go on."""
        files, images, blank, failures = [], [], [], []
        for path in find_images(path_or_glob):
            try:
                prepared = prepare(load_image(path))
            except ImageError as error:
                failures.append((path, error.reason))
            else:
                files.append(path)
                images.append(prepared.pixels)
                blank.append(prepared.blank)
        stacked = torch.stack(images) if images else torch.zeros(0, 1, FRAME, FRAME, dtype=torch.uint8)
        return cls(files, stacked, blank, failures)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], torch.tensor(index)

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        """A whole batch in one gather (see :class:`mnist_rnn.data.InMemoryImages`)."""
        index = torch.as_tensor(indices)
        return self.images.index_select(0, index), index

    def save(self, folder: str | Path) -> list[Path]:
        """Write each prepared image as a 28x28 PNG named after its file: ``scan.jpg`` -> ``scan.png``; a
        second file with the same stem (``scan.png``, or ``other/scan.jpg``) -> ``scan-2.png``, and so on.
        Returns the paths written, in the order of ``files``."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            taken: set[str] = set()
            written = []
            for path, image in zip(self.files, self.images, strict=True):
                name, count = f"{path.stem}.png", 1
                while name in taken:
                    count += 1
                    name = f"{path.stem}-{count}.png"
                taken.add(name)
                Image.fromarray(image[0].numpy()).save(folder / name)
                written.append(folder / name)
        except OSError as error:
            raise UserError(f"cannot save the prepared images in {folder}: {error.strerror or error}") from error
        return written


class Prepared(NamedTuple):
    """An image as the model sees it: uint8 (1, 28, 28), light digit on black; ``blank`` when there was no
    digit to find (one colour, fully transparent, a single pixel): the pixels are then all black."""

    pixels: Tensor
    blank: bool


def to_mnist(image: Image.Image) -> Tensor:
    """An image of one digit as MNIST would have it: uint8 tensor (1, 28, 28), light digit on black."""
    return prepare(image).pixels


def prepare(image: Image.Image) -> Prepared:
    """MNIST's preparation, after finding the digit among whatever else the picture shows.

    The steps: turned upright by its EXIF orientation tag; grayscale in [0, 1] whatever the mode (16-bit
    scans scaled, not clipped; transparent pixels are background); the ink's polarity decided; the
    background (paper, table, shadows, vignetting) estimated locally and removed; the digit found as the
    strongly inked region not touching the picture's edge, with any strokes near it; cropped to it and
    stretched to full brightness; scaled so the longer side is 20 pixels, keeping the aspect ratio;
    placed in a 28x28 black frame with its centre of mass in the middle.
    """
    gray = _grayscale(_upright(image))
    if gray is None or min(gray.shape) < 2:
        return _blank()
    ink = _ink(gray)
    if ink is None:
        return _blank()
    ink = ink / ink.max()
    rows, cols = np.nonzero(ink > INK)  # the box of the clearly inked pixels, not of their faintest edge
    digit = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    digit = _fit(digit, BOX)
    frame = _place(digit, FRAME, CENTRE)
    return Prepared(torch.from_numpy(np.rint(frame * 255).astype(np.uint8)).unsqueeze(0), blank=False)


def _blank() -> Prepared:
    return Prepared(torch.zeros(1, FRAME, FRAME, dtype=torch.uint8), blank=True)


def _upright(image: Image.Image) -> Image.Image:
    """Turned as its EXIF orientation tag says (phones store pictures sideways and set the tag)."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a malformed EXIF block: the pixels are still there, as stored
        return image


def _grayscale(image: Image.Image) -> np.ndarray | None:
    """float32 in [0, 1]; transparent pixels become background; None if nothing is visible."""
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        # 16-bit scans (and 32-bit integer or float images): scale by the range the values use, since
        # converting to 8 bits would clip everything above 255 to white.
        values = np.asarray(image, dtype=np.float32)
        top = float(values.max(initial=0))
        full = 1.0 if top <= 1 and image.mode == "F" else 255.0 if top <= 255 else 65535.0
        return np.clip(values / full, 0, 1)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255
        gray = np.asarray(rgba.convert("L"), dtype=np.float32) / 255
        weight = alpha.sum()
        if weight == 0:
            return None
        # Transparent pixels are background: lay the picture on the colour opposite to its visible
        # strokes (black ink goes on white, white ink on black), and the rest is an opaque picture.
        ink_is_dark = (gray * alpha).sum() / weight < 0.5
        return gray * alpha + (1.0 if ink_is_dark else 0.0) * (1 - alpha)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255


def _ink(gray: np.ndarray) -> np.ndarray | None:
    """The digit's ink in [0, 1] on a background of exactly 0, the size of ``gray``; None if there is none.

    Found on a small working copy: the ink's polarity, the background, the strongly inked regions and
    which of them make the digit. The ink is then measured on the full image, inside those regions.
    """
    scale = min(1.0, WORKING_SIZE / max(gray.shape))
    small = _resize(gray, scale) if scale < 1 else gray
    window = max(MIN_WINDOW, int(min(small.shape) * BACKGROUND_WINDOW) | 1)
    if _ink_is_dark(small):
        gray, small = 1 - gray, 1 - small
    background = _opening(small, window)
    ink = small - background
    peak = _peak(ink)
    if peak < NO_CONTRAST:
        return None
    digit = _digit_regions(ink, peak, small)
    if digit is None:
        return None
    # The strokes' soft edges belong to the digit: keep what is within four working pixels of it (MNIST's
    # own digits have faint edges up to two pixels wide, and resampling leaves faint ripples beyond).
    digit = _dilate(digit.astype(np.float32), 9)
    # Back to full resolution: the background as a smooth surface, the digit's regions as a mask.
    if scale < 1:
        background = _resize(background, gray.shape)
        digit = _resize(digit, gray.shape, Image.Resampling.NEAREST)
    ink = np.clip(gray - background, 0, None)
    ink = np.clip(ink - _noise_level(ink), 0, None) * (digit > 0)
    return ink if ink.max() > 0 else None


def _ink_is_dark(gray: np.ndarray) -> bool:
    """Dark ink on a light background, unless the light part of the picture is too small to be paper, and
    is not shaped like a sheet either.

    Light and dark split at the middle of the picture's range. A digit covers little of its picture: at
    most a third of an MNIST image is light (0.33 over the test set). Paper covers more, even when a
    photo shows it lying on a darker table or a scan has dark corners, so more light than LIGHT_INK means
    paper. Not the median: a sheet may cover less than half of a photo. A smaller sheet, a note on a desk,
    is told from a light digit by its shape: see :func:`_looks_like_a_sheet`.
    """
    low, high = np.percentile(gray, [0.1, 99.9])
    light = gray > (low + high) / 2
    return float(light.mean()) > LIGHT_INK or _looks_like_a_sheet(light)


def _looks_like_a_sheet(light: np.ndarray) -> bool:
    """Whether the largest light region is a sheet of paper rather than a light digit: wide, convex and
    four-cornered (see SHEET_SIZE), whichever way it is turned and even seen at a slant, as a note lying on
    a desk is. Small images are never taken for photos of a sheet (SHEET_MIN_SIDE)."""
    if min(light.shape) < SHEET_MIN_SIDE:
        return False
    labels = _label(light)
    if labels.max() == 0:
        return False
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    region = _fill_holes(labels == sizes.argmax())
    outline = _convex_hull(region)
    if _width(outline) < SHEET_SIZE * min(light.shape) or region.sum() < SHEET_SOLIDITY * _area(outline):
        return False
    diagonal = float(np.hypot(*np.ptp(outline, axis=0)))
    return len(_corners(outline, CORNER_TOLERANCE * diagonal)) <= SHEET_CORNERS


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every hole in it filled: whatever it encloses (ink on a sheet, a digit's loops)."""
    outside = _label(~mask)
    reaching_edge = np.unique(np.concatenate([outside[0], outside[-1], outside[:, 0], outside[:, -1]]))
    return mask | ~np.isin(outside, reaching_edge)


def _convex_hull(mask: np.ndarray) -> np.ndarray:
    """The convex hull of a mask's pixels (each a unit square) as polygon corners (x, y), counter-clockwise.

    Andrew's monotone chain, on the outer corners of each row's first and last pixel: only those can be on
    the hull, which keeps it to a few hundred points.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    first = mask[rows].argmax(axis=1)
    last = mask.shape[1] - 1 - mask[rows, ::-1].argmax(axis=1)
    points = sorted(
        {
            (int(x), int(y))
            for row, left, right in zip(rows, first, last + 1, strict=True)
            for x in (left, right)
            for y in (row, row + 1)
        }
    )

    def chain(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
        kept: list[tuple[int, int]] = []
        for x, y in points:
            while len(kept) >= 2:
                (x1, y1), (x2, y2) = kept[-2], kept[-1]
                if (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1) > 0:
                    break
                kept.pop()  # not a left turn: that point lies inside
            kept.append((x, y))
        return kept

    lower, upper = chain(points), chain(points[::-1])
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def _area(polygon: np.ndarray) -> float:
    """A polygon's area (the shoelace formula)."""
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _width(polygon: np.ndarray) -> float:
    """A convex polygon's smallest width over all directions (to the degree): a sheet's shorter side."""
    angles = np.radians(np.arange(180))
    along = polygon @ np.stack([np.cos(angles), np.sin(angles)])
    return float(np.ptp(along, axis=0).min())


def _corners(polygon: np.ndarray, tolerance: float) -> list[np.ndarray]:
    """The corners left when a closed polygon's outline is straightened wherever that moves it by at most
    ``tolerance`` (Douglas-Peucker, from the two corners farthest apart)."""

    def straighten(chain: np.ndarray) -> list[np.ndarray]:
        start, end = chain[0], chain[-1]
        if len(chain) < 3:
            return [start]
        direction = end - start
        offsets = np.abs(direction[0] * (chain[:, 1] - start[1]) - direction[1] * (chain[:, 0] - start[0]))
        offsets /= max(float(np.hypot(*direction)), 1e-9)
        farthest = int(offsets.argmax())
        if offsets[farthest] <= tolerance:
            return [start]
        return straighten(chain[: farthest + 1]) + straighten(chain[farthest:])

    far = int(((polygon - polygon[0]) ** 2).sum(axis=1).argmax())
    return straighten(polygon[: far + 1]) + straighten(np.concatenate([polygon[far:], polygon[:1]]))


def _digit_regions(ink: np.ndarray, peak: float, picture: np.ndarray) -> np.ndarray | None:
    """The regions of ``ink`` (a working copy, background 0) that make up the digit, as a boolean mask.

    Regions are the connected areas above WEAK times the peak; a region's weight is its ink above STRONG
    times it, squared (a faint smudge weighs little or nothing). The digit is the heaviest region that
    neither touches the picture's edge (what does is a table, a scanner's fill, a shadow's corner), nor is
    a hairline (the sliver a sheet's slanted edge leaves), nor fails to stand out from its surroundings
    (what is left in a sheet's corner, see :func:`_stands_out`): else the heaviest that does not touch the
    edge, else the heaviest of all (a digit cropped tightly). Strokes of the same digit that are not joined
    to it (a 5's flag) are the other such regions that lie within its box widened by a third; on a spotless
    background (MNIST's, a drawing app's) every region clear of the edge is.
    """
    labels = _label(ink > WEAK * peak)
    count = int(labels.max())
    if count == 0:
        return None
    regions = range(1, count + 1)
    edge = np.zeros(count + 1, dtype=bool)
    edge[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
    # The ink's strength is judged among the regions clear of the edge, as a black scanner fill or a dark
    # table is often darker than a pencil's stroke; unless all they hold is faint (smudges beside a digit
    # that touches the edge).
    clear = ~edge[labels] & (labels > 0)
    if clear.any() and _peak(np.where(clear, ink, 0)) > 2 * WEAK * peak:
        peak = _peak(np.where(clear, ink, 0))
    # Squared, so that a few strong strokes outweigh a wide, faint blot that barely passes STRONG.
    excess = np.clip(ink - STRONG * peak, 0, None) ** 2
    weight = np.bincount(labels.ravel(), weights=excess.ravel(), minlength=count + 1)
    boxes = {k: _box(labels == k) for k in regions if weight[k] > 0}
    if not boxes:
        return None
    pixels = np.bincount(labels.ravel(), minlength=count + 1)
    inside = [k for k in boxes if not edge[k]]
    strokes = [
        k
        for k in inside
        if pixels[k] >= HAIRLINE * _long_side(boxes[k]) ** 2 and _stands_out(k, labels, boxes[k], ink, picture)
    ]
    main = max(strokes or inside or list(boxes), key=lambda k: weight[k])
    top, bottom, left, right = boxes[main]
    margin = _long_side(boxes[main]) / 3
    keep = [main]
    # On a spotless background (one flat level, the ink exactly 0 over most of the picture: MNIST's images,
    # a drawing app's) every inked region is part of the drawing; elsewhere only the strokes near the digit
    # are (not the slivers along a sheet's edges on a clean, flat table).
    spotless = (ink == 0).mean() > 0.5 and float(np.ptp(picture - ink)) < 1 / 255
    for k in inside if spotless else strokes:
        t, b, lf, rt = boxes[k]
        near = t >= top - margin and b <= bottom + margin and lf >= left - margin and rt <= right + margin
        if k != main and (near or spotless):
            keep.append(k)
    return np.isin(labels, keep)


def _stands_out(
    region: int, labels: np.ndarray, box: tuple[int, int, int, int], ink: np.ndarray, picture: np.ndarray
) -> bool:
    """Whether region ``region`` of ``labels`` stands out from the paper all around it, as ink does.

    What an opening leaves at the corner of a sheet lying askew (the structuring element cannot reach into
    the corner) has the sheet's own brightness, and the rest of the sheet lies right beside it; a stroke is
    brighter (``picture`` is after polarity: ink light) than everything around it that is not ink itself.
    Its surroundings are the pixels RING_NEAR to RING_FAR pixels from it that belong to no region.
    """
    top, bottom, left, right = box
    near = np.s_[max(0, top - RING_FAR) : bottom + RING_FAR + 1, max(0, left - RING_FAR) : right + RING_FAR + 1]
    crop, picture, ink = labels[near], picture[near], ink[near]
    mine = (crop == region).astype(np.float32)
    around = (_dilate(mine, 2 * RING_FAR + 1) > 0) & ~(_dilate(mine, 2 * RING_NEAR + 1) > 0) & (crop == 0)
    if not around.any():
        return True
    inside = mine > 0
    level, strength = float(np.median(picture[inside])), float(np.median(ink[inside]))
    return float(np.percentile(picture[around], 90)) < level - strength / 2


def _long_side(box: tuple[int, int, int, int]) -> int:
    top, bottom, left, right = box
    return max(bottom - top, right - left) + 1


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


def _label(mask: np.ndarray) -> np.ndarray:
    """Connected regions of a boolean mask (8-neighbours), numbered 1, 2, ... (0 is background).

    Every pixel starts with its own number and takes the largest number among its neighbours until
    nothing changes; then the numbers are made consecutive.
    """
    labels = np.where(mask, np.arange(1, mask.size + 1, dtype=np.int64).reshape(mask.shape), 0)
    while True:
        grown = _max_filter(labels, 3) * mask
        if np.array_equal(grown, labels):
            break
        labels = grown
    _, consecutive = np.unique(labels, return_inverse=True)
    # unique sorts, so background (0) stays 0 when there is any, and regions get 1, 2, ...
    return (consecutive if not mask.all() else consecutive + 1).reshape(mask.shape)


def _peak(ink: np.ndarray) -> float:
    """The brightest ink, from a 3x3 average so that one hot pixel of noise does not count."""
    pixels = torch.from_numpy(np.array(ink, dtype=np.float32))[None, None]
    return float(F.avg_pool2d(pixels, 3, stride=1, padding=1, count_include_pad=False).max())


def _noise_level(ink: np.ndarray) -> float:
    """How far the background's noise reaches: its median plus three robust standard deviations."""
    median = float(np.median(ink))
    spread = 1.4826 * float(np.median(np.abs(ink - median)))
    return median + 3 * spread


def _max_filter(image: np.ndarray, size: int) -> np.ndarray:
    """Maximum over a ``size`` x ``size`` square (the edge repeated beyond the picture)."""
    return _line_max(_line_max(image, size, (0, 1)), size, (1, 0))


def _octagon_max(image: np.ndarray, size: int) -> np.ndarray:
    """Maximum over a regular octagon about ``size`` pixels across: a square's sides plus a diamond's.

    An octagon, not a square, so that an opening slides along the slanted edge of a sheet lying askew as
    well as along a straight one, and leaves no sliver of the sheet behind to be taken for ink.
    """
    diagonal = max(1, round(size / (2 + 2**0.5)))
    straight = max(1, size - 2 * diagonal)
    for direction, length in (((0, 1), straight), ((1, 0), straight), ((1, 1), diagonal + 1), ((1, -1), diagonal + 1)):
        image = _line_max(image, length, direction)
    return image


def _line_max(image: np.ndarray, length: int, direction: tuple[int, int]) -> np.ndarray:
    """Maximum over ``length`` pixels along a line in ``direction`` (a step in rows, columns), centred,
    the picture's edge repeated beyond it.

    Windows of 1, 2, 4... pixels are built from halves; two overlapping power-of-two windows then cover
    any length, in a few whole-array steps.
    """
    height, width = image.shape
    padded = np.pad(image, length, mode="edge")
    dy, dx = direction

    def window_start(values: np.ndarray, offset: int) -> np.ndarray:
        """``values`` (padded) seen from ``offset`` steps along the line, cut back to the picture's size."""
        top, left = length + offset * dy, length + offset * dx
        return values[top : top + height, left : left + width]

    span, running = 1, padded
    while span * 2 <= length:
        shifted = np.roll(running, (-span * dy, -span * dx), axis=(0, 1))
        running = np.maximum(running, shifted)
        span *= 2
    start = -(length // 2)
    return np.maximum(window_start(running, start), window_start(running, start + length - span))


def _dilate(image: np.ndarray, size: int) -> np.ndarray:
    return _max_filter(image, size)


def _opening(image: np.ndarray, size: int) -> np.ndarray:
    """What is left when everything light and narrower than ``size`` is flattened: the background under
    light ink. Wide areas, straight edges and smooth gradients pass unchanged.

    The picture is first extended beyond its edge, as if what lies around it (a table, a shadow, the
    page) went on: outwards from each side, each of its outermost pixels replaced by the darkest within
    ``size`` along that side, so that a stroke the edge cuts is not carried outwards. A strip of table
    between a sheet and the picture's edge, or a shadow along it, then stays background even where it is
    narrower than ``size``, while the stroke stays ink. (A stroke running along a whole side, as a tightly
    cropped 7's bar does, is carried outwards and lost: leave a pixel of margin.)
    """
    framed = image.copy()
    for side in (framed[0], framed[-1], framed[:, 0], framed[:, -1]):  # views into ``framed``
        side[:] = -_line_max(-side[None], size, (0, 1))[0]
    padded = np.pad(framed, size, mode="edge")
    padded[size:-size, size:-size] = image
    return _octagon_max(-_octagon_max(-padded, size), size)[size:-size, size:-size]


def _resize(image: np.ndarray, scale_or_shape, resample=Image.Resampling.BOX) -> np.ndarray:
    """A float image resized by a factor (area averaging, for the working copy) or to a (rows, cols) shape
    (bilinear by default, to bring a smooth background back to full size)."""
    if isinstance(scale_or_shape, tuple):
        size = (scale_or_shape[1], scale_or_shape[0])
        resample = Image.Resampling.BILINEAR if resample == Image.Resampling.BOX else resample
    else:
        size = (max(2, round(image.shape[1] * scale_or_shape)), max(2, round(image.shape[0] * scale_or_shape)))
    return np.asarray(Image.fromarray(image.astype(np.float32)).resize(size, resample))


def _fit(digit: np.ndarray, box: int) -> np.ndarray:
    """Scale so the longer side is ``box`` pixels, keeping the aspect ratio (unchanged if it already is)."""
    height, width = digit.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Mode "F" keeps the float precision; PIL returns a plain copy when the size does not change.
    resized = Image.fromarray(digit.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized), 0, 1)


def _place(digit: np.ndarray, frame: int, centre: float) -> np.ndarray:
    """Paste ``digit`` into a black ``frame`` x ``frame`` image with its centre of mass nearest ``centre``.

    Shifts are whole pixels, as MNIST's were, so an MNIST image is not blurred by a sub-pixel move.
    """
    height, width = digit.shape
    total = digit.sum()
    centre_row = (digit.sum(axis=1) * np.arange(height)).sum() / total
    centre_col = (digit.sum(axis=0) * np.arange(width)).sum() / total
    top = int(np.clip(round(centre - centre_row), 0, frame - height))
    left = int(np.clip(round(centre - centre_col), 0, frame - width))
    out = np.zeros((frame, frame), dtype=np.float32)
    out[top : top + height, left : left + width] = digit
    return out
