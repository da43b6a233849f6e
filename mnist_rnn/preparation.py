"""A picture of one digit -> an MNIST-style 28x28 uint8 tensor (what ``predict`` and ``serve`` give the model).

A model trained on MNIST has only ever seen one kind of picture: a light digit on a black background,
scaled so its longer side is 20 pixels and placed in a 28x28 frame with its centre of mass in the middle.
A photo of dark ink on paper, a scan, or a drawing app's PNG with a transparent background looks nothing
like that, so :func:`prepare` finds the digit in it and redoes MNIST's own normalisation. An image that
already looks like MNIST goes through unchanged, or at most shifted by one pixel.

Everything here works on small numpy arrays, with scipy.ndimage for regions, holes, boxes and filters and
scipy.spatial for a sheet's outline; no torch operation (on a busy host a multi-threaded torch call on a
tiny array costs milliseconds), so that preparing thousands of files costs little beside the model.
Reading files is :mod:`mnist_rnn.user_images`' job.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from scipy import ndimage
from scipy.spatial import ConvexHull
from torch import Tensor

FRAME = 28  # MNIST's image size
BOX = 20  # MNIST's digits fit a 20x20 box inside the frame
CENTRE = 14.0  # where MNIST's centres of mass lie (mean over the test set: 13.99 down, 14.01 across)
# Finding the digit happens on a copy at most this many pixels on its longer side (enough to see a digit,
# small enough to be quick); the digit itself is then cut from the full-resolution image.
WORKING_SIZE = 256
# The most resolution a picture is prepared at: larger ones are box-averaged down by a whole factor to
# between this and twice this on the longer side. A 20x20 digit needs far fewer pixels, and at a camera's
# full resolution its sensor's noise outweighs the faint edge of the ink: the digit of a 12-megapixel photo
# came out 16-18 pixels tall instead of 20 (docs/predict.md), and took 4x as long.
PREPARED_SIDE = 1000
# The background is what an opening with an octagon this fraction of the shorter side leaves: anything
# narrower (a pen stroke) is ink; anything wider (a sheet, a table, a shadow, the light's fall-off) is not.
BACKGROUND_WINDOW = 1 / 3
MIN_WINDOW = 15  # pixels: in a small image a bold stroke's blob is up to 9 across (MNIST's 28x28 ones)
STRONG, WEAK = 0.5, 0.2  # of the digit's peak: a digit has strokes above STRONG; its extent is above WEAK
INK = 0.05  # of the digit's peak: the crop box holds the pixels above this, not the faintest edge
# A region thinner than this times its longer side is a hairline, never a digit; its thickness is twice its
# pixels over its outline's pixels (a stroke's width, however it bends or branches). MNIST's digits are at
# least 0.1, a digit drawn on the page or photographed 0.07, the sliver along a sheet's edge and a ruled
# page's lines (joined by the margin line into one region) 0.01.
HAIRLINE = 0.03
# A fine pen's or a pencil's stroke in a phone's photo of a ruled page is under a working pixel wide, no wider
# than the lines, and joins them into one such hairline region; but it is darker than they are. A piece of its
# strong ink (above STRONG) is a stroke of the digit when it weighs at least this fraction of the region: the
# bits of the lines that pass STRONG weigh next to nothing (see _strongest_clear_of_the_edge).
STROKE_PIECE = 0.01
LIGHT_INK = 0.35  # above this fraction of light pixels, the light part is paper (see _ink_is_dark)
# A clean picture whose ink of one polarity reaches within this fraction of each side of it, or TIGHT_PIXELS, is
# cropped to its digit (see _cropped_to_the_ink): the pixels of margin a hand-cut crop leaves, and the ink's soft
# edge under half its strength. (A 28x28 MNIST digit's box is 20 pixels, 8 of margin on each axis, or more.)
TIGHT_MARGIN, TIGHT_PIXELS = 0.05, 4
# A light region is paper when it is shaped like a sheet (see _looks_like_a_sheet): at least SHEET_SIZE of
# the picture's shorter side wide in every direction, filling SHEET_SOLIDITY of its convex hull once the
# ink on it is filled in, and with an outline of at most SHEET_CORNERS corners (four, or a few more where
# the picture's edge cuts it) when straightened within CORNER_TOLERANCE of its diagonal. A digit's own
# outline, however bold, is rounded: ten corners or more at that tolerance.
SHEET_SIZE, SHEET_SOLIDITY, SHEET_CORNERS, CORNER_TOLERANCE = 0.2, 0.9, 6, 0.03
# ... and, when it lies clear of the picture's edge or on a drawing's plain dark background (the page's),
# paper shows over at least SHEET_PAPER of it, ink filled in: the digit on a note covers 8-11% of it
# (benchmarks/desk_notes.py), a bold one a fifth. A box drawn in light ink round a light digit on the page is
# four-cornered and convex once filled too, but mostly hole: its ring is 0.28-0.61 of it, and it was taken
# for paper, the box's inside for the digit. (A white table round a grey sheet in a photo is mostly hole
# too, but reaches the edge, and is still taken for paper: rightly, the ink is dark.)
SHEET_PAPER = 0.7
# Only photos are looked at for a sheet: in an image smaller than this (MNIST's own 28x28), a digit's
# outline is a few pixels across and can straighten into a few corners (1 of MNIST's 10,000 test digits).
SHEET_MIN_SIDE = 64
# The background's noise is measured on a grid of about this many of a large picture's pixels: enough for
# its median, and the median of a photo's every pixel costs more than all the rest of its preparation.
NOISE_SAMPLES = 65536
# A picture whose sensor noise (the robust spread of neighbouring pixels' differences, over sqrt 2: see
# _pixel_noise) is above NOISY is smoothed before the digit is looked for, with a Gaussian that leaves about
# SMOOTHED_NOISE of it, at most 1/NOISE_BLUR of the picture's shorter side wide. Unsmoothed, the background's
# opening (a minimum first) sank into the noise's troughs, the whole picture stood out as ink, and a digit
# on paper under noise of 60/255 was read as a box: an 8, 98% sure. The benchmarks' photos, scans and
# drawings measure 0.025 at most, noise of 20/255 on paper (saved as a JPEG) 0.07 (docs/predict.md).
NOISY, SMOOTHED_NOISE, NOISE_BLUR = 0.05, 0.02, 20
NOISE_DIFFERENCES = 16384  # about this many, of a large picture's sampled rows: the median to about 1%
NO_CONTRAST = 0.05  # no pixel stands out from its surroundings by this much (of full scale): a blank image
EDGE_CONTRAST = 2 * NO_CONTRAST  # a digit cropped so tightly that it touches the edge stands out more than this
# ... and is inked as a pen inks: at least EDGE_INK of full scale, or stepping up from the paper by EDGE_STEP of its
# own peak from one working pixel to the next somewhere (a stroke's edge). The "ink" a soft shadow or the light's
# fall-off leaves in a blank page's corner or along its side (the opening cannot follow so wide a dip there) is
# neither: it rises over many pixels, to a fraction of full scale, and was read as a digit, most often surely. The
# step and the peak are measured with lines one or two working pixels wide taken away (a 3x3 grey opening): a ruled
# page's lines crossing such a wedge step up from it as a stroke's edge does, and made it a digit. (The wedges and
# the digits cropped to their box measured on phone photos: docs/predict.md.)
EDGE_INK, EDGE_STEP = 0.5, 0.25
# Another region clear of the digit, beside it or in a column with it (STACKED_GAP), with at least this
# fraction of the digit's height is a second digit: the picture holds more than one, and the answer is
# about one of them only. (Counting the size by the longer side, and wherever the region lay, flagged 12 of
# the 10,000 MNIST test digits, 5s whose flag stands apart as a flat bar, and 5 of 2,000 canvases: none now.)
ANOTHER_DIGIT = 0.5
# ... and at least this fraction of its weight: a 1 beside an 8 or a 0 may weigh less than half of it. (At
# ANOTHER_DIGIT, 0.5, before the rows counted in ``_Box.beside``, to keep the 5s' flags apart out; on MNIST's test
# digits drawn on the page, 0.3 flags 1 more single digit of 10,000, and 78 more of 400 pairs side by side.)
ANOTHER_WEIGHT = 0.3
# Such a region over or under the digit is a second digit (a number written in a column) only when the two
# stand clear of each other by this fraction of the digit's height, and together make a column at least
# COLUMN times as tall as it is wide; or when they stand as far apart as two lines of writing, LINE_GAP of
# its height, whatever their shape (two digits squeezed one over the other on the page are wider than tall).
# A digit drawn in pieces one over the other (a 3's arcs, a 9's loop apart from its stem) is nearer, or not
# so tall. Chosen on MNIST's test digits drawn on the page's canvas, one by one and two in a column
# (docs/predict.md, benchmarks/hard_pictures.py).
STACKED_GAP = 0.1
COLUMN = 2.2
LINE_GAP = 0.4
# A region where the background steps by this fraction of the ink's peak or more, from one pixel to the next,
# is not ink but a sheet's corner: the opening's octagon cannot reach into a sheet's square corners, so paper
# darker than the table under it (grey paper on a white table) leaves a wedge of "ink" in each, as heavy as a
# small digit. Measured: such wedges 0.33-0.96; second digits in photos (shadows, vignetting, scans) 0.07 at
# most, 0.25 for one drawn into a sheet's corner (docs/predict.md).
SHEET_STEP = 0.3
# A stroke's width, as a fraction of the digit's longer side (twice its pixels above half the peak over its
# outline's pixels): MNIST's are 0.10 or more (the median 0.14), the page's drawings 0.065 or more (95% of
# them 0.08), the printed digits of benchmarks/own_digits.py 0.06 or more. A fine pen or a pencil
# photographed whole is 0.015-0.05: shrunk to 20 pixels such a stroke is a dim line a third of a pixel wide,
# and fine-liner digits were read as a 1, 92-97% sure. Strokes thinner than THIN_STROKE are widened to
# MNIST_STROKE before the digit is scaled (docs/predict.md).
THIN_STROKE, MNIST_STROKE = 0.06, 0.10
# ... and a digit drawn with a pen wider than THICK_STROKE of its longer side (see pen_width) is thinned to
# THINNED_STROKE (a minimum over an octagon): a small digit drawn on a raw canvas with a broad pen (a drawing
# app's 25-pixel brush, a tablet's, a notebook widget's) kept its pen's width when it was scaled to 20 pixels,
# strokes half as wide as the digit, and read as a blob, mostly as an 8, 99% sure. The page fits its own pen
# to a small drawing (web/index.html's fitPen: at most a third of the drawing across, a quarter of its ink's
# box); MNIST's own test digits measure at most that too (all but 1 of 10,000): both are left as they are
# (docs/predict.md).
THICK_STROKE, THINNED_STROKE = 0.3, 0.2
# A pen measured wider than BLOB of the digit has filled its loops in (a small 8 drawn with a broad pen is a
# solid snowman, whose middle lines are deep all along): it is thinned as a pen of BLOB. Thinned by all of its
# depth, it shrank to a thin upright blob, read as a 1, 99% sure.
BLOB = 0.5
# ... and a mark that fills more than FILLED of its box is no pen's stroke but a solid shape: a bold printed 0
# cropped tight to its ink, whose hole was then what was found (see _cropped_to_the_ink), is a solid oval;
# thinned, it became a narrower one, read as a 1 (benchmarks/hard_pictures.py, tight_print).
FILLED = 0.75
# The pen's width costs a distance transform: it is measured on every step-th pixel, at most PEN_SIDE across
# (a stroke THICK_STROKE of the digit is still 30 of them wide), and only where the strokes' cheap width
# (stroke_width, never under PEN_GATE of the pen's: less at a loop filled in or a stroke's round end) comes near.
PEN_GATE, PEN_SIDE = 0.5, 100
# A box, a circle or a loop drawn round the digit in the same pen is heavier than the digit, and was taken
# for it, the digit kept as one of its strokes (a boxed 7 read as a 2 or a 0, 99% sure); a lighter one was
# kept as a stroke of the digit. A region is such a frame when it encloses real ink: the heaviest region in
# one of its holes, with the pieces near it, together at least FRAMED_SIZE of the hole's longer side and
# FRAMED_WEIGHT of the frame's weight, all FRAME_GAP working pixels or more clear of it. A 0, 6, 8 or 9 with
# a speck or a noise dot in its loop is no frame (the speck is small). The frame is left out, and what it
# encloses is searched for the digit as the whole picture is. (On 10,000 MNIST test digits drawn on the
# page, no frame is found: benchmarks/hard_pictures.py.)
FRAMED_SIZE, FRAMED_WEIGHT, FRAME_GAP = 0.4, 0.05, 2
# An underline is left out too: a straight stroke (its middle bowed by at most UNDERLINE_BOW of its width),
# flat (at most UNDERLINE of its width tall), under the rest of the digit, clear of it by UNDERLINE_GAP of its
# height, and reaching past both of its sides. Heavier than the digit (under a 1) it was taken for it;
# lighter, it was kept as a stroke of it on the page (an underlined 4 read as a 1). A 2's base drawn apart is
# not as wide as the rest of it, and the bottom arc of a 3 broken by a fine pen is bowed.
UNDERLINE, UNDERLINE_GAP, UNDERLINE_BOW = 1 / 3, 0.05, 0.05
# A ruled page's lines are runs of ink along a row at least RULED_RUN of the picture's width, at most RULED_ROWS
# working pixels tall: they are taken away where no stroke crosses them (see _without_ruling).
RULED_RUN, RULED_ROWS, RULED_LINES = 0.5, 1.5, 3
# ... and a pencil's strokes, as faint as the lines, come out of that broken where they cross one, and where the
# pencil barely marked the paper: pieces a few working pixels apart, each taken for a stroke of its own. Those
# beyond the digit's box widened by a third were left out of it, or taken for a second digit beside it or over it
# (a 4 read as a 1, "more than one digit"). Once the lines are gone, pieces of strong ink within twice RULED_GAP
# working pixels of each other are one region (two digits written side by side are farther apart, but for the
# closest: see _joined_across_lines).
RULED_GAP = 3
# A solid dark object lying beside the digit (a phone, a black case, a dark book's cover) is one region, far
# heavier than the digit's strokes, and was taken for it: read as a 1 or an 8, a grey bar in the image. Such a
# region fills SOLID or more of the smallest rectangle round it, turned any way (a pen's strokes leave the spaces
# between them, a loop its hole; a disc or a filled-in blob is rounded: at most pi/4 of it), and that rectangle is
# at least THICK_STROKE as wide as the region's box is long (a 1's stroke is a bar too, but a narrow one). It is
# the digit only when nothing else can be, never a stroke of it or a second digit; and only when it is at least
# ANOTHER_DIGIT as wide as the tallest other candidate is tall (a small dotted 0's dot fills its rectangle too).
# (benchmarks/hard_pictures.py, phone_beside; docs/predict.md.)
SOLID = 0.9
EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)  # regions and holes are 8-connected
# A digit whose longer side is under this many pixels in the picture (a thumbnail, an icon, scikit-learn's 8x8
# digits) is flagged ``small``: scaled up to 20 pixels it is a blur, and the network's answers on such digits
# are wrong far more often than their calibrated probabilities say; from this size up the two agree (MNIST's
# test digits shrunk to each size: docs/predict.md, benchmarks/small_digits.py).
SMALL_DIGIT = 10


class Prepared(NamedTuple):
    """An image as the model sees it: uint8 (1, 28, 28), light digit on black.

    ``blank`` when there was no digit to find (one colour, fully transparent, a single pixel, a ruled page
    with nothing on it): the pixels are then all black. ``several`` when the picture holds more than one
    digit-like mark clear of each other (two digits side by side): the pixels show one of them only.
    ``small`` when the digit was under :data:`SMALL_DIGIT` pixels in the picture: its answer is less sure
    than its probability says.
    """

    pixels: Tensor
    blank: bool
    several: bool = False
    small: bool = False


def prepare_character(image: Image.Image) -> Prepared:
    """:func:`prepare` for KMNIST's characters: their parts may stand side by side (は, い, な) or one over
    the other (こ, ニ), so a region apart from the main one is part of the character, never a second one."""
    return prepare(image, find_others=False)


def to_mnist(image: Image.Image) -> Tensor:
    """An image of one digit as MNIST would have it: uint8 tensor (1, 28, 28), light digit on black.

    A picture with no digit in it gives all-black pixels, which a network reads as some class all the same
    with nothing to say it is a guess: :func:`prepare` says so (``blank``), as ``predict`` and ``serve`` do.
    """
    return prepare(image).pixels


def prepare(image: Image.Image, find_others: bool = True) -> Prepared:
    """MNIST's preparation, after finding the digit among whatever else the picture shows.

    ``find_others``: whether a region apart from the digit (beside it, or in a column with it), as heavy and
    as tall (ANOTHER_WEIGHT, ANOTHER_DIGIT), is another digit, left out and flagged (``several``); for a character whose
    parts stand apart (KMNIST's は, こ) it is part of it (see :func:`prepare_character`).

    The steps (the picture taken as it is: :func:`mnist_rnn.user_images.decode_image` has already turned
    a file upright by its EXIF tag): a large picture reduced to about :data:`PREPARED_SIDE` pixels across;
    grayscale in [0, 1] whatever the mode (16-bit scans scaled, not
    clipped; transparent pixels are background); heavy sensor noise smoothed; the ink's polarity decided; the
    background (paper, table, shadows, vignetting) estimated locally and removed; the digit found as the
    strongly inked region not touching the picture's edge, with any strokes near it (a frame drawn round it
    or a line under it left out); cropped to it and
    stretched to full brightness; scaled so the longer side is 20 pixels, keeping the aspect ratio;
    placed in a 28x28 black frame with its centre of mass in the middle.
    """
    if not isinstance(image, Image.Image):  # a path, an array: "'str' object has no attribute 'size'"
        hint = {
            "str": "decode_image(path) reads a file (turned upright by its EXIF tag)",
            "PosixPath": "decode_image(path) reads a file (turned upright by its EXIF tag)",
            "WindowsPath": "decode_image(path) reads a file (turned upright by its EXIF tag)",
            "ndarray": "Image.fromarray(array) makes one of a numpy array",
            "Tensor": "a tensor of 28x28 pixels goes to the network as it is; Image.fromarray(t.numpy()) makes one",
        }.get(type(image).__name__, "decode_image(path) reads a file, Image.fromarray(array) takes an array")
        raise TypeError(f"expected a PIL image, got {type(image).__name__}: {hint}")
    gray = grayscale(reduced(image))
    if gray is None or min(gray.shape) < 2:
        return blank()
    gray = _smoothed_if_noisy(gray)
    frame, several, small = _already_prepared(gray), False, False
    if frame is None:
        found = _ink(gray, find_others)
        if found is None:
            return blank()
        ink, several = found
        ink = ink / ink.max()
        digit = ink[box_around(ink > INK, 0)]  # the box of the clearly inked pixels, not of their faintest edge
        small = max(digit.shape) < SMALL_DIGIT
        digit = _fit(_thinned(_thickened(digit)), BOX)
        frame = _place(digit, FRAME, CENTRE)
    return as_prepared(frame, several, small)


def as_prepared(frame: np.ndarray, several: bool = False, small: bool = False) -> Prepared:
    """A 28x28 frame in [0, 1] as the uint8 image (1, 28, 28) the model sees."""
    return Prepared(torch.from_numpy(np.rint(frame * 255).astype(np.uint8)).unsqueeze(0), False, several, small)


def _already_prepared(gray: np.ndarray) -> np.ndarray | None:
    """The picture as :func:`prepare` would make it, when it is already in MNIST's form; else ``None``.

    MNIST's form: 28x28, light ink on exact black, the inked pixels one 8-connected region whose box (the
    same whether or not the faintest edge counts) has 20 pixels on its longer side, its centre of mass
    within half a pixel of the middle. For such a picture the search, the crop, the scaling and the shift
    all leave it as it is: only the stretch to full brightness remains, done here as there. Of 20,000 MNIST
    digits, 18,198 are in this form, and the full preparation gives all but one of them to the bit as this
    does; that one, a bold 8, it takes partly for background (docs/predict.md).
    """
    peak = gray.max()
    if gray.shape != (FRAME, FRAME) or peak == 0:
        return None
    ink = gray / peak
    inked = ink > 0
    box = box_around(inked, 0)
    if box != box_around(ink > INK, 0) or max(side.stop - side.start for side in box) != BOX:
        return None
    if max(abs(at - CENTRE) for at in ndimage.center_of_mass(ink)) > 0.5:
        return None
    return ink if ndimage.label(inked, EIGHT_NEIGHBOURS)[1] == 1 else None


def blank() -> Prepared:
    """The answer for a picture with nothing to find in it: all black, ``blank``."""
    return Prepared(torch.zeros(1, FRAME, FRAME, dtype=torch.uint8), blank=True)


def reduced(image: Image.Image, side: int = PREPARED_SIDE) -> Image.Image:
    """``image`` box-averaged down by the largest whole factor that keeps its longer side at least ``side``
    pixels (Pillow's ``reduce``); as it is when that factor is 1. See :data:`PREPARED_SIDE`."""
    factor = max(image.size) // side
    if factor < 2:
        return image
    if image.mode == "P":  # modes reduce() does not take, as the ones grayscale() reads alike
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode.startswith("I;16"):
        image = image.convert("I")
    return image.reduce(factor)


def grayscale(image: Image.Image) -> np.ndarray | None:
    """float32 in [0, 1]; transparent pixels become background; None if nothing is visible."""
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        # 16-bit scans (and 32-bit integer or float images): scale by the range the values use, since
        # converting to 8 bits would clip everything above 255 to white.
        values = np.asarray(image, dtype=np.float32)
        finite = np.isfinite(values)
        if not finite.any():
            return None
        if not finite.all():  # a float image's "no data" pixels (NaN, inf): the picture's median level
            values = np.where(finite, values, np.median(values[finite]))
        top = float(values.max(initial=0))
        # Full scale is 1 for floats in [0, 1], else the bit depth the values use: a 10-bit sensor's 1023
        # is white (over 65535, its digit fell under NO_CONTRAST and the picture read as blank).
        full = 1.0 if top <= 1 and image.mode == "F" else float(2 ** max(8, math.ceil(math.log2(top + 1))) - 1)
        return np.clip(values / full, 0, 1)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        opacity = np.asarray(rgba.getchannel("A"))
        gray = np.asarray(rgba.convert("L"), dtype=np.float32) / 255
        if opacity.min() == 255:  # opaque all over (the page's canvas): the picture as it is
            return gray
        alpha = opacity.astype(np.float32) / 255
        weight = alpha.sum()
        if weight == 0:
            return None
        # Transparent pixels are background: lay the picture on the colour opposite to its visible
        # strokes (black ink goes on white, white ink on black), and the rest is an opaque picture.
        ink_is_dark = (gray * alpha).sum() / weight < 0.5
        return gray * alpha + (1.0 if ink_is_dark else 0.0) * (1 - alpha)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255


def _pixel_noise(gray: np.ndarray) -> float:
    """The standard deviation of the picture's pixel noise, estimated robustly from the differences between
    neighbours across (rows sampled on a large picture: NOISE_DIFFERENCES): where both sides of a difference
    are paper (or both ink), it is noise only, and strokes' edges are too few to move the median."""
    step = max(1, round(gray.size / NOISE_DIFFERENCES))
    differences = np.abs(np.diff(gray[::step], axis=1))
    return 1.4826 * float(np.median(differences)) / math.sqrt(2) if differences.size else 0.0


def _smoothed_if_noisy(gray: np.ndarray) -> np.ndarray:
    """``gray``, smoothed when its noise is above :data:`NOISY` (see there): a Gaussian of standard deviation
    s leaves 1 / (2 s sqrt(pi)) of white noise's."""
    noise = _pixel_noise(gray)
    if noise <= NOISY:
        return gray
    sigma = min(noise / (SMOOTHED_NOISE * 2 * math.sqrt(math.pi)), min(gray.shape) / NOISE_BLUR)
    return ndimage.gaussian_filter(gray, sigma, mode="nearest")


def _ink(gray: np.ndarray, find_others: bool = True, unruled: bool = False) -> tuple[np.ndarray, bool] | None:
    """The digit's ink in [0, 1] on a background of exactly 0 (a part of ``gray`` that holds the digit),
    and whether another digit was seen apart from it; None if there is no ink.

    Found on a small working copy: the ink's polarity, the background, the strongly inked regions and
    which of them make the digit. The ink is then measured on the full image, inside those regions (only
    the box around them is brought back to full size), above the noise of the whole picture's background.
    ``unruled``: a ruled page's lines are already taken away from ``gray`` (see _without_ruling).
    """
    scale = min(1.0, WORKING_SIZE / max(gray.shape))
    small = shrink(gray, scale) if scale < 1 else gray
    window = max(MIN_WINDOW, int(min(small.shape) * BACKGROUND_WINDOW) | 1)
    cropped = _cropped_to_the_ink(small)
    dark = _ink_is_dark(small) if cropped is None else cropped
    if dark:
        small = 1 - small
    # A drawing's plain background is that level everywhere, and so is a clean picture's cropped to its digit.
    # Estimated by an opening instead, a stroke along the picture's edge (a 7 as large as the page's pad, its
    # bar on the top edge) was taken for background, and the rest of the 7 for the step it left: "blank"; and
    # a bold digit's joints, wider than the opening's window in a picture no larger than the digit, were too.
    if cropped is not None or _is_a_drawing(small):
        background = np.full_like(small, small.min())
    else:
        background = _opening(small, window)
    ink = small - background
    peak = _peak(ink) if cropped is not None else _peak(_without_edge_bands(ink))
    if peak < NO_CONTRAST:
        return None
    # A ruled page's lines as dark as the digit are taken away first (see _without_ruling), and the search begins again.
    if not unruled and cropped is None:
        without_lines = _without_ruling(gray, background, ink, WEAK * peak, dark)
        if without_lines is not None:
            return _ink(without_lines, find_others, unruled=True)
    found = _digit_regions(ink, peak, background, find_others, cropped is not None, unruled)
    if found is None:
        return None
    digit, several, left_out = found
    # The strokes' soft edges belong to the digit: keep what is within four working pixels of it (MNIST's
    # own digits have faint edges up to two pixels wide, and resampling leaves faint ripples beyond); but not
    # a frame drawn round it or a line under it, nor their own soft edges.
    digit = _widened(digit, 4)
    if left_out is not None:
        digit &= ~_widened(left_out, FRAME_GAP)
    if scale == 1:
        ink = _above(gray, background, dark)
        ink = np.clip(ink - _background_noise(ink, digit), 0, None) * digit
    else:
        # The noise on a grid of the picture's pixels; the ink in the digit's box, at full resolution: the
        # background as a smooth surface (bilinear), the digit's regions as a mask.
        step = max(1, round((gray.size / NOISE_SAMPLES) ** 0.5))
        grid = gray[::step, ::step]
        noise = _background_noise(_above(grid, _enlarge(background, grid.shape), dark), digit)
        rows, cols = full_size_box(box_around(digit, 0), small.shape, gray.shape)
        top, bottom, left, right = rows.start, rows.stop, cols.start, cols.stop
        down, across = gray.shape[0] / small.shape[0], gray.shape[1] / small.shape[1]
        part = (left / across, top / down, right / across, bottom / down)  # the box, in working pixels
        shape = (bottom - top, right - left)
        ink = _above(gray[top:bottom, left:right], _enlarge(background, shape, part), dark)
        ink = np.clip(ink - noise, 0, None) * (_enlarge(digit, shape, part, Image.Resampling.NEAREST) > 0)
    return (ink, several) if ink.max() > 0 else None


def _without_edge_bands(ink: np.ndarray) -> np.ndarray:
    """``ink`` without the rows along its top and bottom edges inked (above NO_CONTRAST, so with the soft edge
    resampling leaves) across SOLID of the width or more: a screenshot's status bar or toolbar, solid across the
    whole picture; and then without the columns along its left and right edges inked across SOLID of what is left
    of its height, where ink lies beside them: a screenshot's dark sidebar. Measured with them, the peak was the
    bar's, and a small digit under a very dark bar, or beside a dark sidebar, fell below WEAK of it: "blank", or
    only its strongest pixels kept, where under a light bar, or none, it was read. (A bar across the width is
    never the digit, see SOLID in _digit_regions; a band down a side may be, a 1 drawn as tall as the picture flush
    against its side: with nothing beside it, it is kept.) All of ``ink`` when every row is such a band."""
    rows = (ink > NO_CONTRAST).mean(axis=1) >= SOLID
    top = int(np.argmin(rows)) if not rows.all() else 0
    bottom = len(rows) - int(np.argmin(rows[::-1])) if not rows.all() else len(rows)
    ink = ink[top:bottom] if top or bottom < len(rows) else ink
    inked = ink > NO_CONTRAST
    cols = inked.mean(axis=0) >= SOLID
    if not (cols[0] or cols[-1]) or cols.all():
        return ink
    left, right = int(np.argmin(cols)), len(cols) - int(np.argmin(cols[::-1]))
    return ink[:, left:right] if inked[:, left:right].any() else ink


def _in_runs(mask: np.ndarray, length: int, axis: int = 1) -> np.ndarray:
    """The pixels of ``mask`` in a run of ``length`` or more along ``axis`` (an opening by a line of ``length``, as
    1-D minimum and maximum filters on bytes: the cost of the picture's pixels, whatever the length)."""
    ends = ndimage.minimum_filter1d(mask.view(np.uint8), length, axis=axis, mode="constant")
    return ndimage.maximum_filter1d(ends, length, axis=axis, origin=-1 + length % 2, mode="constant").view(bool) & mask


def _without_ruling(
    gray: np.ndarray, background: np.ndarray, ink: np.ndarray, level: float, dark: bool
) -> np.ndarray | None:
    """``gray`` with a ruled page's lines taken away where no stroke crosses them; None when it shows no such lines.

    A pencil's grey is no darker than a page's ruling, and its strokes, a few pixels wide, are as faint as the lines
    in the working copy: the digit was one region with them, from edge to edge, dropped as a hairline (blank). Lines
    are runs of the working copy's ``ink`` above ``level`` along its rows, RULED_RUN of its width or longer, RULED_LINES
    of them or more (a 7's long bar is one). At full resolution, each such run at most RULED_ROWS working pixels tall,
    with its soft edges, is replaced by the ink next to it above and below, the fainter of the two: paper where the
    line runs alone, ink where a stroke crosses it, or where a 7's bar or a 2's base lies along it (thicker than the
    line, it shows on both sides); and it is never left darker than the picture beside it."""
    rows = np.flatnonzero(_in_runs(ink > level, max(2, int(RULED_RUN * ink.shape[1]))).any(axis=1))
    if rows.size == 0 or 1 + np.count_nonzero(np.diff(rows) > 1) < RULED_LINES:
        return None
    light = _above(gray, _enlarge(background, gray.shape), dark)
    runs = _in_runs(light > level, max(2, int(RULED_RUN * gray.shape[1])))
    tall = max(2, math.ceil(RULED_ROWS * gray.shape[0] / ink.shape[0]))
    line = runs & ~_in_runs(runs, tall + 1, axis=0)  # a run taller (a broad stroke as long) is no line
    if not line.any():
        return None
    # The line's soft edges too: the pixels next to it, where fainter than half of it (not a stroke along it).
    band = line.copy()
    band[1:] |= line[:-1] & (light[1:] < STRONG * light[:-1])
    band[:-1] |= line[1:] & (light[:-1] < STRONG * light[1:])
    # Each pixel of the band looks at the nearest row outside it, above and below (none past the picture's edge).
    height, index = gray.shape[0], np.arange(gray.shape[0])[:, None]
    above = np.maximum.accumulate(np.where(band, -1, index), axis=0)
    below = np.minimum.accumulate(np.where(band, height, index)[::-1], axis=0)[::-1]
    cols = np.arange(gray.shape[1])[None, :]
    reach = 2 * tall + 1  # a slanted stroke shows on either side of the line a little to the left or right
    # Only ink counts (above ``level``): the faint step a sheet's edge leaves beside it on a desk kept the lines'
    # ends, specks that were then the only digit on a blank page.
    sides = [light[at.clip(0, height - 1), cols] for at in (above, below)]
    side_ink = [
        ndimage.maximum_filter1d(np.where((at >= 0) & (at < height) & (side > level), side, 0), reach)
        for at, side in zip((above, below), sides, strict=True)
    ]
    # The line's pixels lowered by the ink they lose (the picture's ink lighter after polarity: darker if dark) ...
    tone = 1 - gray if dark else gray
    kept = tone - (light - np.minimum(light, np.minimum(*side_ink)))
    # ... and a line's, no darker than the picture beside it, along it or across it where the line goes on past it
    # both ways (a stroke crossing it). Where a sheet's edge ends the lines on a desk, the desk is no stroke, and
    # the background's estimate, blurred with it, is darker: the lines' ends were kept, specks that were then the
    # only digit on a blank page. (A stroke's end sticking out of its side, a pixel or two, is no line.)
    inside = np.maximum.accumulate(band, axis=1) & np.maximum.accumulate(band[:, ::-1], axis=1)[:, ::-1]
    beside = [
        np.where(
            (at >= 0) & (at < height),
            ndimage.maximum_filter1d(np.where(inside, tone[at.clip(0, height - 1), cols], 0), reach),
            1,
        )
        for at in (above, below)
    ]
    kept = np.clip(np.where(_in_runs(band, reach), np.minimum(kept, np.maximum(*beside)), kept), 0, 1)
    return np.where(band, 1 - kept if dark else kept, gray).astype(gray.dtype)


def _on_a_plain_background(gray: np.ndarray) -> bool:
    """Half the picture or more at its darkest level, which a photo's noise never is: a drawing's plain
    dark background (the page's pad)."""
    return np.count_nonzero(gray == gray.min()) >= gray.size / 2


def _is_a_drawing(light_ink: np.ndarray) -> bool:
    """Whether ``light_ink`` (ink light on a darker background) is a drawing on a plain background, as the
    page's pad sends, the rest mostly strokes at full strength, their smoothed edges aside (not a grey sheet on
    a spotless white table, a synthetic photo's, whose sheet is neither)."""
    strokes = np.count_nonzero(light_ink == light_ink.max())
    return _on_a_plain_background(light_ink) and strokes >= np.count_nonzero(light_ink > light_ink.min()) / 2


def _widened(mask: np.ndarray, reach: int) -> np.ndarray:
    """``ndimage.maximum_filter(mask, 2 * reach + 1, mode="nearest")``, worked out in the box around ``mask``
    widened by ``reach`` (nothing changes outside it) and on bytes: the same pixels, a fraction of the work."""
    box = box_around(mask, reach)
    widened = np.zeros_like(mask)
    widened[box] = ndimage.maximum_filter(mask[box].view(np.uint8), size=2 * reach + 1, mode="nearest")
    return widened


def box_around(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """The box around a mask's pixels (there must be some), ``margin`` wider on every side where the
    picture allows."""
    rows, cols = (np.flatnonzero(mask.any(axis=axis)) for axis in (1, 0))
    return (
        slice(max(0, rows[0] - margin), rows[-1] + 1 + margin),
        slice(max(0, cols[0] - margin), cols[-1] + 1 + margin),
    )


def full_size_box(box: tuple[slice, slice], small: tuple[int, int], full: tuple[int, int]) -> tuple[slice, slice]:
    """A box on a working copy of shape ``small``, on the picture of shape ``full``: every pixel the copy's
    pixels in the box were made from."""
    rows, cols = box
    down, across = full[0] / small[0], full[1] / small[1]
    return (
        slice(int(rows.start * down), min(full[0], int(np.ceil(rows.stop * down)))),
        slice(int(cols.start * across), min(full[1], int(np.ceil(cols.stop * across)))),
    )


def _above(gray: np.ndarray, background: np.ndarray, dark: bool) -> np.ndarray:
    """How far the picture (after polarity: ink light) lies above its background."""
    return np.clip((1 - gray if dark else gray) - background, 0, None)


def _ink_is_dark(gray: np.ndarray) -> bool:
    """Dark ink on a light background, unless the light part of the picture is too small to be paper, and
    is not shaped like a sheet either.

    Light and dark split at the middle of the picture's range. A digit covers little of its picture: at
    most a third of an MNIST image is light (0.33 over the test set). Paper covers more, even when a
    photo shows it lying on a darker table or a scan has dark corners, so more light than LIGHT_INK means
    paper. Not the median: a sheet may cover less than half of a photo. A smaller sheet, a note on a desk,
    is told from a light digit by its shape: see :func:`_looks_like_a_sheet`.
    """
    low, high = _range_ends(gray)
    light = gray > (low + high) / 2
    # On a drawing's plain dark background the light is paper only when shaped like a sheet, however much of
    # the picture it covers: a bold 8 or 0 drawn as large as the pad covers more than LIGHT_INK, and its
    # loops were read as the digit (as was a bold frame round a light digit, mostly hole: see SHEET_PAPER).
    drawing = _on_a_plain_background(gray)
    if float(light.mean()) > LIGHT_INK and not drawing:
        return not _is_a_board(gray, light)
    return _looks_like_a_sheet(light, drawing) and not _is_a_board(gray, light)


def _cropped_to_the_ink(gray: np.ndarray) -> bool | None:
    """Whether the ink is dark, for a clean picture cropped to its digit: the ink of one polarity reaches within
    TIGHT_MARGIN (or TIGHT_PIXELS) of all four sides, while the other, the paper, covers most of the picture's
    edge, mostly at one exact level there (a rendering's, a screenshot's). None for any other picture: see
    :func:`_ink_is_dark`.

    The edge of a picture cut to a digit's box runs through the paper, the digit touching it at a few places; how
    much of the picture each polarity covers says little there: a bold digit is most of it. Its ink covered over
    half of it dark on white, taken for a drawing's plain dark background, or more than LIGHT_INK light on black,
    taken for paper: either way the paper inside its loops was the digit, a bold 8 a solid oval
    (benchmarks/hard_pictures.py, tight_print). A drawing on a plain background has a margin of it all round, and
    a sheet's four-cornered outline is no digit's."""
    darkest, lightest = gray.min(), gray.max()
    if np.count_nonzero(gray == darkest) + np.count_nonzero(gray == lightest) < gray.size / 2:
        return None  # not clean: a photo, a scan
    low, high = _range_ends(gray)
    light = gray > (low + high) / 2
    edge = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    reach = [max(TIGHT_PIXELS, round(TIGHT_MARGIN * side)) for side in gray.shape]
    for ink_is_dark, ink, paper_level in ((True, ~light, lightest), (False, light, darkest)):
        paper = np.count_nonzero(edge > (low + high) / 2 if ink_is_dark else edge <= (low + high) / 2)
        plain = np.count_nonzero(edge == paper_level)  # less the ink's soft edges where it runs along the edge
        if 2 * paper > edge.size and 2 * plain > paper and _reaches_every_side(ink, reach):
            # A page scanned askew, the scanner's black fill in its corners, is a light sheet cut to its box.
            return None if _looks_like_a_sheet(ink) else ink_is_dark
    return None


def _reaches_every_side(mask: np.ndarray, reach: list[int]) -> bool:
    """Whether the largest region of ``mask`` lies within ``reach`` pixels (rows, columns) of each of the picture's
    sides: a digit's ink, in one piece (not a scanner's black fill in the corners of a page scanned askew, and the
    digit apart from it). The whole mask's box first: most pictures fail there, without labelling anything."""

    def reaches(part: np.ndarray) -> bool:
        rows, cols = box_around(part, 0)
        (height, width), (down, across) = part.shape, reach
        return max(rows.start, height - rows.stop) <= down and max(cols.start, width - cols.stop) <= across

    if not mask.any() or not reaches(mask):
        return False
    labels, _ = ndimage.label(mask, EIGHT_NEIGHBOURS)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return reaches(labels == sizes.argmax())


def _is_a_board(gray: np.ndarray, light: np.ndarray) -> bool:
    """Whether the largest dark region is a board with light ink on it, the rest of the picture round it: a
    blackboard on a lighter wall, the page's pad in a screenshot that shows the page round it. The light round
    it (more than LIGHT_INK of the picture, or a frame that is four-cornered once its hole is filled in) was
    taken for paper, the board for ink: chalk digits were read as the board's shape, and the pad's 4 as a 0,
    97% sure. Such a board is shaped like a sheet, clear of the picture's edge, and what it holds stands out
    from its own level as light, not dark: a grey sheet lying on a white table is dark, but so is its ink.
    And the light round it holds no dark mark as large as the light ones on the board (a page's title round
    its pad is small): a digit on paper beside a phone, whose screen shows a reflection or a clock, is on the
    paper."""
    if min(gray.shape) < SHEET_MIN_SIDE:
        return False
    labels, count = ndimage.label(~light, EIGHT_NEIGHBOURS)
    if count == 0:
        return False
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    board = int(sizes.argmax())
    region = labels == board
    if region[0].any() or region[-1].any() or region[:, 0].any() or region[:, -1].any():
        return False
    if not _looks_like_a_sheet(~light):
        return False
    filled = _fill_holes(region)
    low, level, high = np.percentile(gray[filled], [0.1, 50, 99.9])
    if high - level <= level - low:
        return False
    edge = _on_the_edge(labels, count)
    around = ndimage.find_objects(np.where(filled, 0, labels))  # the dark regions round the board (None: none)
    outside = [_Box.of(where).long_side for k, where in enumerate(around, start=1) if where and not edge[k]]
    marks, _ = ndimage.label(filled & light, EIGHT_NEIGHBOURS)
    on_it = [_Box.of(where).long_side for where in ndimage.find_objects(marks)]
    return max(on_it, default=0) > max(outside, default=0)


def _range_ends(gray: np.ndarray) -> tuple[np.float64, np.float64]:
    """``np.percentile(gray, [0.1, 99.9])``: the picture's range, without its rarest outliers. Where more
    than that share of the pixels sit at the darkest value and at the lightest (a drawing's plain background
    and its full-strength strokes), those two values, as numpy's selection would give them, without it. And
    when a digit is so small on a flat picture that both percentiles are the background, the extremes."""
    darkest, lightest = gray.min(), gray.max()
    enough = 0.001 * gray.size + 2
    if np.count_nonzero(gray == darkest) > enough and np.count_nonzero(gray == lightest) > enough:
        return np.float64(darkest), np.float64(lightest)
    low, high = np.percentile(gray, [0.1, 99.9])
    if low == high:  # a digit on fewer than 0.1% of a flat picture's pixels is all of its range
        return np.float64(darkest), np.float64(lightest)
    return low, high


def _looks_like_a_sheet(light: np.ndarray, drawing: bool = False) -> bool:
    """Whether the largest light region is a sheet of paper rather than a light digit: wide, convex and
    four-cornered (see SHEET_SIZE), whichever way it is turned and even seen at a slant, as a note lying on
    a desk is; and mostly paper when it lies clear of the picture's edge or on a ``drawing``'s plain dark
    background (SHEET_PAPER). Small images are never taken for photos of a sheet (SHEET_MIN_SIDE)."""
    if min(light.shape) < SHEET_MIN_SIDE:
        return False
    labels, count = ndimage.label(light, EIGHT_NEIGHBOURS)
    if count == 0:
        return False
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    region = labels == sizes.argmax()
    # Filling the ink on it in (below) changes neither the hull nor the width: every pixel of a hole has the
    # region on both sides in its row. So those come first, and the fill only when the sheet is wide enough;
    # and first of all the row spans (the filled region's most) against a part of the hull (its least).
    extremes = _RowExtremes.of(region)
    spans = extremes.spans()
    if spans < SHEET_SOLIDITY * extremes.extremes_area():
        return False
    hull = extremes.hull()
    outline = hull.points[hull.vertices]
    if _width(outline) < SHEET_SIZE * min(light.shape) or spans < SHEET_SOLIDITY * hull.volume:
        return False
    filled = int(_fill_holes(region).sum())
    if filled < SHEET_SOLIDITY * hull.volume:
        return False
    clear_of_edge = not (region[0].any() or region[-1].any() or region[:, 0].any() or region[:, -1].any())
    if (clear_of_edge or drawing) and region.sum() < SHEET_PAPER * filled:  # a light frame round a light digit
        return False
    diagonal = float(np.hypot(*np.ptp(outline, axis=0)))
    return len(_corners(outline, CORNER_TOLERANCE * diagonal)) <= SHEET_CORNERS


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_fill_holes(mask, EIGHT_NEIGHBOURS)``, from one labelling of the rest: a hole is a region
    of ``~mask`` that does not touch the picture's edge. (scipy's grows the outside inwards one pixel per pass:
    several times slower on a 256-pixel working copy, for the same result.)"""
    labels, _ = ndimage.label(~mask, EIGHT_NEIGHBOURS)
    outside = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return ~np.isin(labels, outside[outside > 0])


class _RowExtremes(NamedTuple):
    """A mask's rows that hold pixels, and in each the column of the first pixel and one past the last."""

    rows: np.ndarray
    first: np.ndarray
    last: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray) -> _RowExtremes:
        rows = np.flatnonzero(mask.any(axis=1))
        return cls(rows, mask[rows].argmax(axis=1), mask.shape[1] - mask[rows, ::-1].argmax(axis=1))

    def spans(self) -> int:
        """Pixels from each row's first pixel to its last: at least the area of the mask, holes filled."""
        return int((self.last - self.first).sum())

    def hull(self) -> ConvexHull:
        """The convex hull of the mask's pixels, each a unit square (points are x, y; in 2-D ``volume`` is
        the area and ``vertices`` go round counter-clockwise). Only the outer corners of each row's first and
        last pixel can be on the hull: a few hundred points instead of every pixel's four."""
        x = np.concatenate([self.first, self.last, self.first, self.last])
        y = np.concatenate([self.rows, self.rows, self.rows + 1, self.rows + 1])
        return ConvexHull(np.stack([x, y], axis=1).astype(np.float64))

    def extremes_area(self) -> float:
        """The area of the quadrilateral through the hull's topmost, rightmost, bottommost and leftmost corners
        (each the first in its direction): corners of the hull, in its order, so the hull holds it. A fast
        lower bound of the hull's area."""
        rows, first, last = self
        right, left = int(np.argmax(last)), len(rows) - 1 - int(np.argmin(first[::-1]))
        x = np.array([first[0], last[right], last[-1], first[left]], dtype=np.float64)
        y = np.array([rows[0], rows[right], rows[-1] + 1, rows[left] + 1], dtype=np.float64)
        return 0.5 * abs(float(x @ np.roll(y, -1) - y @ np.roll(x, -1)))


def _width(polygon: np.ndarray) -> float:
    """A convex polygon's smallest width over all directions (to the degree): a sheet's shorter side."""
    angles = np.radians(np.arange(180))
    along = polygon @ np.stack([np.cos(angles), np.sin(angles)])
    return float(np.ptp(along, axis=0).min())


def _corners(polygon: np.ndarray, tolerance: float) -> list[np.ndarray]:
    """The corners left when a closed polygon's outline is straightened wherever that moves it by at most
    ``tolerance`` (Douglas-Peucker, from the two corners farthest apart). Neither scipy nor numpy has it."""

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


class _Box(NamedTuple):
    """A region's bounding box, inclusive."""

    top: int
    bottom: int
    left: int
    right: int

    @classmethod
    def of(cls, where: tuple[slice, slice]) -> _Box:
        rows, cols = where
        return cls(rows.start, rows.stop - 1, cols.start, cols.stop - 1)

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom + 1), slice(self.left, self.right + 1)

    @property
    def long_side(self) -> int:
        return max(self.bottom - self.top, self.right - self.left) + 1

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    def widened(self, margin: float) -> tuple[float, float, float, float]:
        return self.top - margin, self.bottom + margin, self.left - margin, self.right + margin

    def within(self, bounds: tuple[float, float, float, float]) -> bool:
        top, bottom, left, right = bounds
        return self.top >= top and self.bottom <= bottom and self.left >= left and self.right <= right

    @classmethod
    def around(cls, boxes: list[_Box]) -> _Box:
        """The box around ``boxes`` (at least one)."""
        return cls(
            min(b.top for b in boxes),
            max(b.bottom for b in boxes),
            min(b.left for b in boxes),
            max(b.right for b in boxes),
        )

    def under(self, other: _Box) -> bool:
        """Flat, under ``other`` and clear of it, and reaching past both of its sides, as an underline does (see
        UNDERLINE)."""
        return (
            self.top - other.bottom > UNDERLINE_GAP * other.height
            and self.height <= UNDERLINE * (self.right - self.left + 1)
            and self.left <= other.left
            and self.right >= other.right
        )

    def beside(self, other: _Box) -> bool:
        """Side by side, as digits are written in a row: their columns overlap by less than half the narrower
        one's width, and their rows by at least half the shorter one's height. A stroke of the same digit
        drawn apart sits over or under the rest of it (a 3's top arc), or off its corner (a 5's flag drawn
        high to the right: of the 10,000 MNIST test digits drawn on the page, 5 such were taken for two
        digits before the rows counted, none since)."""
        return not self._columns_overlap(other) and 2 * self._rows_overlap(other) >= min(self.height, other.height)

    def in_a_column_with(self, other: _Box) -> bool:
        """Over or under ``other`` as digits written in a column are (their columns overlap by half the narrower
        one's width or more): clear of it by STACKED_GAP of its height, the two together at least COLUMN times
        as tall as wide; or clear of it by LINE_GAP (see STACKED_GAP)."""
        if not self._columns_overlap(other):
            return False
        gap = -self._rows_overlap(other)
        height = max(self.bottom, other.bottom) - min(self.top, other.top) + 1
        width = max(self.right, other.right) - min(self.left, other.left) + 1
        return gap >= LINE_GAP * other.height or (gap >= STACKED_GAP * other.height and height >= COLUMN * width)

    def _columns_overlap(self, other: _Box) -> bool:
        """Their columns overlap by half the narrower one's width or more."""
        overlap = min(self.right, other.right) - max(self.left, other.left) + 1
        return 2 * overlap >= min(self.right - self.left, other.right - other.left) + 1

    def _rows_overlap(self, other: _Box) -> int:
        """The rows both span; negative: the rows of the gap between them."""
        return min(self.bottom, other.bottom) - max(self.top, other.top) + 1


def _digit_regions(
    ink: np.ndarray,
    peak: float,
    background: np.ndarray,
    find_others: bool = True,
    tight: bool = False,
    unruled: bool = False,
) -> tuple[np.ndarray, bool, np.ndarray | None] | None:
    """The regions of ``ink`` (a working copy, ``background`` taken away) that make up the digit, as a boolean
    mask; whether another digit lies clear of it; and the marks left out of it, frames drawn round it and lines
    under it, as a mask (None if none).

    Regions are the connected areas above WEAK times the peak; a region's weight is its ink above STRONG
    times it, squared (a faint smudge weighs little or nothing). Hairlines (the sliver a sheet's slanted
    edge leaves, a ruled page's lines) are not the digit, unless they are all a drawing app's picture holds
    clear of its edge (a fine brush's strokes). The digit is the heaviest region that does not
    touch the picture's edge (what does is a table, a scanner's fill, a shadow's corner), else the
    heaviest of all (a digit cropped tightly). Strokes of
    the same digit that are not joined to it (a 5's flag) are the other such regions that lie within its
    box widened by a third; on a spotless background (MNIST's, a drawing app's) every region clear of the
    edge is. Another digit (a region outside that widened box, beside the digit or in a column with it, with
    at least ANOTHER_WEIGHT of its weight and ANOTHER_DIGIT of its height) is never kept, on any background,
    and makes the picture one of several digits. A frame drawn round the digit (see FRAMED_SIZE) is left out,
    and the digit is searched for among the regions it encloses alone; so is a line under it (UNDERLINE).
    In a clean picture cropped to its digit (``tight``: see :func:`_cropped_to_the_ink`) the regions touching its
    edge are the digit's as much as those clear of it: a dotted 0's dot, the one region clear of it, was the digit.
    """
    labels, count = ndimage.label(_cut_from_the_edge(ink > WEAK * peak, ink, peak), EIGHT_NEIGHBOURS)
    thick_groups = None
    if unruled and count:
        labels, count, thick_groups = _joined_across_lines(labels, count, ink > STRONG * peak)
    if count == 0:
        return None
    edge = _on_the_edge(labels, count)
    # The ink's strength is judged among the regions clear of the edge, as a black scanner fill or a dark
    # table is often darker than a pencil's stroke; unless all they hold is faint (smudges beside a digit
    # that touches the edge).
    clear = ~edge[labels] & (labels > 0)
    if clear.any():
        clear_peak = _peak(np.where(clear, ink, 0))
        if clear_peak > 2 * WEAK * peak:
            peak = clear_peak
    # Squared, so that a few strong strokes outweigh a wide, faint blot that barely passes STRONG.
    excess = np.clip(ink - STRONG * peak, 0, None) ** 2
    weight = np.bincount(labels.ravel(), weights=excess.ravel(), minlength=count + 1)
    pixels = np.bincount(labels.ravel(), minlength=count + 1)
    outline = np.bincount(_outline_pixels(labels), minlength=count + 1)
    boxes = {k: _Box.of(where) for k, where in enumerate(ndimage.find_objects(labels), start=1) if weight[k] > 0}
    # A region where the background steps (a grey sheet's corner on a white table) is the digit only when
    # nothing else can be (a note whose paper and digit make one region), and never a stroke of it or a
    # second digit.
    flat = float(np.ptp(background)) < 1 / 255
    # On a spotless background (one flat level, the ink exactly 0 over most of the picture: MNIST's images,
    # a drawing app's) every inked region is part of the drawing; elsewhere only the strokes near the digit
    # are (not the slivers along a sheet's edges on a clean, flat table).
    spotless = flat and (ink == 0).mean() > 0.5
    if thick_groups is None:
        thick = {k: box for k, box in boxes.items() if 2 * pixels[k] >= HAIRLINE * box.long_side * outline[k]}
    else:
        thick = {k: box for k, box in boxes.items() if thick_groups[k]}
    if spotless and all(edge[k] for k in thick):
        # Nothing but hairlines clear of the edge, on a drawing app's background: a digit drawn with a fine
        # brush (strokes under HAIRLINE of its size), which was "blank". (A ruled page's lines reach its edges.)
        thick.update({k: box for k, box in boxes.items() if not edge[k]})
    boxes = thick
    if not boxes:
        return None
    inside = [k for k in boxes if not edge[k]]

    def on_level_ground(k: int) -> bool:
        return flat or _steepest(background, labels, k, boxes[k]) < SHEET_STEP * peak

    @functools.cache
    def lines_gone() -> np.ndarray:
        """The ink without lines one or two pixels wide (see EDGE_STEP), made once, and only if needed."""
        return ndimage.grey_opening(ink, size=3)

    def region_peak(image: np.ndarray, k: int) -> float:
        box = boxes[k].slices
        return float(image[box][labels[box] == k].max())

    def inked(k: int) -> bool:
        if region_peak(ink, k) >= EDGE_INK:
            return True
        return _steepest(lines_gone(), labels, k, boxes[k]) >= EDGE_STEP * region_peak(lines_gone(), k)

    def across_the_width(k: int) -> bool:
        box = boxes[k]
        width = box.right - box.left + 1
        return width == ink.shape[1] and pixels[k] >= SOLID * width * box.height

    level = [k for k in inside if on_level_ground(k)]
    # A region touching the edge is the digit only when nothing clear of it can be (a digit cropped tightly),
    # and never where the background steps: that is the wedge a hard shadow's edge leaves where it meets the
    # picture's edge, which on a blank page was read as a 1 or a 7, 97-99% sure. Nor when it is as faint as
    # EDGE_CONTRAST: the haze the light's fall-off leaves along the edge of a blank ruled page (a 0, 64% sure).
    # Nor when it is no pen's ink (EDGE_INK): the wedge a soft shadow or a vignette leaves in a blank page's corner,
    # ruling lines across it or not. Nor, unless the picture is a clean one cut to its digit (``tight``), when it is a
    # solid band across the picture's whole width (see SOLID): a screenshot's status bar or toolbar, the one mark a
    # tiny digit left in the working copy, was read as a 5, 83% sure.
    cropped = [
        k
        for k in boxes
        if peak >= EDGE_CONTRAST and on_level_ground(k) and inked(k) and (tight or not across_the_width(k))
    ]

    def candidates_of(level: list[int], inside: list[int], cropped: list[int]) -> list[int]:
        return level + [k for k in cropped if edge[k]] if tight else level or inside or cropped

    candidates = candidates_of(level, inside, cropped)
    # A solid object (see SOLID) is the digit only when nothing else can be; never a stroke of it or a second digit.
    widths = {k: _solid_width(labels, k, boxes[k], pixels[k]) for k in candidates} if len(candidates) > 1 else {}
    if any(widths.values()):
        solid = {k for k, width in widths.items() if width}
        if rest := candidates_of(*([k for k in ks if k not in solid] for ks in (level, inside, cropped))):
            # ... when it is about as wide as that is tall: not the dot in a 0's loop, nor a full stop beside a digit
            tallest = max(boxes[k].long_side for k in rest)
            if solid := {k for k in solid if widths[k] >= ANOTHER_DIGIT * tallest}:
                rest = candidates_of(*([k for k in ks if k not in solid] for ks in (level, inside, cropped)))
                candidates, level = rest, [k for k in level if k not in solid]
    if not candidates:
        return None
    main = max(candidates, key=lambda k: weight[k])
    # A frame drawn round the digit: heavier than it (a marker's box round a 1), so taken for the digit, or
    # lighter (a fine line round a bold digit), so kept as a stroke of it. Both are left out, and the digit is
    # searched for among what they enclose (a box in a box: both).
    left_out: list[int] = []
    while enclosed := _framed(labels, main, candidates, boxes, weight):
        left_out.append(main)
        candidates = enclosed
        main = max(candidates, key=lambda k: weight[k])
    for k in sorted(candidates, key=lambda k: -boxes[k].long_side):  # the outermost first
        if k != main and k in candidates and boxes[main].within(boxes[k].widened(0)):
            enclosed = _framed(labels, k, candidates, boxes, weight)
            if main in enclosed:
                left_out.append(k)
                candidates = enclosed
    # A line under the digit, heavier than it (under a 1).
    above = [k for k in candidates if boxes[k].bottom < boxes[main].top]
    if above and _underlines(labels, main, [boxes[k] for k in above], boxes[main]):
        left_out.append(main)
        candidates = [k for k in candidates if k != main]
        main = max(above, key=lambda k: weight[k])
    if left_out:
        level = [k for k in level if k in candidates]
    near = boxes[main].widened(boxes[main].long_side / 3)
    apart = [
        k
        for k in level
        if not boxes[k].within(near)
        and weight[k] >= ANOTHER_WEIGHT * weight[main]
        and boxes[k].height >= ANOTHER_DIGIT * boxes[main].height
        and (boxes[k].beside(boxes[main]) or boxes[k].in_a_column_with(boxes[main]))
    ]
    # Another digit is left out even on a spotless background, so that the image shows the one digit the
    # answer is about (drawn side by side on the page, both would be shrunk into one 20-pixel box). Without
    # find_others such a region is a part of the character standing apart (KMNIST's は, い), kept on any
    # background: on paper, under noise or a light's fall-off, は's left stroke was left out, without a word.
    other_digits = apart if find_others else []
    part = boxes[main].widened(boxes[main].long_side)  # a character's parts lie within about its size of it
    keep = [
        k
        for k in level
        if k not in other_digits and (spotless or boxes[k].within(near) or (k in apart and boxes[k].within(part)))
    ]
    # A line under the digit, lighter than it, was kept as a stroke of it.
    digit = {main, *keep}
    left_out += [k for k in digit - {main} if _underlines(labels, k, [boxes[d] for d in digit - {k}], boxes[k])]
    keep = [k for k in keep if k not in left_out]
    return np.isin(labels, [main, *keep]), bool(other_digits), np.isin(labels, left_out) if left_out else None


def _joined_across_lines(labels: np.ndarray, count: int, strong: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """The regions of ``labels`` (1 to ``count``) on a page whose ruling was taken away, those clear of the picture's
    edge and holding ``strong`` ink joined where they lie within twice RULED_GAP working pixels of each other (see
    there): the new labels, their count, and per new label whether it is no hairline, as one of its pieces alone is
    not (a pencil's whole digit is as thin as a hairline of its size: see HAIRLINE). A faint speck is not joined: one
    beside a stroke made the digit's box larger than on plain paper. Nor is a region reaching the edge, which is the
    digit only when nothing else can be: a line's end left along the edge would make the digit joined to it one."""
    joining = np.zeros(count + 1, dtype=bool)
    joining[labels[strong]] = True
    joining &= ~_on_the_edge(labels, count)
    joining[0] = False
    clear = joining[labels]
    grown = ndimage.binary_dilation(clear, EIGHT_NEIGHBOURS, iterations=RULED_GAP)
    joined, found = ndimage.label(grown, EIGHT_NEIGHBOURS)
    merged = np.where(clear, joined, np.where(labels > 0, labels + found, 0))
    present = np.unique(merged)
    present = present[present > 0]
    lookup = np.zeros(found + count + 1, dtype=np.int64)
    lookup[present] = np.arange(1, present.size + 1)
    groups = lookup[merged]
    group_of = np.zeros(count + 1, dtype=np.int64)
    group_of[labels.ravel()] = groups.ravel()
    pixels = np.bincount(labels.ravel(), minlength=count + 1)
    outline = np.bincount(_outline_pixels(labels), minlength=count + 1)
    long_sides = np.zeros(count + 1)
    for k, where in enumerate(ndimage.find_objects(labels), start=1):
        long_sides[k] = _Box.of(where).long_side
    thick = np.flatnonzero(2 * pixels >= HAIRLINE * long_sides * outline)
    thick_groups = np.zeros(present.size + 1, dtype=bool)
    thick_groups[group_of[thick[thick > 0]]] = True
    return groups, present.size, thick_groups


def _solid_width(labels: np.ndarray, k: int, box: _Box, pixels: int) -> float:
    """How wide region ``k`` (its box ``box``, ``pixels`` of it) is, every way across, when it is a solid object
    rather than ink (see SOLID); 0 when it is not: it fills SOLID of the smallest rectangle round it (turned to the
    degree), which is at least THICK_STROKE as wide as the box is long."""
    long_side = box.long_side
    # The rectangle is at least THICK_STROKE * long_side wide, and at least half long_side long however it is
    # turned: the cheap test first.
    if pixels < SOLID * THICK_STROKE * long_side * long_side / 2:
        return 0.0
    hull = _RowExtremes.of(labels[box.slices] == k).hull()
    angles = np.radians(np.arange(180))
    spans = np.ptp(hull.points[hull.vertices] @ np.stack([np.cos(angles), np.sin(angles)]), axis=0)
    width = float(spans.min())
    if width < THICK_STROKE * long_side or pixels < SOLID * float((spans * np.roll(spans, 90)).min()):
        return 0.0
    return width


def _on_the_edge(labels: np.ndarray, count: int) -> np.ndarray:
    """For each label of ``labels`` (0 to ``count``), whether its region reaches the picture's edge."""
    edge = np.zeros(count + 1, dtype=bool)
    edge[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
    return edge


def _cut_from_the_edge(mask: np.ndarray, ink: np.ndarray, peak: float) -> np.ndarray:
    """``mask`` with the hairlines cut off that join a stroke to the picture's edge: a ruled page's lines
    through a digit (or the thin edge of a shadow across it) made it one region with them, from edge to edge,
    which was dropped as a hairline (a marker's 4 on a ruled page read as blank) or kept as the digit, lines
    and all (a 4 read as a 2). A region reaching the edge is opened (a 3x3 square: a stroke as wide survives,
    a line one or two pixels wide does not); where a piece of what is left clear of the edge holds at least half
    of the region's ink (its weight, as in :func:`_digit_regions`), what is left clear of the edge is the region,
    its hairlines gone. (Not where only the bits of a fine pen's digit are left, none of them as heavy.) A digit
    cropped tightly, or a table's edge, is thick where it meets the edge: left as it is."""
    labels, count = ndimage.label(mask, EIGHT_NEIGHBOURS)
    edge = _on_the_edge(labels, count)
    edge[0] = False
    touching = edge[labels]
    if not touching.any():
        return mask
    # an opening only takes pixels away: each piece lies within one region
    opened = _pieces_of(labels, count, ndimage.binary_opening(touching, EIGHT_NEIGHBOURS), ink, peak)
    inked = edge & (opened.region_weight > 0)
    split = inked & (opened.heaviest >= opened.region_weight / 2)
    kept_by_strength = _strongest_clear_of_the_edge(mask, labels, count, inked & ~split, ink, peak)
    if not split.any() and kept_by_strength is None:
        return mask
    cut = np.where(split[labels], opened.clear[opened.labels], mask)
    return cut if kept_by_strength is None else np.where(kept_by_strength[0][labels], kept_by_strength[1], cut)


def _strongest_clear_of_the_edge(
    mask: np.ndarray, labels: np.ndarray, count: int, unsplit: np.ndarray, ink: np.ndarray, peak: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """For :func:`_cut_from_the_edge`: the hairline regions among ``unsplit`` (by label) whose ink is a fine pen's
    digit crossed by a ruled page's lines, and what is left of them once the lines are gone; None if none.

    A stroke under a working pixel wide (a ballpoint or a pencil in a phone's photo of a page) is no wider than
    the page's lines, so the opening takes it away with them; but it is darker than they are, which the opening
    does not look at. Such a region's strong ink (above STRONG of the peak, as its weight counts it) without the
    lines is the digit's: where a piece of it clear of the edge holds at least half of the region's weight, and
    one the picture's peak, the region is its pieces clear of the edge that weigh STROKE_PIECE of it or more, and
    their soft edges (the region's pixels next to them). Only a region that is a hairline as a whole (see
    HAIRLINE), which would be dropped, is looked at: a tightly cropped digit or a table's edge is left as it is."""
    if not unsplit.any():
        return None
    pixels = np.bincount(labels.ravel(), minlength=count + 1)
    outline = np.bincount(_outline_pixels(labels), minlength=count + 1)
    long_sides = np.zeros(count + 1)
    for k, where in enumerate(ndimage.find_objects(labels), start=1):
        if where is not None and unsplit[k]:
            long_sides[k] = _Box.of(where).long_side
    hairline = unsplit & (2 * pixels < HAIRLINE * long_sides * outline)
    if not hairline.any():
        return None
    strong = _pieces_of(labels, count, hairline[labels] & (ink > STRONG * peak), ink, peak)
    kept = np.flatnonzero(strong.clear)
    # The darkest ink of the picture, as a fine pen's digit is beside the lines: not the bits of a line that a
    # shadow's edge, or the light's fall-off, lifts just over STRONG of a fainter peak.
    darkest = np.zeros(count + 1, dtype=bool)
    piece_peak = ndimage.maximum(ink, strong.labels, kept) if kept.size else np.zeros(0)
    darkest[strong.region_of[kept[np.asarray(piece_peak) >= peak]]] = True
    split = hairline & darkest & (strong.heaviest >= strong.region_weight / 2)
    if not split.any():
        return None
    strokes = strong.clear & (strong.weight >= STROKE_PIECE * strong.region_weight[strong.region_of])
    return split, _widened(strokes[strong.labels] & split[labels], 1) & mask


class _Pieces(NamedTuple):
    """Pieces of a mask's regions (each piece within one region), weighed as :func:`_digit_regions` weighs ink."""

    labels: np.ndarray  # the pieces' labels, 1 to their count (0: none)
    clear: np.ndarray  # per piece: clear of the picture's edge (False for label 0)
    region_of: np.ndarray  # per piece: the label of the region it lies in
    weight: np.ndarray  # per piece: its ink's weight
    region_weight: np.ndarray  # per region: its whole ink's weight
    heaviest: np.ndarray  # per region: the weight of its heaviest piece clear of the edge (0: none)


def _pieces_of(regions: np.ndarray, count: int, within: np.ndarray, ink: np.ndarray, peak: float) -> _Pieces:
    """The pieces of ``within`` (pixels of the labelled ``regions``, 1 to ``count``), weighed: what
    :func:`_cut_from_the_edge` and :func:`_strongest_clear_of_the_edge` keep of a region joined to the edge."""
    pieces, found = ndimage.label(within, EIGHT_NEIGHBOURS)
    excess = (np.clip(ink - STRONG * peak, 0, None) ** 2).ravel()
    clear = ~_on_the_edge(pieces, found)
    clear[0] = False
    region_of = np.zeros(found + 1, dtype=np.int64)
    region_of[pieces.ravel()] = regions.ravel()
    weight = np.bincount(pieces.ravel(), weights=excess, minlength=found + 1)
    kept = np.flatnonzero(clear)
    heaviest = np.zeros(count + 1)
    np.maximum.at(heaviest, region_of[kept], weight[kept])
    region_weight = np.bincount(regions.ravel(), weights=excess, minlength=count + 1)
    return _Pieces(pieces, clear, region_of, weight, region_weight, heaviest)


def _underlines(labels: np.ndarray, k: int, others: list[_Box], box: _Box) -> bool:
    """Whether region ``k`` (its box ``box``) is a line drawn under the regions of ``others`` (see UNDERLINE):
    flat and under them, and straight (its columns' middles within UNDERLINE_BOW of its width of a line)."""
    if not box.under(_Box.around(others)):
        return False
    line = labels[box.top : box.bottom + 1, box.left : box.right + 1] == k
    columns = np.flatnonzero(line.any(axis=0))
    rows = np.arange(line.shape[0], dtype=np.float64)
    middles = (rows @ line[:, columns]) / line[:, columns].sum(axis=0)
    bow = middles - np.polyval(np.polyfit(columns, middles, 1), columns)
    return float(np.abs(bow).max()) <= UNDERLINE_BOW * line.shape[1]


def _framed(
    labels: np.ndarray, frame: int, candidates: list[int], boxes: dict[int, _Box], weight: np.ndarray
) -> list[int]:
    """The ``candidates`` that region ``frame`` encloses, when it is a frame drawn round a digit; else [].

    It is one when what it encloses holds real ink: the heaviest region in one of its holes with the pieces
    near it (a digit in pieces, as a faint pen leaves it), together at least FRAMED_SIZE of the hole's longer
    side and FRAMED_WEIGHT of the frame's weight, and all FRAME_GAP or more clear of it."""
    box = boxes[frame]
    within = [k for k in candidates if k != frame and boxes[k].within(box.widened(0))]
    if not within:  # nothing in its box, so no hole to look for: a digit alone, most often
        return []
    part = labels[box.top : box.bottom + 1, box.left : box.right + 1]
    ring = part == frame
    # The spaces the frame divides its box into, 4-connected: a region's pixels join at their corners too, and
    # an 8-connected space would slip out between two of them.
    spaces, _ = ndimage.label(~ring)
    outside = set(np.concatenate([spaces[0], spaces[-1], spaces[:, 0], spaces[:, -1]]).tolist())
    # A region does not touch the frame, so it lies in one space: its first pixel's.
    space_of = {k: int(spaces[tuple(np.argwhere(part == k)[0])]) for k in within}
    enclosed = [k for k in within if space_of[k] not in outside]
    if not enclosed:
        return []
    heaviest = max(enclosed, key=lambda k: weight[k])
    near = boxes[heaviest].widened(boxes[heaviest].long_side / 3)
    digit = [k for k in enclosed if space_of[k] == space_of[heaviest] and boxes[k].within(near)]
    hole = _Box.of(ndimage.find_objects(spaces)[space_of[heaviest] - 1])
    if (
        weight[digit].sum() < FRAMED_WEIGHT * weight[frame]
        or _Box.around([boxes[k] for k in digit]).long_side < FRAMED_SIZE * hole.long_side
        or (_widened(ring, FRAME_GAP) & np.isin(part, digit)).any()
    ):
        return []
    return enclosed


def _steepest(background: np.ndarray, labels: np.ndarray, k: int, box: _Box) -> float:
    """The largest step of ``background`` (or the ink) between neighbouring pixels, within a pixel of region ``k``."""
    top, left = max(0, box.top - 1), max(0, box.left - 1)
    part = background[top : box.bottom + 2, left : box.right + 2]
    near = ndimage.binary_dilation(labels[top : box.bottom + 2, left : box.right + 2] == k, EIGHT_NEIGHBOURS)
    steep = np.zeros_like(part)
    for axis in (0, 1):
        step = np.abs(np.diff(part, axis=axis))
        before, after = [slice(None)] * 2, [slice(None)] * 2
        before[axis], after[axis] = slice(None, -1), slice(1, None)
        steep[tuple(before)] = np.maximum(steep[tuple(before)], step)
        steep[tuple(after)] = np.maximum(steep[tuple(after)], step)
    return float(steep[near].max())


def _outline_pixels(labels: np.ndarray) -> np.ndarray:
    """The labels of the regions' outline pixels: those not inside the regions' closing (filled, without
    noise's pinholes and ragged edges). Worked out in the box around all regions, two pixels wider where
    the picture allows (the same pixels as on the whole picture: outside it counts as empty either way)."""
    labels = labels[box_around(labels > 0, 2)]
    inked = labels > 0
    return labels[inked & ~_inner(_closed(inked))]


def _closed(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_closing(mask, EIGHT_NEIGHBOURS)``: without noise's pinholes and ragged edges. As
    maximum and minimum filters on bytes (scipy runs a square's as 1-D passes): the same pixels, several times
    faster than scipy's binary morphology, which visits the whole footprint at every pixel."""
    grown = ndimage.maximum_filter(mask.view(np.uint8), size=3, mode="constant")
    return ndimage.minimum_filter(grown, size=3, mode="constant").view(bool)


def _inner(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_erosion(mask)``: the pixels whose four neighbours are in ``mask`` too (outside the
    picture is not), as two 1-D minimum filters on bytes, like :func:`_closed`."""
    pixels = mask.view(np.uint8)
    down = ndimage.minimum_filter1d(pixels, 3, axis=0, mode="constant")
    return (down & ndimage.minimum_filter1d(pixels, 3, axis=1, mode="constant")).view(bool)


def _peak(ink: np.ndarray) -> float:
    """The brightest ink, from a 3x3 average (of the pixels inside the picture) so that one hot pixel of
    noise does not count."""
    padded = np.pad(ink.astype(np.float32, copy=False), 1)
    rows = padded[:-2] + padded[1:-1] + padded[2:]
    sums = rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]
    # Pixels inside the picture in each 3x3 window: 9, 6 along an edge, 4 in a corner (fewer in a tiny one).
    # ("full" then trimmed: "same" returns 3 values for a side of 1 or 2 pixels.)
    counts = np.outer(*(np.convolve(np.ones(n, dtype=np.float32), np.ones(3))[1:-1] for n in ink.shape))
    return float((sums / counts).max())


def _background_noise(ink: np.ndarray, digit: np.ndarray) -> float:
    """:func:`_noise_level` of ``ink``'s background: of all of it, unless the ``digit``'s regions (a mask of the
    working copy, which ``ink`` may be a grid of) cover half of it or more, as a bold digit cropped to its box does;
    then of the rest. (The median of the whole was then the ink's own level, and all of it was taken away: blank.)"""
    if digit.mean() < 0.5:
        return _noise_level(ink)
    if digit.shape != ink.shape:
        digit = _enlarge(digit.astype(np.float32), ink.shape, resample=Image.Resampling.NEAREST) > 0
    return _noise_level(ink[~digit]) if not digit.all() else 0.0


def _noise_level(ink: np.ndarray) -> float:
    """How far the background's noise reaches (``ink`` >= 0): its median plus three robust standard
    deviations. Zero when most of it is exactly zero (a plain background), without sorting anything."""
    if np.count_nonzero(ink) < ink.size / 2:  # the median is 0, and so is the median distance from it
        return 0.0
    median = float(np.median(ink))
    spread = 1.4826 * float(np.median(np.abs(ink - median)))
    return median + 3 * spread


def octagon_lines(size: int) -> tuple[int, int]:
    """The lengths of the lines whose maxima, one after another, make a maximum over a regular octagon
    ``size`` pixels across (``size`` odd, from 7: smaller ones have gaps): (horizontal and vertical lines,
    each diagonal line). Every length is odd, so each line has a centre pixel and the octagon is symmetric
    about its centre, which an opening needs (with an even length, dilate(erode(x)) can exceed x)."""
    if size % 2 == 0 or size < 7:
        raise ValueError(f"an octagon's size must be odd and at least 7, not {size}")
    half_diagonal = round(size / (2 + 2**0.5) / 2)
    straight = size - 4 * half_diagonal
    return straight, 2 * half_diagonal + 1


def octagon_footprint(size: int) -> np.ndarray:
    """The octagon of :func:`octagon_lines` as a boolean ``size`` x ``size`` footprint (for scipy)."""
    point = np.zeros((size, size), dtype=np.float32)
    point[size // 2, size // 2] = 1
    return _octagon_max(point, size) > 0


def _octagon_max(image: np.ndarray, size: int) -> np.ndarray:
    """Maximum over a regular octagon ``size`` pixels across (``size`` odd): a square's sides plus a
    diamond's, the picture's edge repeated beyond it (scipy's ``mode="nearest"``).

    An octagon, not a square, so that an opening slides along the slanted edge of a sheet lying askew as
    well as along a straight one, and leaves no sliver of the sheet behind to be taken for ink. As four
    line maxima: scipy's ``maximum_filter`` with the octagon as a footprint costs its area per pixel
    (about 160 times slower at a window of 63, on the working copy).
    """
    straight, diagonal = octagon_lines(size)
    reach = size // 2
    padded = np.pad(image, reach, mode="edge")  # repeated once, in 2-D, so the lines compose exactly
    padded = ndimage.maximum_filter1d(padded, straight, axis=0, mode="nearest")
    padded = ndimage.maximum_filter1d(padded, straight, axis=1, mode="nearest")
    if diagonal > 1:
        padded = _diagonal_max(_diagonal_max(padded, diagonal, 1), diagonal, -1)
    return padded[reach:-reach, reach:-reach] if reach else padded


def _diagonal_max(image: np.ndarray, length: int, slope: int) -> np.ndarray:
    """Maximum over ``length`` pixels (odd) along a diagonal, down-right (``slope`` 1) or down-left (-1).

    Laid end to end in rows one pixel longer (or shorter) than the picture's, a diagonal is a column, and
    scipy's 1-D filter runs down it. Values near the left and right edges mix with the other side's: the
    caller pads the picture by half the length first and cuts that margin off. (scipy has no diagonal
    filter; a diagonal footprint costs ``length`` per pixel: 5 times slower at 43.)
    """
    height, width = image.shape
    stride = width + slope
    flat = np.concatenate([image.ravel(), np.full(-image.size % stride, image.flat[-1], image.dtype)])
    columns = ndimage.maximum_filter1d(flat.reshape(-1, stride), length, axis=0, mode="nearest")
    return columns.ravel()[: image.size].reshape(height, width)


def grey_opening(image: np.ndarray, size: int) -> np.ndarray:
    """A grey opening by the octagon ``size`` pixels across, edges as scipy's ``mode="nearest"``: equal to
    ``scipy.ndimage.grey_opening(image, footprint=octagon_footprint(size), mode="nearest")``."""
    return _octagon_max(-_octagon_max(-image, size), size)


def _opening(image: np.ndarray, size: int) -> np.ndarray:
    """What is left when everything light and narrower than ``size`` is flattened: the background under
    light ink. Wide areas, straight edges and smooth gradients pass unchanged.

    The picture is first extended beyond its edge, as if what lies around it (a table, a shadow, the
    page) went on: outwards from each side, each of its outermost pixels replaced by the darkest within
    ``size`` along that side, so that a stroke the edge cuts is not carried outwards. A strip of table
    between a sheet and the picture's edge, or a shadow along it, then stays background even where it is
    narrower than ``size``, while the stroke stays ink. (A stroke running along a whole side, as a tightly
    cropped 7's bar does, is carried outwards and lost: on a drawing's plain background :func:`_ink` takes
    that level instead.)
    """
    framed = image.copy()
    for side in (framed[0], framed[-1], framed[:, 0], framed[:, -1]):  # views into ``framed``
        side[:] = ndimage.minimum_filter1d(side, size, mode="nearest")
    # A drawing on a plain background (the page's canvas, a drawing app's) opens to that plain level: seen
    # from the square inside the octagon, in a frame half as wide as the square (see _opening_is_flat).
    straight, _ = octagon_lines(size)
    darkest = image.min()  # the frame's pixels are minima of the picture's own edge: none is darker
    if _opening_is_flat(_surrounded(image, framed, straight // 2 + 1), straight, darkest):
        return np.full_like(image, darkest)
    return grey_opening(_surrounded(image, framed, size), size)[size:-size, size:-size]


def _surrounded(image: np.ndarray, frame: np.ndarray, width: int) -> np.ndarray:
    """``image`` inside ``width`` pixels of ``frame``'s edge, repeated outwards."""
    padded = np.pad(frame, width, mode="edge")
    padded[width:-width, width:-width] = image
    return padded


def _opening_is_flat(image: np.ndarray, straight: int, darkest: float) -> bool:
    """Whether an opening of ``image`` by an octagon whose straight sides are ``straight`` long is
    ``darkest`` everywhere: so when every ``straight`` x ``straight`` square holds a pixel of that level (the
    square lies inside the octagon, so the octagon's erosion is that level too, and so is any dilation of
    it). Two 1-D filters on bytes instead of the opening's eight on floats.

    A frame of the picture's edge half a square wide is enough: further out, the squares of scipy's
    ``mode="nearest"`` see only rows and columns of that frame that the outermost squares see already."""
    above = (image > darkest).view(np.uint8)
    eroded = ndimage.minimum_filter1d(above, straight, axis=0, mode="nearest")
    return not ndimage.minimum_filter1d(eroded, straight, axis=1, mode="nearest").any()


def shrink(image: np.ndarray, scale: float) -> np.ndarray:
    """A float image made smaller by ``scale`` (area averaging): the working copy."""
    size = (max(2, round(image.shape[1] * scale)), max(2, round(image.shape[0] * scale)))
    return np.asarray(Image.fromarray(image.astype(np.float32)).resize(size, Image.Resampling.BOX))


def _enlarge(
    image: np.ndarray,
    shape: tuple[int, int],
    part: tuple[float, float, float, float] | None = None,
    resample: Image.Resampling = Image.Resampling.BILINEAR,
) -> np.ndarray:
    """``part`` of a working-size float image (left, top, right, bottom; all of it by default) brought to
    ``shape`` (rows, cols): bilinear for a smooth background, nearest for a mask."""
    if image.min() == image.max():  # a plain background: the same, without resampling it
        return np.full(shape, image.flat[0], dtype=np.float32)
    return np.asarray(Image.fromarray(image.astype(np.float32)).resize((shape[1], shape[0]), resample, part))


def stroke_width(mask: np.ndarray) -> float:
    """The width in pixels of a mask's strokes, however they bend or branch: twice its pixels over its
    outline's (a band w pixels wide and n long has w * n pixels and 2 * n on its outline); 0 if empty."""
    if not mask.any():
        return 0.0
    # Padded: a stroke along the mask's own edge (a crop's) would lose a second ring to the closing there, and
    # its outline count twice.
    outline = len(_outline_pixels(np.pad(mask, 2).astype(np.int32)))
    return 2 * int(mask.sum()) / max(outline, 1)


def _thickened(digit: np.ndarray) -> np.ndarray:
    """A cropped digit (ink in [0, 1], peak 1) whose strokes are thinner than THIN_STROKE of its longer side,
    widened to MNIST_STROKE (a maximum over an octagon, a square when that is under 7 pixels across, the
    picture padded so no stroke is cut); any other digit as it is."""
    long_side = max(digit.shape)
    width = stroke_width(digit > 0.5)
    if width >= THIN_STROKE * long_side:
        return digit
    size = int(round(MNIST_STROKE * long_side - width)) // 2 * 2 + 1  # odd: a centre pixel, no shift
    if size < 3:
        return digit
    padded = np.pad(digit, size // 2)
    if size >= 7:
        return _octagon_max(padded, size)
    return ndimage.maximum_filter(padded, size=size, mode="constant")


def pen_width(mask: np.ndarray) -> float:
    """The width in pixels of the pen that drew a mask's strokes: twice the depth of its middle lines (the pixels
    at least as deep inside as their eight neighbours) at their shallowest tenth, less the middle pixel counted
    twice; 0 if empty. Unlike :func:`stroke_width` it is not raised where strokes meet or a loop is filled in
    (an 8 drawn with a broad pen is a blob in the middle, its strokes the pen's width at their ends)."""
    if not mask.any():
        return 0.0
    depth = ndimage.distance_transform_edt(np.pad(mask, 1))
    middle = (depth > 0) & (depth >= ndimage.maximum_filter(depth, 3))
    return 2 * float(np.percentile(depth[middle], 10)) - 1


def _thinned(digit: np.ndarray) -> np.ndarray:
    """A cropped digit (ink in [0, 1], peak 1) drawn with a pen wider than THICK_STROKE of its longer side, its
    strokes thinned to THINNED_STROKE of what is left of it (a minimum over an octagon, a square when that is
    under 7 pixels across, with no ink beyond the crop) and cropped again to its clearly inked pixels; any other
    digit as it is. Each side of a stroke loses half the octagon, so the digit's box shrinks as its strokes do."""
    long_side = max(digit.shape)
    step = -(-long_side // PEN_SIDE)
    mask = digit[::step, ::step] > 0.5
    if stroke_width(mask) * step <= PEN_GATE * THICK_STROKE * long_side:
        return digit
    width = pen_width(mask) * step
    if width <= THICK_STROKE * long_side or mask.mean() > FILLED:
        return digit
    width = min(width, BLOB * long_side)
    # Thinning by k pixels leaves strokes of width - k in a box of long_side - k: THINNED_STROKE of it.
    size = int(round((width - THINNED_STROKE * long_side) / (1 - THINNED_STROKE))) // 2 * 2 + 1
    if size < 3:
        return digit
    padded = np.pad(digit, size // 2)
    if size >= 7:
        thinned = 1 - _octagon_max(1 - padded, size)
    else:
        thinned = ndimage.minimum_filter(padded, size=size, mode="constant")
    peak = thinned.max()
    if peak <= INK:  # nothing left (a solid block, no strokes): as it was
        return digit
    thinned = thinned / peak
    return thinned[box_around(thinned > INK, 0)]


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
    row, col = ndimage.center_of_mass(digit)
    top = int(np.clip(round(centre - row), 0, frame - height))
    left = int(np.clip(round(centre - col), 0, frame - width))
    out = np.zeros((frame, frame), dtype=np.float32)
    out[top : top + height, left : left + width] = digit
    return out
