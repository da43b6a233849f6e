"""Users' own pictures -> MNIST-style tensors, on synthetic images made here (no data set, no network)."""

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps
from scipy import ndimage, special

from mnist_rnn import preparation
from mnist_rnn.preparation import grey_opening, octagon_footprint, prepare, to_mnist
from mnist_rnn.user_images import decode_image
from tests.helpers import render_digit


def mnist_style(digit: int) -> torch.Tensor:
    """A digit as MNIST has it: light on black, fitted to 20x20 and centred by mass (our own output)."""
    return to_mnist(render_digit(digit, canvas=(300, 300), size=200, at=(50, 20)))


def close(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of two uint8 images, in [0, 1]."""
    return float((a.float() - b.float()).abs().mean() / 255)


def centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    pixels = image[0].double()
    index = torch.arange(pixels.shape[0], dtype=torch.double)
    return float((pixels.sum(1) * index).sum() / pixels.sum()), float((pixels.sum(0) * index).sum() / pixels.sum())


def ink_box(image: torch.Tensor) -> tuple[int, int]:
    rows, cols = torch.nonzero(image[0] > 0, as_tuple=True)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("digit", [0, 1, 4, 7])
def test_result_is_mnist_shaped_fitted_and_centred(digit):
    image = mnist_style(digit)
    assert image.shape == (1, 28, 28) and image.dtype == torch.uint8
    assert max(ink_box(image)) == 20  # the longer side of the ink fills MNIST's 20-pixel box
    assert image.max() == 255 and image[0, 0, 0] == 0  # full-brightness ink on black
    row, col = centre_of_mass(image)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5


@pytest.mark.parametrize("digit", range(10))
def test_an_mnist_style_image_goes_through_unchanged(digit):
    image = mnist_style(digit)
    again = to_mnist(Image.fromarray(image[0].numpy()))
    assert torch.equal(again, image)


def test_dark_ink_on_light_paper_off_centre_on_a_large_canvas():
    scan = render_digit(3, canvas=(640, 480), size=150, at=(420, 280), ink=20, paper=235)
    assert close(to_mnist(scan), mnist_style(3)) < 0.03
    assert close(to_mnist(scan), mnist_style(8)) > 0.05  # the test can tell digits apart


def test_font_digits_dark_on_large_light_canvases_off_centre_match_their_own_digit():
    references = torch.stack([mnist_style(d) for d in range(10)])
    for digit, (canvas, at) in zip(range(10), [((800, 600), (560, 300)), ((400, 900), (20, 30))] * 5, strict=False):
        # Same font size as the reference: where the digit sits, the canvas and the colours must not matter.
        ours = to_mnist(render_digit(digit, canvas=canvas, size=200, at=at, ink=30, paper=225))
        distances = [close(ours, reference) for reference in references]
        assert distances.index(min(distances)) == digit and min(distances) < 0.01


def test_rgb_jpeg_like_photo_with_grey_paper():
    photo = render_digit(
        5, canvas=(400, 400), size=180, at=(30, 150), ink=(40, 30, 90), paper=(200, 190, 180), mode="RGB"
    )
    assert close(to_mnist(photo), mnist_style(5)) < 0.03


@pytest.mark.parametrize("stroke", [(0, 0, 0, 255), (255, 255, 255, 255), (200, 30, 30, 255)])
def test_rgba_with_a_transparent_background(stroke):
    # A drawing app's export: transparent pixels are (0, 0, 0, 0), i.e. "black" once the alpha is dropped.
    drawing = render_digit(2, canvas=(256, 256), size=160, at=(60, 10), ink=stroke, paper=(0, 0, 0, 0), mode="RGBA")
    assert close(to_mnist(drawing), mnist_style(2)) < 0.03


def test_transparent_palette_gif(tmp_path):
    drawing = render_digit(
        6, canvas=(200, 200), size=120, at=(10, 40), ink=(0, 0, 0, 255), paper=(0, 0, 0, 0), mode="RGBA"
    )
    drawing.save(tmp_path / "six.gif")
    assert close(to_mnist(decode_image(tmp_path / "six.gif")), mnist_style(6)) < 0.04


def test_aspect_ratio_is_kept():
    bar = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(bar).rectangle((100, 20, 119, 219), fill=0)  # 20 wide, 200 tall, dark on light
    assert ink_box(to_mnist(bar)) == (20, 2)


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGB", (50, 80), "white"),
        Image.new("L", (28, 28), 0),
        Image.new("RGBA", (64, 64), (0, 0, 0, 0)),
        Image.new("RGBA", (64, 64), (255, 255, 255, 0)),
        Image.new("L", (1, 1), 0),
        Image.new("RGB", (1, 40), "black"),
        Image.new("I;16", (30, 30), 40000),
    ],
    ids=["white", "black", "transparent", "transparent-white", "1x1", "1-wide", "16-bit-grey"],
)
def test_blank_images_are_flagged_and_all_background(image):
    prepared = prepare(image)
    assert prepared.blank
    assert torch.equal(prepared.pixels, torch.zeros(1, 28, 28, dtype=torch.uint8))


@pytest.mark.parametrize("size", [(2, 2), (3, 2), (28, 2), (4000, 30), (30, 4000), (1000, 5), (600, 3)])
def test_thin_pictures_are_prepared_not_refused_with_a_crash(size):
    """A side of 1 or 2 pixels (after a long picture is brought to the working size) crashed the search for
    the brightest ink ("operands could not be broadcast together"): predict lost every row, serve gave 500."""
    width, height = size
    image = Image.new("L", size, 255)
    image.putpixel((0, 0), 0)
    ImageDraw.Draw(image).line([(0, height // 2), (width, height // 2)], fill=0)
    for picture in (image, image.convert("RGBA")):
        prepared = prepare(picture)
        assert prepared.pixels.shape == (1, 28, 28) and prepared.pixels.dtype == torch.uint8


def test_a_digit_is_not_blank():
    assert not prepare(render_digit(4, canvas=(100, 100), size=60, ink=0, paper=255)).blank
    assert not prepare(Image.fromarray(mnist_style(1)[0].numpy())).blank


# Pictures as people take them, each hiding a 3 (drawn 150 pixels tall, slightly rotated and blurred): the
# prepared digit must fill MNIST's 20-pixel box and sit centred, and look like a clean 3.


def digit_layer(digit: int = 3, size: int = 150, angle: float = 4.0, blur: float = 1.5) -> np.ndarray:
    """How much ink covers each pixel of a digit (float in [0, 1]), tightly cropped."""
    layer = render_digit(digit, canvas=(size * 2, size * 2), size=size, at=(size // 2, size // 3), ink=255)
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(blur))
    ink = np.asarray(layer, dtype=np.float32) / 255
    rows, cols = np.nonzero(ink > 0.01)
    return ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def on_paper(width: int, height: int, at: tuple[int, int], paper: float = 235, ink: float = 30) -> np.ndarray:
    """A grey sheet (float 0-255) with the digit inked at ``at`` (its top-left corner)."""
    sheet = np.full((height, width), paper, dtype=np.float32)
    coverage = digit_layer()
    h, w = coverage.shape
    sheet[at[1] : at[1] + h, at[0] : at[0] + w] = paper * (1 - coverage) + ink * coverage
    return sheet


def grey(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def sheet_on_dark_table() -> Image.Image:
    table = Image.new("L", (600, 450), 70)
    sheet = grey(on_paper(420, 330, at=(200, 120))).convert("RGBA").rotate(7, expand=True)
    table = table.convert("RGBA")
    table.alpha_composite(sheet, (60, 40))
    return table.convert("L")


def small_note_on_a_desk() -> Image.Image:
    """A sheet covering a fifth of the photo: less light than a sheet usually shows, but shaped like one."""
    desk = Image.new("L", (900, 700), 80)
    note = grey(on_paper(330, 360, at=(90, 100))).convert("RGBA").rotate(-9, expand=True)
    desk = desk.convert("RGBA")
    desk.alpha_composite(note, (420, 150))
    return desk.convert("L")


def note_turned_and_seen_at_a_slant(desk: int = 60) -> Image.Image:
    """A note turned by 35 degrees and photographed from the side (a trapezoid), a seventh of the photo."""
    note = grey(on_paper(300, 260, at=(70, 60))).convert("RGBA").rotate(35, expand=True)
    width, height = note.size
    lean = 0.15 * width  # the far edge looks wider than the near one
    corners = (-lean, 0, 0, height, width, height, width + lean, 0)
    note = note.transform(note.size, Image.Transform.QUAD, corners, resample=Image.Resampling.BICUBIC)
    photo = Image.new("RGBA", (1000, 800), (desk, desk, desk, 255))
    photo.alpha_composite(note, (120, 300))
    return photo.convert("L")


def grey_sheet_turned_on_a_white_table() -> Image.Image:
    """Pencil on grey paper: the sheet's corners stick out of any rounded background estimate as far as
    the strokes do from the paper, and what is left there is not ink."""
    sheet = grey(on_paper(300, 420, at=(120, 40), paper=180, ink=110)).convert("RGBA").rotate(6, expand=True)
    table = Image.new("RGBA", (520, 560), (250, 250, 250, 255))
    table.alpha_composite(sheet, (60, 50))
    return table.convert("L")


def sheet_close_to_the_picture_edge() -> Image.Image:
    """A strip of dark table, narrower than the digit, between the sheet and the picture's right edge."""
    sheet = grey(on_paper(330, 440, at=(110, 170), ink=120)).convert("RGBA").rotate(-8, expand=True)
    table = Image.new("RGBA", (420, 520), (70, 70, 70, 255))
    table.alpha_composite(sheet, (20, 15))
    return table.convert("L")


def grey_sheet_on_white_table() -> Image.Image:
    table = np.full((450, 600), 252, dtype=np.float32)
    table[60:400, 80:540] = on_paper(460, 340, at=(260, 100), paper=190)
    return grey(table)


def rotated_scan_with_black_fill() -> Image.Image:
    return grey(on_paper(500, 400, at=(80, 200))).rotate(12, expand=True, fillcolor=0)


def shadow_across_the_page() -> Image.Image:
    sheet = on_paper(500, 400, at=(260, 120))
    light = np.linspace(1.0, 0.45, 500, dtype=np.float32)[None, :]  # dark towards the right, behind the digit
    return grey(sheet * light)


def vignetting() -> Image.Image:
    sheet = on_paper(500, 400, at=(60, 40))
    rows, cols = np.mgrid[0:400, 0:500].astype(np.float32)
    radius2 = ((cols - 250) / 250) ** 2 + ((rows - 200) / 200) ** 2
    return grey(sheet * (1 - 0.25 * radius2))  # the corners at half the centre's brightness


def jpeg_noise() -> Image.Image:
    noisy = on_paper(500, 400, at=(200, 150)) + np.random.default_rng(0).normal(0, 12, (400, 500))
    buffer = io.BytesIO()
    grey(noisy).save(buffer, "JPEG", quality=20)
    return Image.open(io.BytesIO(buffer.getvalue()))


def noise_of_a_dark_room(width: int = 500, height: int = 400, sigma: float = 60) -> Image.Image:
    """A photo taken in the dark: sensor noise of ``sigma`` (of 255). At 60 the digit was read as a box."""
    sheet = on_paper(width, height, at=((width - 120) // 2, (height - 150) // 2)) * 0.8
    noisy = sheet + np.random.default_rng(1).normal(0, sigma, sheet.shape)
    buffer = io.BytesIO()
    grey(noisy).save(buffer, "JPEG", quality=90)
    return Image.open(io.BytesIO(buffer.getvalue()))


def small_photo_of_a_dark_room() -> Image.Image:
    return noise_of_a_dark_room(220, 200, sigma=80)


def faint_smudges() -> Image.Image:
    image = grey(on_paper(500, 400, at=(150, 120)))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, 110, 90), fill=200)  # a blot, a fifth as dark as the ink
    draw.line((300, 330, 480, 250), fill=205, width=6)  # a stray pencil line
    draw.ellipse((260, 150, 330, 200), fill=210)  # a faint smudge touching the digit
    return image.filter(ImageFilter.GaussianBlur(2))


def transparent_drawing() -> Image.Image:
    alpha = grey(np.pad(digit_layer() * 255, ((40, 90), (120, 30))))
    drawing = Image.new("RGBA", alpha.size, (20, 60, 200, 0))
    drawing.putalpha(alpha)
    return drawing


FAILURE_KINDS = [
    sheet_on_dark_table,
    small_note_on_a_desk,
    grey_sheet_on_white_table,
    grey_sheet_turned_on_a_white_table,
    sheet_close_to_the_picture_edge,
    rotated_scan_with_black_fill,
    shadow_across_the_page,
    vignetting,
    jpeg_noise,
    noise_of_a_dark_room,
    small_photo_of_a_dark_room,
    faint_smudges,
    transparent_drawing,
]


@pytest.mark.parametrize("make", FAILURE_KINDS, ids=lambda make: make.__name__)
def test_the_digit_is_found_on_uneven_backgrounds(make):
    prepared = prepare(make())
    assert not prepared.blank
    assert 19 <= max(ink_box(prepared.pixels)) <= 20  # the digit, not the sheet, fills the 20-pixel box
    row, col = centre_of_mass(prepared.pixels)
    assert abs(row - 14) <= 1.5 and abs(col - 14) <= 1.5
    clean = to_mnist(grey(np.pad(digit_layer() * 255, 50)))
    references = torch.stack([clean, *(mnist_style(d) for d in (2, 5, 8, 9))])
    distances = [close(prepared.pixels, reference) for reference in references]
    assert distances.index(min(distances)) == 0 and distances[0] < 0.1  # and it looks like the clean 3


def test_a_note_turned_and_seen_at_a_slant_is_paper():
    """The digit is found on the note as it is written there (turned with it); the reference is the same
    note on a desk as light as its paper, where only the digit shows."""
    prepared = prepare(note_turned_and_seen_at_a_slant())
    alone = prepare(note_turned_and_seen_at_a_slant(desk=235))
    assert not prepared.blank
    assert close(prepared.pixels, alone.pixels) < 0.03


@pytest.mark.parametrize("digit", [0, 8, 3])
@pytest.mark.parametrize("side", [80, 300])
def test_a_bold_light_digit_filling_its_picture_is_not_taken_for_a_sheet(digit, side):
    """Light on black, bold and as wide as the picture, as an MNIST digit scaled up or a drawing app's
    thick white brush: its outline is rounded, a sheet's is not, so it stays the ink."""
    bold = render_digit(digit, canvas=(side, side), size=int(side * 1.2), at=(-side // 12, -side // 3))
    bold = bold.filter(ImageFilter.MaxFilter(2 * (side // 40) + 1))  # strokes a fifth of the digit's width
    prepared = prepare(bold)
    assert close(prepared.pixels, to_mnist(ImageOps.invert(bold))) < 0.01  # the same either way round
    assert close(prepared.pixels, mnist_style(digit)) < 0.15


def test_a_16_bit_scan_is_scaled_not_clipped(tmp_path):
    scan8 = render_digit(2, canvas=(300, 300), size=200, at=(60, 20), ink=30, paper=220)
    scan16 = Image.fromarray(np.asarray(scan8, dtype=np.uint16) * 257)  # mode I;16
    scan16.save(tmp_path / "scan16.png")
    loaded = decode_image(tmp_path / "scan16.png")
    assert loaded.mode in ("I;16", "I")  # really read as 16 bits
    assert close(to_mnist(loaded), to_mnist(scan8)) < 0.01


@pytest.mark.parametrize("bits", [10, 11, 12])
def test_a_scan_of_fewer_bits_in_16_is_scaled_to_its_own_depth(bits, tmp_path):
    """A 10- or 11-bit sensor's picture in a 16-bit PNG was scaled by 65535: its digit fell under the contrast
    of a blank picture."""
    scan8 = render_digit(2, canvas=(300, 300), size=200, at=(60, 20), ink=30, paper=220)
    scaled = np.asarray(scan8, dtype=np.float64) / 255 * (2**bits - 1)
    Image.fromarray(np.round(scaled).astype(np.uint16)).save(tmp_path / "scan.png")
    prepared = prepare(decode_image(tmp_path / "scan.png"))
    assert not prepared.blank and close(prepared.pixels, to_mnist(scan8)) < 0.01


def test_a_float_picture_with_no_data_pixels_is_read():
    """NaN or inf pixels (a scientific TIFF's "no data") made the whole float picture blank, and so did values
    up to 1000 (scaled by 65535)."""
    values = np.asarray(render_digit(2, canvas=(300, 300), size=200, at=(60, 20), ink=30, paper=220), np.float32)
    values[:10, :10], values[-1, -1] = np.nan, np.inf
    prepared = prepare(Image.fromarray(values * 4, mode="F"))  # 120-880: a float picture beyond [0, 1]
    assert not prepared.blank
    assert prepare(Image.fromarray(np.full((30, 30), np.nan, np.float32), mode="F")).blank


# The background opening: a real opening (by a symmetric octagon), equal to scipy's on random arrays, at the
# window sizes photos give (57-85: the sizes at which the first version's diagonal lines were off centre).
OPENING_SIZES = [15, 57, 65, 73, 77, 79, 85]


@pytest.mark.parametrize("size", OPENING_SIZES)
def test_the_octagon_is_symmetric_and_size_pixels_across(size):
    octagon = octagon_footprint(size)
    assert np.array_equal(octagon, octagon[::-1, ::-1]) and np.array_equal(octagon, octagon.T)
    assert octagon[size // 2].all() and octagon[:, size // 2].all()  # size across, through the centre
    straight = octagon[0].sum()
    assert 0 < straight < size and octagon[0].sum() == octagon[-1].sum() == octagon[:, 0].sum()
    assert not octagon[0, 0]  # cut corners: an octagon, not a square


@pytest.mark.parametrize("size", OPENING_SIZES)
def test_the_opening_is_an_opening_equal_to_scipys(size):
    rng = np.random.default_rng(size)
    image = rng.random((size // 3 + 7, size // 2 + 11), dtype=np.float32)  # scipy costs an octagon a pixel
    opened = grey_opening(image, size)
    reference = ndimage.grey_opening(image, footprint=octagon_footprint(size), mode="nearest")
    assert np.array_equal(opened, reference)
    assert (opened <= image).all()  # anti-extensive
    assert np.array_equal(grey_opening(opened, size), opened)  # idempotent
    assert (preparation._opening(image, size) <= image).all()  # with the picture extended beyond its edge


def test_a_wide_light_area_leaves_no_ink_along_its_edges():
    """The first version's opening put a one-pixel strip of "ink" along the top of every wide light area."""
    image = np.zeros((120, 160), dtype=np.float32)
    image[30:100, 20:140] = 0.8
    background = preparation._opening(image, 57)
    assert (image - background).min() >= 0 and (image - background).max() <= np.float32(0.8)  # float32, numpy 1 too
    assert (image - background)[29].max() == 0 and (image - background)[30, 50:110].max() == 0


def drawing_on_a_plain_background(seed: int, size: tuple[int, int] = (120, 150)) -> np.ndarray:
    """Strokes of random widths (3-24 pixels, crossing into blobs) on one plain level, as a drawing app's."""
    rng = np.random.default_rng(seed)
    picture = Image.new("F", size[::-1], float(rng.uniform(0, 0.3)))
    draw = ImageDraw.Draw(picture)
    for _ in range(rng.integers(2, 7)):
        ends = [int(v) for v in rng.integers(0, max(size), 4)]
        draw.line(ends, fill=float(rng.uniform(0.5, 1)), width=int(rng.integers(3, 25)))
    return np.asarray(picture, dtype=np.float32)


def framed_opening_by_scipy(image: np.ndarray, size: int) -> np.ndarray:
    """:func:`preparation._opening` the slow way: the same frame, then scipy's opening by the octagon."""
    framed = image.copy()
    for side in (framed[0], framed[-1], framed[:, 0], framed[:, -1]):
        side[:] = ndimage.minimum_filter1d(side, size, mode="nearest")
    padded = np.pad(framed, size, mode="edge")
    padded[size:-size, size:-size] = image
    opened = ndimage.grey_opening(padded, footprint=octagon_footprint(size), mode="nearest")
    return opened[size:-size, size:-size]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("size", [15, 41])
def test_the_opening_with_its_plain_background_shortcut_equals_scipys(seed, size):
    """A drawing on a plain background opens to that plain level, by the shortcut where every square inside
    the octagon holds background, else by the full opening; with noise on it, by the full opening. Either
    way the result is scipy's, pixel for pixel, a stroke along the picture's edge included."""
    drawing = drawing_on_a_plain_background(seed)
    noisy = drawing + np.random.default_rng(seed).normal(0, 0.02, drawing.shape).astype(np.float32)
    along_the_edge = drawing.copy()
    along_the_edge[:2, 5:-5] = 0.9  # a thin stroke running along the top: the frame carries it outwards
    for image in (drawing, noisy, along_the_edge):
        assert np.array_equal(preparation._opening(image, size), framed_opening_by_scipy(image, size))


def test_a_plain_drawing_is_not_opened_the_slow_way(monkeypatch):
    """The page's canvas (strokes on black) takes the shortcut: the opening's eight passes are skipped."""

    def slow(*args):
        raise AssertionError("the full opening ran on a drawing on a plain background")

    monkeypatch.setattr(preparation, "grey_opening", slow)
    drawing = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(drawing).line((100, 60, 220, 60, 140, 270), fill=255, width=25)  # a 7, as the pad draws it
    assert not prepare(drawing).blank


def test_a_drawing_as_large_as_the_pad_is_read_with_its_stroke_along_the_edge():
    """A 7 drawn as large as the page's pad, its bar along the top edge, was "blank": the opening carried the
    bar outwards into the background, and the rest of the 7 was the step it left. Drawn smoothly, as a browser
    does (large, then reduced), it is the same digit as the 7 drawn clear of the edges."""

    def seven(margin: float) -> Image.Image:
        large = Image.new("L", (1280, 1280), 0)
        points = [(margin, margin), (1 - margin, margin), (0.6, 0.5), (0.4, 1 - margin)]
        ImageDraw.Draw(large).line([(x * 1280, y * 1280) for x, y in points], fill=255, width=98, joint="curve")
        return large.resize((320, 320), Image.Resampling.LANCZOS)

    on_the_edge, clear = prepare(seven(0.02)), prepare(seven(0.1))
    assert not on_the_edge.blank and not clear.blank
    assert close(on_the_edge.pixels, clear.pixels) < 0.1


def test_a_bold_digit_as_large_as_the_pad_is_its_strokes_not_its_loops():
    """An 8 drawn boldly as large as the pad covers more than LIGHT_INK of it: its strokes were taken for paper
    and its loops, dark, for the digit. Its prepared image is the same 8's, drawn smaller."""

    def eight(scale: float) -> Image.Image:
        pad = Image.new("L", (320, 320), 0)
        for loop in [(60, 10, 260, 165), (35, 150, 285, 312)]:  # as large as the pad, about
            ImageDraw.Draw(pad).ellipse([160 + (v - 160) * scale for v in loop], outline=255, width=round(50 * scale))
        return pad

    large = eight(1.0)
    assert (np.asarray(large) > 127).mean() > preparation.LIGHT_INK
    bold, small = prepare(large), prepare(eight(0.6))
    assert not bold.blank and close(bold.pixels, small.pixels) < 0.1


@pytest.mark.parametrize("seed", range(20))
def test_the_hand_written_mask_steps_equal_scipys(seed):
    """The faster forms of scipy's binary morphology and filters used by the preparation give the same
    pixels as scipy's own, on random masks and images of random sizes (down to 2 pixels)."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(2, 60, 2))
    mask = rng.random(shape) < rng.uniform(0.05, 0.9)
    eight = np.ones((3, 3), dtype=bool)
    assert np.array_equal(preparation._fill_holes(mask), ndimage.binary_fill_holes(mask, eight))
    assert np.array_equal(preparation._closed(mask), ndimage.binary_closing(mask, eight))
    assert np.array_equal(preparation._inner(mask), ndimage.binary_erosion(mask))
    if mask.any():
        assert np.array_equal(preparation._widened(mask, 4), ndimage.maximum_filter(mask, 9, mode="nearest"))
        rows, cols = preparation.box_around(mask, 0)
        assert (rows, cols) == ndimage.find_objects(mask.view(np.uint8))[0]
        extremes = preparation._RowExtremes.of(mask)
        assert extremes.spans() >= ndimage.binary_fill_holes(mask, eight).sum()
        if len(extremes.rows) > 1 and np.ptp(np.nonzero(mask)[1]) > 0:  # qhull wants a hull with an area
            assert extremes.extremes_area() <= extremes.hull().volume + 1e-9
    image = rng.random(shape, dtype=np.float32)
    sums = ndimage.uniform_filter(image, 3, mode="constant")
    inside = np.outer(*(ndimage.uniform_filter1d(np.ones(n), 3, mode="constant") for n in shape))
    assert preparation._peak(image) == pytest.approx(float((sums / inside).max()), rel=1e-5)


def test_an_even_octagon_is_refused():
    with pytest.raises(ValueError, match="odd"):
        octagon_footprint(56)


# What is not a digit, and what is more than one.


def ruled_page(width: int = 600, height: int = 800, spacing: int = 32, margin: bool = True) -> Image.Image:
    """A blank page of ruled paper: light blue lines across it, a red margin line down it."""
    page = Image.new("RGB", (width, height), (245, 245, 240))
    draw = ImageDraw.Draw(page)
    for y in range(80, height, spacing):
        draw.line((0, y, width, y), fill=(150, 180, 220), width=2)
    if margin:
        draw.line((70, 0, 70, height), fill=(220, 120, 120), width=2)
    return page


def on_a_desk(page: Image.Image, angle: float = 5) -> Image.Image:
    desk = Image.new("RGBA", (1000, 1000), (90, 70, 50, 255))
    desk.alpha_composite(page.convert("RGBA").rotate(angle, expand=True), (150, 80))
    return desk.convert("RGB")


@pytest.mark.parametrize(
    "page",
    [
        ruled_page(),
        ruled_page(margin=False),
        ruled_page(spacing=20),
        on_a_desk(ruled_page()),
        on_a_desk(ruled_page(), 0),
    ],
    ids=["scan", "no-margin", "narrow", "on-a-desk", "on-a-desk-straight"],
)
def test_a_blank_ruled_page_is_blank_not_a_ruling_line(page):
    prepared = prepare(page)
    assert prepared.blank and prepared.pixels.max() == 0


def in_uneven_light(page: Image.Image, shadow: bool) -> Image.Image:
    """A page photographed in a phone's light: a third darker towards the right and the bottom, and with
    ``shadow`` the hard edge of the phone's shadow slanting across its left corner, 28% darker."""
    pixels = np.asarray(page, dtype=np.float32)
    y, x = np.mgrid[0 : pixels.shape[0], 0 : pixels.shape[1]].astype(np.float32)
    light = 1 - 0.25 * x / pixels.shape[1] - 0.12 * y / pixels.shape[0]
    if shadow:
        light *= np.where(x + 0.6 * y < 0.45 * pixels.shape[1], 0.72, 1.0)
    noise = np.random.default_rng(0).normal(0, 3, pixels.shape[:2])[..., None]
    return Image.fromarray(np.clip(pixels * light[..., None] + noise, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("ruled", [False, True], ids=["plain", "ruled"])
@pytest.mark.parametrize("shadow", [False, True], ids=["lit", "shadow"])
def test_a_blank_page_in_uneven_light_or_a_shadow_is_blank(ruled, shadow):
    """The wedge a shadow's hard edge leaves where it meets the picture's edge was the "digit" (a 1 or a 7,
    97-99% sure), as was the haze the light's fall-off leaves along a ruled page's edge (a 0, 64% sure)."""
    page = ruled_page(1008, 756, spacing=64) if ruled else Image.new("RGB", (1008, 756), (238, 233, 222))
    prepared = prepare(in_uneven_light(page, shadow))
    assert prepared.blank and prepared.pixels.max() == 0


@pytest.mark.parametrize("at", [(30, 30), (500, 200)], ids=["in-the-shadow", "beside-it"])
def test_a_digit_on_a_page_with_a_shadow_is_found(at):
    """The control of the test above: the shadow's wedges are not the digit, and a digit is still found."""
    page = np.asarray(in_uneven_light(Image.new("RGB", (1008, 756), (238, 233, 222)), shadow=True).convert("L"))
    digit = np.asarray(render_digit(4, canvas=(1008, 756), size=300, at=at, ink=0, paper=255))
    prepared = prepare(Image.fromarray(np.minimum(page, digit)))
    assert not prepared.blank and close(prepared.pixels, mnist_style(4)) < 0.03


def in_soft_light(page: Image.Image, fall_off: str) -> Image.Image:
    """A page photographed under a soft shadow (a hand's, its rim blurred over a tenth of the picture, 40% darker,
    across the top-left corner) or a vignette (the corners 45% darker)."""
    pixels = np.asarray(page, dtype=np.float32)
    y, x = np.mgrid[0 : pixels.shape[0], 0 : pixels.shape[1]].astype(np.float32)
    u, v = x / pixels.shape[1] - 0.5, y / pixels.shape[0] - 0.5
    if fall_off == "soft_shadow":
        light = 1 - 0.4 / (1 + np.exp((u + v + 0.45) / 0.025))
    else:
        light = 1 - 0.45 * ((u**2 + v**2) / 0.5) ** 1.2
    noise = np.random.default_rng(0).normal(0, 3, pixels.shape[:2])[..., None]
    return Image.fromarray(np.clip(pixels * light[..., None] + noise, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("fall_off", ["soft_shadow", "vignette"])
def test_a_blank_page_under_a_soft_shadow_or_a_vignette_is_blank_and_a_cropped_digit_there_is_not(fall_off):
    """The opening cannot follow so wide and smooth a dip into a corner: what it leaves there, touching the
    picture's edge, was the "digit" of every such blank page of the phone photos (docs/predict.md). A digit whose
    strokes touch the edge (cropped to its box), sharp or blurred, in the same light, is still found."""
    prepared = prepare(in_soft_light(Image.new("RGB", (800, 600), (236, 232, 222)), fall_off))
    assert prepared.blank and prepared.pixels.max() == 0
    digit = render_digit(4, canvas=(300, 300), size=300, at=(0, 0), ink=0, paper=255)
    digit = digit.crop(ImageOps.invert(digit).getbbox())
    for blur in (0, 6):
        prepared = prepare(in_soft_light(digit.filter(ImageFilter.GaussianBlur(blur)).convert("RGB"), fall_off))
        distances = [close(prepared.pixels, mnist_style(other)) for other in range(10)]
        assert not prepared.blank and distances.index(min(distances)) == 4


def ruled_under_a_soft_shadow(digit: int | None) -> Image.Image:
    """A ruled page (lines 3 pixels wide, a margin line) with a soft shadow along its bottom side, 45% darker, its
    rim blurred over about a tenth of its height; with ``digit`` a dark one written above the shadow."""
    page = Image.new("RGB", (1008, 756), (236, 232, 222))
    draw = ImageDraw.Draw(page)
    for y in range(60, 756, 48):
        draw.line((0, y, 1008, y), fill=(150, 180, 220), width=3)
    draw.line((110, 0, 110, 756), fill=(220, 120, 120), width=3)
    pixels = np.asarray(page, dtype=np.float32)
    y = np.mgrid[0:756, 0:1008][0].astype(np.float32)
    light = 1 - 0.45 * special.expit((y / 756 - 0.95) / 0.02)
    if digit is not None:
        ink = np.asarray(render_digit(digit, canvas=(1008, 756), size=300, at=(400, 200), ink=255, paper=0))
        light *= 1 - 0.9 * ink.astype(np.float32) / 255
    noise = np.random.default_rng(0).normal(0, 3, pixels.shape[:2])[..., None]
    return Image.fromarray(np.clip(pixels * light[..., None] + noise, 0, 255).astype(np.uint8))


def test_a_blank_ruled_page_under_a_soft_shadow_is_blank_and_a_digit_on_it_is_found():
    """The wedge the soft shadow leaves along the picture's edge is no pen's ink, but the ruling lines crossing it
    (one or two working pixels wide) stepped up from it as a stroke's edge does: 8 of 30 such blank phone photos
    were read as a digit, 50-99% sure (docs/predict.md). A digit written on the same page is still found."""
    prepared = prepare(ruled_under_a_soft_shadow(None))
    assert prepared.blank and prepared.pixels.max() == 0
    prepared = prepare(ruled_under_a_soft_shadow(4))
    distances = [close(prepared.pixels, mnist_style(other)) for other in range(10)]
    assert not prepared.blank and distances.index(min(distances)) == 4


@pytest.mark.parametrize("digit", [1, 4, 7, 9])
@pytest.mark.parametrize("shadow", [False, True], ids=["lit", "shadow"])
def test_a_digit_written_across_a_ruled_pages_lines_is_found(digit, shadow):
    """A marker's digit in blue ink on a ruled page photographed close up (its lines 4 pixels wide in 1008): the
    lines through the digit made it one region with them, from edge to edge, dropped as a hairline ("no digit
    found", every digit here) or kept as the digit, lines and all."""
    page = Image.new("RGB", (1008, 756), (245, 245, 240))
    draw = ImageDraw.Draw(page)
    for y in range(40, 756, 48):
        draw.line((0, y, 1008, y), fill=(150, 180, 220), width=4)
    ink = np.asarray(render_digit(digit, canvas=(1008, 756), size=360, at=(380, 180), ink=255, paper=0))
    ink = (ink.astype(np.float32) / 255)[..., None]
    photo = np.asarray(in_uneven_light(page, shadow), dtype=np.float32) * (1 - ink) + np.array([20, 40, 150]) * ink
    prepared = prepare(Image.fromarray(photo.astype(np.uint8)))
    assert not prepared.blank and close(prepared.pixels, mnist_style(digit)) < 0.05


def fine_pen_on_lined_paper(digit: int, lined: bool) -> Image.Image:
    """A digit a third of the height of a 1008x756 photo, written with a ballpoint 2 pixels wide, on lined paper
    (blue lines 1 pixel wide every 24, a red margin line) or plain, softened a little as a phone's lens does: a
    quarter of a working pixel wide, as the lines are."""
    page = Image.new("RGB", (1008, 756), (240, 238, 232))
    draw = ImageDraw.Draw(page)
    if lined:
        for y in range(30, 756, 24):
            draw.line((0, y, 1008, y), fill=(160, 185, 220), width=1)
        draw.line((110, 0, 110, 756), fill=(220, 130, 130), width=1)
    ink = (30, 40, 130)
    if digit == 0:
        draw.ellipse((440, 250, 560, 506), outline=ink, width=2)
    else:
        strokes = {4: [(530, 506), (530, 250), (430, 420), (580, 420)], 7: [(440, 260), (570, 260), (480, 506)]}
        draw.line(strokes[digit], fill=ink, width=2, joint="curve")
    pixels = np.asarray(page.filter(ImageFilter.GaussianBlur(0.7)), dtype=np.float32)
    noise = np.random.default_rng(0).normal(0, 3, pixels.shape[:2])[..., None]
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("digit", [0, 4, 7])
def test_a_fine_pens_digit_on_lined_paper_is_found_as_on_plain_paper(digit):
    """Its strokes are as narrow as the lines on the working copy, so it made one region with them from edge to
    edge, dropped as a hairline, and the opening that cuts lines off a marker's digit took the strokes too: "no
    digit found", for a ballpoint's or a pencil's digits that were read right on plain paper. They are darker
    than the lines, and that tells them apart."""
    prepared = prepare(fine_pen_on_lined_paper(digit, lined=True))
    assert not prepared.blank
    assert close(prepared.pixels, prepare(fine_pen_on_lined_paper(digit, lined=False)).pixels) < 0.08


def pencil_on_ruled_paper(digit: int, ruled: bool, width: int = 4, skipped: int = 0) -> Image.Image:
    """A digit a third of the height of a 1008x756 photo, in pencil ``width`` pixels wide and as grey as the ruling
    (blue lines 2 pixels wide every 32) or on plain paper, softened a little as a phone's lens does. ``skipped``: the
    pencil left no mark within that many pixels of each line (its strokes in pieces, one between each two lines)."""
    page = Image.new("RGB", (1008, 756), (240, 238, 232))
    draw = ImageDraw.Draw(page)
    lines = range(30, 756, 32) if ruled else range(0)
    for y in lines:
        draw.line((0, y, 1008, y), fill=(150, 180, 220), width=2)
    grey = (170, 170, 170)  # a pencil's grey: no darker than the lines
    if digit == 0:
        draw.ellipse((440, 250, 560, 506), outline=grey, width=width)
    else:
        strokes = {4: [(530, 506), (530, 250), (430, 420), (580, 420)], 7: [(440, 260), (570, 260), (480, 506)]}
        draw.line(strokes[digit], fill=grey, width=width, joint="curve")
    for y in lines if skipped else ():
        draw.rectangle((0, y - skipped, 1008, y + skipped), fill=(240, 238, 232))
        draw.line((0, y, 1008, y), fill=(150, 180, 220), width=2)
    pixels = np.asarray(page.filter(ImageFilter.GaussianBlur(0.7)), dtype=np.float32)
    noise = np.random.default_rng(0).normal(0, 3, pixels.shape[:2])[..., None]
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("digit", [0, 4, 7])
def test_a_faint_pencil_digit_on_a_ruled_page_is_found_as_on_plain_paper(digit):
    """The pencil's strokes are as faint as the lines and as thin on the working copy, and not darker, which tells
    a fine pen's apart: the digit and the lines were one region from edge to edge, dropped as a hairline ("no
    digit found"). The lines are taken away where no stroke crosses them, and the digit is what is left."""
    prepared = prepare(pencil_on_ruled_paper(digit, ruled=True))
    assert not prepared.blank
    assert close(prepared.pixels, prepare(pencil_on_ruled_paper(digit, ruled=False)).pixels) < 0.06


@pytest.mark.parametrize("skipped", [5, 6])
@pytest.mark.parametrize("digit", [4, 7])
def test_a_pencil_digit_in_pieces_between_a_ruled_pages_lines_is_one_digit(digit, skipped):
    """A pencil's faint strokes come out of the lines' removal in pieces, one between each two lines, a few working
    pixels apart: those beyond the digit's box widened by a third were taken for a second digit ("more than one
    digit") and left out (the 4's foot, the 7's lower stroke). Once the lines are gone, pieces as near as that are
    one region: the digit whole, as tall and as wide as where the pencil did not skip the lines."""
    prepared = prepare(pencil_on_ruled_paper(digit, ruled=True, skipped=skipped))
    assert not prepared.blank and not prepared.several
    whole = prepare(pencil_on_ruled_paper(digit, ruled=True))
    assert ink_box(prepared.pixels) == ink_box(whole.pixels)


def fine_pen_seven(width: int) -> Image.Image:
    """A 7 written with a pen ``width`` pixels wide on a 900x900 page (the 7 600 pixels tall), as a drawing app
    saves it: one flat grey for the paper. Strokes under 3% of the digit's longer side (18 pixels here) are
    hairlines, which on a page are ruling lines, not a digit."""
    page = Image.new("L", (900, 900), 240)
    ImageDraw.Draw(page).line([(250, 160), (650, 160), (400, 760)], fill=30, width=width, joint="curve")
    return page


def test_a_fine_pen_stroke_is_widened_to_mnists_and_at_full_brightness():
    """A stroke 1-3% of the digit's height shrank to a dim line a fraction of a pixel wide (in photos its
    brightest pixel 91-152 of 255): fine-liner digits were read as a 1. Now it is as wide as MNIST's thinnest
    strokes (0.10 of the digit's longer side: 2 pixels of 20) and as bright, and close to the same 7 written
    boldly (0.057 from it before)."""
    fine = prepare(fine_pen_seven(20)).pixels  # 3.3% of the 7's height
    assert fine.max() == 255
    assert preparation.stroke_width(fine[0].numpy() > 127) >= 2
    assert close(fine, prepare(fine_pen_seven(70)).pixels) < 0.03


@pytest.mark.parametrize("width", [3, 12])  # 0.5% and 2% of the 7's height
def test_a_digit_drawn_with_a_fine_brush_in_a_drawing_app_is_found(width):
    """All its strokes are hairlines, which on a page are ruling lines: on a drawing app's spotless background
    such a digit was "blank" (a 1-2 pixel brush on a large canvas). A ruled page's lines reach its edges, so a
    blank one stays blank (test_a_blank_ruled_page_is_blank_not_a_ruling_line)."""
    prepared = prepare(fine_pen_seven(width))
    assert not prepared.blank and close(prepared.pixels, prepare(fine_pen_seven(70)).pixels) < 0.03


def test_a_stroke_as_wide_as_mnists_is_not_widened():
    digit = fine_pen_seven(70)
    assert preparation.stroke_width(np.asarray(digit) < 128) > preparation.THIN_STROKE * 600
    widened = []
    original = preparation._thickened
    preparation._thickened = lambda crop: widened.append(crop) or original(crop)
    try:
        again = prepare(digit).pixels
    finally:
        preparation._thickened = original
    assert len(widened) == 1 and torch.equal(again, prepare(digit).pixels)
    assert preparation._thickened(widened[0]) is widened[0]


def broad_pen_drawing(digit: int, extent: float, pen: float) -> Image.Image:
    """A 7 or an 8 whose pen's path is ``extent`` pixels tall, drawn with a round pen ``pen`` pixels wide in the
    top-left corner of a 320x320 canvas, white on black, antialiased (drawn 4 times as large and reduced): a
    drawing app's, a tablet's or a notebook widget's raw canvas, whose pen is not fitted to the drawing."""
    scale, (x, y) = 4, (30, 40)
    canvas = Image.new("L", (320 * scale, 320 * scale), 0)
    draw = ImageDraw.Draw(canvas)
    width = round(pen * scale)
    if digit == 7:
        path = [((x + a * extent) * scale, (y + b * extent) * scale) for a, b in [(0, 0), (0.7, 0), (0.25, 1)]]
        draw.line(path, fill=255, width=width, joint="curve")
        for a, b in (path[0], path[-1]):  # the pen's round ends
            draw.ellipse((a - width / 2, b - width / 2, a + width / 2, b + width / 2), fill=255)
    else:  # an 8: two rings, one over the other
        for top, size in ((0, 0.45), (0.45, 0.55)):
            left = x + (0.55 - size) / 2 * extent
            ring = [left, y + top * extent, left + size * extent, y + (top + size) * extent]
            reach = [-pen / 2, -pen / 2, pen / 2, pen / 2]  # Pillow draws the outline inside the box
            draw.ellipse(
                [(value + out) * scale for value, out in zip(ring, reach, strict=True)], outline=255, width=width
            )
    return Image.merge("RGBA", [canvas.reduce(scale)] * 3 + [Image.new("L", (320, 320), 255)])


@pytest.mark.parametrize(("digit", "extent"), [(7, 35), (7, 50)])
def test_a_small_digit_drawn_with_a_broad_pen_is_thinned_to_the_pages_fitted_pen(digit, extent):
    """Scaled to 20 pixels with its strokes, a small digit drawn with a 25-pixel pen (the page's, on a raw canvas
    that does not fit it) had strokes 7-8 pixels wide: a blob, read as an 8, 99% sure. Its strokes are
    now thinned, and it comes out close to the same digit drawn with the pen the page fits to it (a third of
    the drawing across)."""
    broad = prepare(broad_pen_drawing(digit, extent, 25)).pixels
    fitted = prepare(broad_pen_drawing(digit, extent, extent / 3)).pixels
    assert preparation.stroke_width(broad[0].numpy() > 127) < 7
    assert close(broad, fitted) < 0.045


@pytest.mark.parametrize(("digit", "extent", "pen"), [(7, 35, 35 / 3), (8, 35, 35 / 3), (8, 60, 20), (7, 150, 25)])
def test_a_digit_drawn_with_the_pages_fitted_pen_is_not_thinned(digit, extent, pen):
    """The page draws a small digit with a pen a third of it across (web/index.html's fitPen), and a large one
    with its whole pen: both read right as they are, and are left so, an 8 whose loops the pen nearly fills
    too (its strokes meet in a blob in the middle, as deep as a broad pen's)."""
    crops = []
    original = preparation._thinned
    preparation._thinned = lambda crop: crops.append(crop) or original(crop)
    try:
        prepare(broad_pen_drawing(digit, extent, pen))
    finally:
        preparation._thinned = original
    assert len(crops) == 1 and preparation._thinned(crops[0]) is crops[0]


@pytest.mark.parametrize("width", [3, 9, 25])
def test_a_pens_width_is_measured_where_its_strokes_meet_in_a_blob(width):
    """A pen's width is its strokes', not the blob's where they meet (which stroke_width counts in)."""
    mask = np.zeros((200, 200), dtype=bool)
    mask[40 : 40 + width, 20:180] = True  # a cross of two strokes, a solid blob 60 pixels across at its middle
    mask[20:180, 100 : 100 + width] = True
    mask[70:130, 70:130] = True
    assert preparation.pen_width(mask) == width
    assert preparation.stroke_width(mask) > width


def bold_digit_cropped(digit: int, margin: int, light_ink: bool) -> Image.Image:
    """A bold digit printed dark on white (or light on black), cropped to its ink's box and ``margin`` pixels."""
    picture = Image.new("L", (400, 400), 255)
    font = ImageFont.load_default(size=200)
    ImageDraw.Draw(picture).text((100, 50), str(digit), fill=0, font=font, stroke_width=12, stroke_fill=0)
    left, top, right, bottom = ImageOps.invert(picture).getbbox()
    picture = picture.crop((left - margin, top - margin, right + margin, bottom + margin))
    return ImageOps.invert(picture) if light_ink else picture


def holes(pixels: torch.Tensor) -> int:
    """How many pixels of a prepared digit are its loops' holes (dark, and enclosed by its strokes)."""
    strokes = pixels[0].numpy() > 127
    return int(ndimage.binary_fill_holes(strokes).sum() - strokes.sum())


@pytest.mark.parametrize("light_ink", [False, True])
@pytest.mark.parametrize("margin", [0, 2])
@pytest.mark.parametrize("digit", [0, 8])
def test_a_bold_digit_cropped_to_its_ink_is_its_strokes_not_its_holes(digit, margin, light_ink):
    """A bold printed digit cut to its box is most of the picture: its ink was taken for a drawing's plain dark
    background (dark on white) or for paper (light on black), and the paper inside its loops for the digit, a solid
    oval; and with the background's noise measured over a picture mostly ink, a bold 8 came out blank. Its strokes
    are the digit, its loops as open as in the print, on both polarities and with a pixel or two of margin."""
    picture = bold_digit_cropped(digit, margin, light_ink)
    prepared = prepare(picture)
    assert not prepared.blank
    assert holes(prepared.pixels) >= 20  # a 0's hole, an 8's two loops: dark pixels enclosed by the strokes
    assert prepared.pixels.equal(prepare(bold_digit_cropped(digit, margin, not light_ink)).pixels)


def test_a_dotted_zero_cropped_to_its_ink_is_the_zero_not_its_dot():
    """A programmer's 0, its dot inside, cut to its box: the ring's hole was the digit, a solid oval; with the ink's
    polarity right, the dot was, a blob: the only region clear of the picture's edge. The ring is the digit, its dot
    inside."""
    picture = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(picture).ellipse((10, 10, 110, 150), outline=0, width=14)
    ImageDraw.Draw(picture).ellipse((50, 65, 70, 95), fill=0)
    prepared = prepare(picture.crop((10, 10, 111, 151)))
    assert not prepared.blank
    assert holes(prepared.pixels) >= 50  # the ring, its dot inside


def test_a_small_dotted_zeros_dot_is_no_solid_object():
    """A screenshot's dotted 0, 30 pixels tall, cut to its box: its dot, a few pixels each way, fills the rectangle
    round it as a phone does, but it is far narrower than the ring is tall (see SOLID). Taken for a solid object, it
    was left out, and the noise measured on the rest of the picture, the dot, took the ring's ink away: blank."""
    picture = Image.new("L", (22, 32), 255)
    ImageDraw.Draw(picture).ellipse((1, 1, 20, 30), outline=0, width=4)
    ImageDraw.Draw(picture).rectangle((9, 13, 12, 18), fill=0)
    prepared = prepare(picture.crop((1, 1, 21, 31)))
    assert not prepared.blank
    assert holes(prepared.pixels) >= 50  # the ring, its dot inside


def test_a_solid_shape_is_not_thinned_as_a_broad_pen():
    """A bold 0 printed and cropped tight to its ink is found as its hole, a solid oval: as deep as a broad pen's
    stroke, but no stroke. Thinned, it became a narrower oval, read as a 1."""
    rows, cols = np.mgrid[-1:1:60j, -1:1:34j]
    oval = (rows**4 + cols**4 <= 1).astype(np.float32)  # a rounded rectangle, as a bold 0's hole
    assert preparation.pen_width(oval > 0.5) > preparation.THICK_STROKE * 60
    assert preparation._thinned(oval) is oval


def test_a_digit_between_the_lines_of_a_ruled_page_is_found():
    page = np.asarray(ruled_page(spacing=200).convert("L"))
    digit = np.asarray(render_digit(3, canvas=(600, 800), size=140, at=(200, 300), ink=0, paper=255))
    prepared = prepare(Image.fromarray(np.minimum(page, digit)))
    assert not prepared.blank and close(prepared.pixels, mnist_style(3)) < 0.03


def two_digits(first: int, second: int) -> Image.Image:
    """Dark digits side by side on grey paper."""
    left = np.asarray(render_digit(first, canvas=(800, 500), size=200, at=(100, 120), ink=0, paper=255))
    right = np.asarray(render_digit(second, canvas=(800, 500), size=200, at=(480, 120), ink=0, paper=255))
    return Image.fromarray(np.minimum(np.minimum(left, right), 235))


def test_a_picture_of_two_digits_says_so_and_shows_one_of_them():
    prepared = prepare(two_digits(3, 7))
    assert prepared.several
    assert prepared.pixels.equal(prepare(two_digits(3, 7).crop((0, 0, 400, 500))).pixels)  # the heavier: the 3
    drawn = Image.new("L", (320, 320), 0)  # the page's canvas: a 1 and a 7 drawn side by side
    ImageDraw.Draw(drawn).line((60, 80, 60, 240), fill=255, width=25)
    ImageDraw.Draw(drawn).line((200, 80, 260, 80, 210, 240), fill=255, width=25)
    seven = drawn.copy()
    ImageDraw.Draw(seven).rectangle((0, 0, 120, 319), fill=0)
    prepared = prepare(drawn)
    # The 7 alone, not both shrunk into one box (on a spotless canvas every other stroke is kept).
    assert prepared.several and prepared.pixels.equal(prepare(seven).pixels)


def test_a_one_beside_a_heavier_digit_is_a_second_digit():
    # A 1 is one stroke: beside a 0 it weighs less than half of it, and was kept, both shrunk into one box.
    drawn = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(drawn).line((70, 70, 70, 250), fill=255, width=20)
    ImageDraw.Draw(drawn).ellipse((140, 60, 280, 260), outline=255, width=20)
    zero = drawn.copy()
    ImageDraw.Draw(zero).rectangle((0, 0, 110, 319), fill=0)
    prepared = prepare(drawn)
    assert prepared.several and prepared.pixels.equal(prepare(zero).pixels)


def test_a_number_written_in_a_column_says_so_and_shows_one_of_its_digits():
    top = np.asarray(render_digit(3, canvas=(500, 800), size=200, at=(150, 100), ink=0, paper=255))
    under = np.asarray(render_digit(7, canvas=(500, 800), size=200, at=(160, 420), ink=0, paper=255))
    paper = Image.fromarray(np.minimum(np.minimum(top, under), 235))  # grey paper: only strokes near the digit
    prepared = prepare(paper)
    assert prepared.several and prepared.pixels.equal(prepare(paper.crop((0, 0, 500, 400))).pixels)  # the 3
    # The page's canvas, where every stroke is kept: a 7 over a 2 as tall as digits are written (a column),
    # then squeezed, each wider than tall (a line's gap apart).
    for seven, two in [
        ((120, 20, 200, 20, 150, 120), (120, 200, 200, 190, 120, 300, 200, 300)),
        ((40, 20, 280, 20, 160, 110), (40, 200, 280, 190, 40, 300, 280, 300)),
    ]:
        drawn = Image.new("L", (320, 320), 0)
        ImageDraw.Draw(drawn).line(seven, fill=255, width=20)
        ImageDraw.Draw(drawn).line(two, fill=255, width=20)
        two_alone = drawn.copy()
        ImageDraw.Draw(two_alone).rectangle((0, 0, 319, 150), fill=0)
        prepared = prepare(drawn)
        assert prepared.several and prepared.pixels.equal(prepare(two_alone).pixels)


@pytest.mark.parametrize("ink, paper", [(255, 0), (0, 255), (110, 190), (40, 70)])
def test_a_small_digit_on_a_flat_screenshot_is_found_whichever_its_shade(ink, paper):
    # Under 0.1% of the picture: both ends of the percentile range are the background, which once made a dark
    # digit look like light ink and the background like the digit.
    prepared = prepare(render_digit(4, canvas=(700, 700), size=30, at=(300, 300), ink=ink, paper=paper))
    assert not prepared.blank and close(prepared.pixels, mnist_style(4)) < 0.03


def phone_screenshot(size: int | None, status_bar: bool) -> Image.Image:
    """A phone's screenshot, 1170x2532 and white, with a 7 in Pillow's default font (its bitmap one, 8 pixels tall,
    or the scalable one ``size`` pixels high) under a dark status bar 140 pixels tall across its top, or none."""
    shot = Image.new("RGB", (1170, 2532), (255, 255, 255))
    draw = ImageDraw.Draw(shot)
    if status_bar:
        draw.rectangle((0, 0, 1169, 139), fill=(20, 20, 20))
    font = ImageFont.load_default() if size is None else ImageFont.load_default(size=size)
    draw.text((100, 200), "7", fill=(0, 0, 0), font=font)
    return shot


@pytest.mark.parametrize("size", [None, 20])
def test_a_screenshots_status_bar_is_not_the_digit(size):
    """A 7 this small is gone in the working copy (10 times smaller): the status bar, a solid band across the whole
    width, was the one mark left, and was taken for a digit cropped tightly at the edge: read as a 5, 83% sure, not
    flagged small. There is no digit to see, as without the bar."""
    assert prepare(phone_screenshot(size, status_bar=True)).blank
    assert prepare(phone_screenshot(size, status_bar=False)).blank


@pytest.mark.parametrize("size", [40, 200])
def test_a_digit_under_a_screenshots_status_bar_is_read_as_without_it(size):
    """A 7 30 pixels tall (``size`` 40) under a dark bar was "blank": the bar set the ink's peak, and the 7 fell
    below WEAK of it."""
    prepared = prepare(phone_screenshot(size, status_bar=True))
    assert not prepared.blank and prepared.pixels.equal(prepare(phone_screenshot(size, status_bar=False)).pixels)


def desktop_screenshot(size: int, sidebar: str | None) -> Image.Image:
    """A desktop's 2532x1170 screenshot, white, with a 7 in Pillow's scalable default font ``size`` pixels high
    beside a dark sidebar 300 pixels wide down its ``sidebar`` side ("left" or "right"), or none."""
    shot = Image.new("RGB", (2532, 1170), (255, 255, 255))
    draw = ImageDraw.Draw(shot)
    if sidebar is not None:
        left = 0 if sidebar == "left" else 2532 - 300
        draw.rectangle((left, 0, left + 299, 1169), fill=(20, 20, 20))
    draw.text((1200, 500), "7", fill=(0, 0, 0), font=ImageFont.load_default(size=size))
    return shot


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("size", [20, 40])
def test_a_digit_beside_a_screenshots_sidebar_is_read_as_without_it(size, side):
    """The sidebar set the ink's peak, as a status bar did: a 7 40 pixels high kept only its strongest pixels, and
    one 20 pixels high, gone in the working copy, left the sidebar to be taken for the digit (not blank)."""
    prepared = prepare(desktop_screenshot(size, side))
    assert prepared.blank == (size == 20)
    assert prepared.pixels.equal(prepare(desktop_screenshot(size, None)).pixels)


@pytest.mark.parametrize("ink, paper", [(0, 255), (255, 0)])
def test_a_1_as_tall_as_the_picture_against_its_side_is_still_read(ink, paper):
    """A band down a side is left out of the ink's peak only where ink lies beside it: alone, it may be the digit."""
    drawn = Image.new("L", (300, 300), paper)
    ImageDraw.Draw(drawn).rectangle((0, 0, 39, 299), fill=ink)
    prepared = prepare(drawn)
    assert not prepared.blank and prepared.pixels.float().mean() > 0


def test_a_character_whose_parts_stand_apart_keeps_them_all():
    # KMNIST's い is two strokes side by side: as a digit picture that would be two digits, one left out.
    drawn = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(drawn).line((90, 70, 100, 250), fill=255, width=22)
    ImageDraw.Draw(drawn).line((220, 90, 230, 210), fill=255, width=22)
    character = preparation.prepare_character(drawn)
    assert not character.several and not character.blank
    assert prepare(drawn).several
    columns = np.flatnonzero(character.pixels[0].numpy().max(0) > 100)
    assert np.diff(columns).max() > 3  # a gap between two strokes: both are in the image
    # ニ's strokes, one far over the other, turned to stand as tall as a column of two digits: both kept.
    drawn = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(drawn).line((150, 30, 160, 110), fill=255, width=22)
    ImageDraw.Draw(drawn).line((150, 190, 160, 300), fill=255, width=22)
    character = preparation.prepare_character(drawn)
    assert prepare(drawn).several and not character.several
    rows = np.flatnonzero(character.pixels[0].numpy().max(1) > 100)
    assert np.diff(rows).max() > 3


@pytest.mark.parametrize("noise, fall_off", [(4, 0), (0, 30), (4, 30)])
def test_a_photographed_character_whose_parts_stand_apart_keeps_them_all(noise, fall_off):
    # い's two strokes and は's stroke apart from the rest, dark on paper: under noise or the light's fall-off
    # (no longer a spotless background) the part outside the main region's box widened by a third was left out.
    rng = np.random.default_rng(0)
    for strokes in [
        [(90, 70, 100, 250), (220, 90, 230, 210)],  # い
        [(70, 60, 65, 260), (130, 120, 260, 110), (200, 60, 200, 240)],  # は, its loop left out
    ]:
        drawn = Image.new("L", (320, 320), 0)
        for line in strokes:
            ImageDraw.Draw(drawn).line(line, fill=255, width=16)
        ink = np.asarray(drawn, dtype=np.float64) / 255
        paper = 215 + fall_off * np.linspace(0, 1, 320)[None, :] + rng.normal(0, noise, (320, 320))
        photo = Image.fromarray(np.clip(paper * (1 - 0.8 * ink), 0, 255).astype(np.uint8))
        inked, expected = (
            np.flatnonzero(preparation.prepare_character(image).pixels[0].numpy().max(0) > 100)
            for image in (photo, drawn)
        )
        assert inked.min() <= expected.min() + 1 and inked.max() >= expected.max() - 1


def grey_sheet_on_a_table(digit: int, angle: float, at: tuple[int, int], table: int = 248) -> Image.Image:
    """A sheet of grey paper lying on a (white) table, turned by ``angle``, a small pencil-grey digit on it."""
    sheet = render_digit(digit, canvas=(400, 520), size=40, at=at, ink=110, paper=190).convert("RGBA")
    photo = Image.new("RGBA", (640, 760), (table, table, table, 255))
    photo.alpha_composite(sheet.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True), (90, 90))
    return photo.convert("RGB")


@pytest.mark.parametrize("digit, angle, at", [(7, 0, (160, 220)), (2, 6, (170, 200)), (3, 12, (150, 240))])
def test_the_corners_of_a_grey_sheet_on_a_white_table_are_not_digits(digit, angle, at):
    # The background's opening cannot reach into the sheet's corners, which are then darker than the
    # background found there: wedges of "ink" heavier than a small digit, taken for the digit or a second one.
    prepared = prepare(grey_sheet_on_a_table(digit, angle, at))
    alone = prepare(grey_sheet_on_a_table(digit, angle, at, table=190))  # the same photo, all of it paper
    # The same digit (placed by whole pixels: a turned sheet may move it by one or two).
    shifts = [(down, across) for down in range(-2, 3) for across in range(-2, 3)]
    nearest = min(close(prepared.pixels.roll(shift, dims=(1, 2)), alone.pixels) for shift in shifts)
    assert not prepared.several and nearest < 0.02


def three_drawn_in_two_arcs() -> Image.Image:
    """The page's canvas: a 3 whose two arcs do not meet, one over the other."""
    pad = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(pad).arc((90, 30, 220, 140), start=-160, end=80, fill=255, width=22)
    ImageDraw.Draw(pad).arc((80, 165, 230, 290), start=-80, end=160, fill=255, width=22)
    return pad


def five_with_a_heavy_flag_apart() -> Image.Image:
    """The page's canvas: a 5 in pieces, its flag a thick bar off to the upper right, as heavy as half the rest."""
    pad = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(pad).line((170, 45, 300, 35), fill=255, width=34)
    ImageDraw.Draw(pad).line((110, 80, 100, 160), fill=255, width=16)
    ImageDraw.Draw(pad).arc((80, 130, 220, 290), start=-100, end=150, fill=255, width=16)
    return pad


def five_in_two_pieces_corner_to_corner() -> Image.Image:
    """The page's canvas: a 5 whose top (its bar and stem) stands apart, up and to the right of its bowl, each
    piece as tall as the other: side by side by their columns, but not in one row (MNIST has such 5s)."""
    pad = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(pad).line((290, 25, 160, 25, 160, 135), fill=255, width=22)
    ImageDraw.Draw(pad).arc((30, 165, 190, 300), start=-100, end=150, fill=255, width=22)
    return pad


@pytest.mark.parametrize(
    "make",
    [three_drawn_in_two_arcs, five_with_a_heavy_flag_apart, five_in_two_pieces_corner_to_corner],
    ids=lambda make: make.__name__,
)
def test_the_pieces_of_one_drawn_digit_are_not_two_digits(make):
    # A second digit stands beside the first, about as tall: not over it (the 3's arcs) and not a flat bar
    # (the 5's flag). Such pieces gave 5 false warnings in 2,000 canvases and 12 in 10,000 MNIST digits.
    prepared = prepare(make())
    assert not prepared.several and not prepared.blank


def test_one_digit_is_one_even_with_a_stroke_apart():
    alone = np.asarray(render_digit(3, canvas=(800, 500), size=200, at=(100, 120), ink=0, paper=255))
    assert not prepare(Image.fromarray(np.minimum(alone, 235))).several
    five = Image.new("L", (200, 200), 0)  # a 5 whose flag was drawn apart from it
    ImageDraw.Draw(five).line((70, 40, 140, 40), fill=255, width=12)
    ImageDraw.Draw(five).line((60, 55, 60, 95, 120, 95, 140, 130, 120, 160, 60, 160), fill=255, width=12)
    prepared = prepare(five)
    assert not prepared.several and not prepared.blank
    assert all(not prepare(Image.fromarray(mnist_style(d)[0].numpy())).several for d in range(10))


def test_the_background_noise_around_the_strokes_is_not_ink():
    """Sensor noise beside the strokes (inside the digit's region, which reaches a little beyond them) lies
    below the background's noise level and is left out: the prepared digit has no speckled halo."""
    clean = prepare(grey(on_paper(500, 400, at=(200, 150)))).pixels
    noise = np.random.default_rng(0).normal(0, 10, (400, 500))
    noisy = prepare(grey(on_paper(500, 400, at=(200, 150)) + noise)).pixels
    assert (noisy > 0).sum() <= 1.1 * (clean > 0).sum()  # 1.36 times as many with the noise taken for ink
    assert close(noisy, clean) < 0.08


def test_a_bold_light_bar_is_a_digit_not_a_sheet():
    """A white 1 drawn as a plain bar on black is as convex and four-cornered as a sheet, but narrower than
    a fifth of the picture: it stays the ink, and comes out as the same bar as its dark-on-light twin."""
    bar = Image.new("L", (300, 300), 0)
    ImageDraw.Draw(bar).rectangle((130, 50, 169, 249), fill=255)  # 40 wide, 200 tall
    prepared = to_mnist(bar)
    assert ink_box(prepared) == (20, 4)
    assert torch.equal(prepared, to_mnist(ImageOps.invert(bar)))


def test_a_small_square_zero_is_a_digit_not_a_sheet():
    """In MNIST's 28x28 a bold 0 can be as square as a sheet once its hole is filled: pictures that small
    are never looked at for a sheet, so it stays light ink on black and goes through (almost) unchanged."""
    zero = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(zero).rectangle((6, 4, 21, 23), outline=255, width=3)  # 16 wide, 20 tall
    assert close(to_mnist(zero), torch.from_numpy(np.array(zero))[None]) < 0.05


def test_a_note_with_a_bold_digit_is_paper():
    """A fifth of this note is ink: the note is a sheet once the ink on it is filled in (its holes), and
    the digit is read as on a desk as light as the paper."""

    def note_with_a_bold_eight(desk: int) -> Image.Image:
        eight = render_digit(8, canvas=(300, 300), size=260, at=(60, -10)).filter(ImageFilter.MaxFilter(15))
        note = grey(235 - np.asarray(eight, dtype=np.float32) * (205 / 255))
        photo = Image.new("L", (900, 700), desk)
        photo.paste(note, (400, 200))
        return photo

    assert close(prepare(note_with_a_bold_eight(80)).pixels, prepare(note_with_a_bold_eight(235)).pixels) < 0.01


def test_a_plain_picture_with_faint_noise_is_blank():
    noise = np.random.default_rng(1).normal(0, 2, (300, 400))  # a grey wall, a camera's faint noise
    assert prepare(grey(140 + noise)).blank


def test_a_dark_band_along_the_edge_is_not_the_digit():
    """A scanner's black margin narrower than the background window stays "ink", and outweighs the digit;
    touching the picture's edge, it is not taken for it."""
    scan = on_paper(400, 300, at=(150, 60))
    scan[:, :25] = 10
    prepared = prepare(grey(scan))
    assert close(prepared.pixels, prepare(grey(on_paper(400, 300, at=(150, 60)))).pixels) < 0.02


def test_a_pencil_digit_beside_a_black_scanner_margin_keeps_its_strength():
    """The black margin is far darker than the pencil: the ink's strength is judged among the regions clear
    of the edge, or the pencil's strokes would all fall below STRONG and the margin would be the digit."""
    scan = on_paper(400, 300, at=(150, 60), ink=135)
    scan[:, :25] = 10
    prepared = prepare(grey(scan))
    assert close(prepared.pixels, prepare(grey(on_paper(400, 300, at=(150, 60), ink=135))).pixels) < 0.02


def test_faint_smudges_do_not_outweigh_a_digit_cut_by_the_edge():
    """A digit cut by the picture's edge, faint smudges clear of it (a fifth as dark as the digit: faint, but
    regions of their own): the smudges are not judged strong among themselves, so they stay weightless and
    the digit is found. (Were the ink's strength judged among them, they would be the digit.)"""
    page = on_paper(440, 300, at=(330, 60))[:, :380]  # the 3 runs 30 pixels off the right edge
    alone = prepare(grey(page)).pixels
    page[200:230, 40:90] = 190  # faint smudges
    page[40:60, 60:120] = 195
    assert close(prepare(grey(page)).pixels, alone) < 0.02


def test_a_wide_faint_shading_does_not_outweigh_a_thin_digit():
    """A pencil's shading, long and low and a third as dark as the pen: more ink in all than the digit's
    strokes, but none of it strong (STRONG), so it weighs nothing and the digit is found."""
    page = on_paper(520, 300, at=(360, 60))
    alone = prepare(grey(page)).pixels
    page[230:270, 20:320] = 150
    prepared = prepare(grey(page))
    assert close(prepared.pixels, alone) < 0.02 and not prepared.several


@pytest.mark.parametrize("digit", [6, 9])
def test_a_bold_mnist_style_digit_goes_through_unchanged(digit):
    """Heavy strokes and a loop filled in, about 9 pixels across at 28x28 (as MNIST's boldest): in so small
    a picture the background window stays wider than that (MIN_WINDOW), or the blob would be flattened
    into background and the digit hollowed out."""
    bold = to_mnist(render_digit(digit, canvas=(300, 300), size=200, at=(50, 20)).filter(ImageFilter.MaxFilter(25)))
    assert torch.equal(to_mnist(Image.fromarray(bold[0].numpy())), bold)


def test_on_a_spotless_background_a_stroke_drawn_far_apart_still_belongs_to_the_digit():
    """On black (MNIST's, the page's canvas) every mark clear of the edge is part of the drawing, however
    far apart: a 5's flag drawn high above its body is kept (on paper only strokes near the digit are)."""
    five = Image.new("L", (200, 200), 0)
    ImageDraw.Draw(five).line((70, 12, 140, 12), fill=255, width=12)
    ImageDraw.Draw(five).line((60, 60, 60, 95, 120, 95, 140, 130, 120, 160, 60, 160), fill=255, width=12)
    prepared = prepare(five)
    height, width = ink_box(prepared.pixels)
    assert height == 20 and width <= 12  # the flag's height is in the box: 155 pixels tall, 92 wide
    assert not prepared.several


@pytest.fixture
def searches(monkeypatch) -> list[int]:
    """Counts the runs of the digit search (``_ink``) that an image already in MNIST's form skips."""
    calls: list[int] = []
    search = preparation._ink

    def counted(gray: np.ndarray, *options):
        calls.append(1)
        return search(gray, *options)

    monkeypatch.setattr(preparation, "_ink", counted)
    return calls


def in_mnist_form(digit: int, brightness: float = 1.0) -> np.ndarray:
    """An MNIST-style digit made to be in MNIST's form exactly: its one region (the resampling's faint
    specks cleared), no ink below 5% of the peak, dimmed by ``brightness``."""
    image = mnist_style(digit)[0].numpy()
    regions, count = ndimage.label(image > 12, np.ones((3, 3)))
    largest = 1 + np.argmax(ndimage.sum(image > 12, regions, range(1, count + 1)))
    return np.where(regions == largest, image * brightness, 0).astype(np.uint8)


def prepared_in_full(image: np.ndarray, monkeypatch) -> torch.Tensor:
    with monkeypatch.context() as patch:
        patch.setattr(preparation, "_already_prepared", lambda gray: None)
        return to_mnist(Image.fromarray(image))


@pytest.mark.parametrize(("digit", "brightness"), [(0, 1.0), (1, 1.0), (5, 1.0), (8, 0.8)])
def test_an_image_in_mnist_form_is_taken_as_the_full_preparation_would_give_it(
    searches, monkeypatch, digit, brightness
):
    image = in_mnist_form(digit, brightness)
    searches.clear()  # those made while building it
    result = to_mnist(Image.fromarray(image))
    assert not searches, "the digit search ran"
    assert torch.equal(result, prepared_in_full(image, monkeypatch))
    assert result.max() == 255  # stretched to full brightness, as in full


def near_misses() -> dict[str, np.ndarray]:
    """Images in MNIST's form, each changed in one way that makes them need the full preparation."""
    one = in_mnist_form(1)  # a narrow digit: room beside it, inside its 20-pixel box
    rows, cols = np.nonzero(one)
    speck = one.copy()
    speck[rows.min() + 10, min(cols.max() + 4, 27)] = 255  # a mark apart from the stroke, in the box
    faint_edge = one.copy()
    faint_edge[rows.min() : rows.max() + 1, cols.max() + 1] = 5  # beside the stroke, below 5% of the peak
    small = np.asarray(Image.fromarray(one).resize((22, 22), Image.Resampling.BILINEAR))  # 20 -> 16 pixels
    small = np.pad(np.where(small > 0.05 * small.max(), small, 0), 3)
    row, col = ndimage.center_of_mass(small)
    small = np.roll(small, (round(14 - row), round(14 - col)), axis=(0, 1))
    return {
        "off_centre": np.roll(one, 3, axis=1),
        "a_faint_edge_outside_the_box": faint_edge,
        "smaller_than_20": small,
        "a_second_mark": speck,
        "not_28x28": np.pad(one, ((0, 2), (0, 2))),
        "dark_on_light": 255 - one,
    }


@pytest.mark.parametrize("kind", list(near_misses()))
def test_an_image_not_quite_in_mnist_form_is_prepared_in_full(searches, kind):
    image = near_misses()[kind]
    searches.clear()  # those made while building it
    assert to_mnist(Image.fromarray(image)).shape == (1, 28, 28)
    assert searches, "the digit search was skipped"


def test_a_full_resolution_photo_is_prepared_as_a_smaller_one(tmp_path):
    """At a camera's 12 megapixels the sensor's noise outweighed the ink's faint edge: the digit came out
    16-18 pixels tall, not MNIST's 20. Reduced to about PREPARED_SIDE first, it is prepared as at 1000 px."""
    rng = np.random.default_rng(0)
    small = render_digit(4, canvas=(1008, 756), size=400, at=(300, 150), ink=(30, 30, 40), paper=(225, 220, 205),
                         mode="RGB")  # fmt: skip
    large = np.asarray(small.resize((4032, 3024), Image.Resampling.BICUBIC), dtype=np.float32)
    noisy = Image.fromarray(np.clip(large + rng.normal(0, 4, large.shape[:2])[..., None], 0, 255).astype(np.uint8))
    inked = to_mnist(noisy)[0].numpy() > 40
    rows, columns = np.flatnonzero(inked.any(1)), np.flatnonzero(inked.any(0))
    assert max(rows[-1] - rows[0], columns[-1] - columns[0]) + 1 == 20
    assert float((to_mnist(noisy).float() - to_mnist(small).float()).abs().mean()) < 8


@pytest.mark.parametrize(("mode", "colour"), [("1", 1), ("P", 3), ("I;16", 1000), ("RGBA", (9, 9, 9, 255)), ("L", 7)])
def test_reduce_takes_every_mode_the_preparation_reads(mode, colour):
    image = Image.new(mode, (2500, 2100), colour)
    reduced = preparation.reduced(image)
    assert reduced.size == (1250, 1050) and preparation.grayscale(reduced) is not None
    assert preparation.reduced(Image.new(mode, (1999, 1000), colour)).size == (1999, 1000)


# A frame drawn round the digit in the same pen (a box, a circle) is heavier than the digit: it was taken for
# the digit, the digit inside kept as one of its strokes (a boxed 7 read as a 2 or a 0, 99% sure).


def marker_photo(digit: int, frame: str | None, width: int = 30, gap: int = 60) -> Image.Image:
    """A dark digit 300 pixels tall on a 1000x750 photo of paper in uneven light (blurred, with sensor noise),
    and a ``frame`` ("box" or "circle") ``width`` pixels wide drawn round it ``gap`` pixels clear of it."""
    ink = np.asarray(render_digit(digit, canvas=(1000, 750), size=300, at=(380, 160)), dtype=np.float32) / 255
    ink = ndimage.grey_dilation(ink, size=(9, 9))  # a marker's strokes, about as wide as the frame's
    rows, cols = np.nonzero(ink > 0.5)
    top, bottom, left, right = rows.min() - gap, rows.max() + gap, cols.min() - gap, cols.max() + gap
    layer = Image.new("L", (1000, 750), 0)
    if frame == "box":
        ImageDraw.Draw(layer).rectangle((left - width, top - width, right + width, bottom + width), outline=255,
                                        width=width)  # fmt: skip
    elif frame == "circle":
        centre, radius = ((left + right) / 2, (top + bottom) / 2), max(right - left, bottom - top) / 2 + width
        ImageDraw.Draw(layer).ellipse((centre[0] - radius, centre[1] - radius, centre[0] + radius,
                                       centre[1] + radius), outline=255, width=width)  # fmt: skip
    ink = ndimage.gaussian_filter(np.maximum(ink, np.asarray(layer, dtype=np.float32) / 255), 1.5)
    light = np.linspace(0.85, 1.0, 1000)[None, :] * np.linspace(0.9, 1.0, 750)[:, None]
    paper = 235 * light * (1 - ink) + 30 * ink
    return grey(paper + np.random.default_rng(digit).normal(0, 3, paper.shape))


def pad(*shapes: tuple[str, tuple]) -> Image.Image:
    """The page's canvas (320x320, white on black) with strokes of its pen (25 pixels): ("line", points),
    ("box", corners), ("circle", its box)."""
    drawn = Image.new("L", (320, 320), 0)
    draw = ImageDraw.Draw(drawn)
    for shape, where in shapes:
        if shape == "line":
            draw.line(where, fill=255, width=25, joint="curve")
        elif shape == "box":
            draw.rectangle(where, outline=255, width=25)
        else:
            draw.ellipse(where, outline=255, width=25)
    return drawn


SEVEN = ("line", (120, 100, 200, 100, 150, 220))
ONE = ("line", (160, 95, 158, 225))


@pytest.mark.parametrize("frame, width", [("box", 30), ("box", 12), ("circle", 40)])
def test_a_digit_framed_in_a_photo_is_prepared_without_its_frame(frame, width):
    framed = prepare(marker_photo(7, frame, width))
    alone = prepare(marker_photo(7, None))
    assert not framed.several and close(framed.pixels, alone.pixels) < 0.01


@pytest.mark.parametrize(
    "framed, alone",
    [
        (pad(SEVEN, ("box", (55, 45, 265, 285))), pad(SEVEN)),  # four-cornered: was taken for a sheet
        (pad(ONE, ("circle", (45, 45, 275, 275))), pad(ONE)),  # heavier than the 1: was taken for the digit
        (pad(SEVEN, ("box", (70, 55, 250, 270)), ("box", (20, 10, 300, 310))), pad(SEVEN)),  # a box in a box
    ],
    ids=["boxed-7", "circled-1", "boxed-twice"],
)
def test_a_digit_framed_on_the_page_is_prepared_without_its_frame(framed, alone):
    assert prepare(framed).pixels.equal(prepare(alone).pixels)


def test_a_bold_frame_covering_over_a_third_of_the_page_is_light_ink_not_paper():
    # Over LIGHT_INK of the picture is light: it was taken for paper, and the frame's inside for the digit.
    framed = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(framed).ellipse((5, 5, 315, 315), outline=255, width=40)
    ImageDraw.Draw(framed).line(SEVEN[1], fill=255, width=25, joint="curve")
    assert np.mean(np.asarray(framed) > 127) > preparation.LIGHT_INK
    assert prepare(framed).pixels.equal(prepare(pad(SEVEN)).pixels)


def looped_digit_with_a_speck(digit: int, speck: int, photo: bool) -> tuple[Image.Image, Image.Image]:
    """A 0, 6, 8 or 9 with a dot ``speck`` pixels across in the middle of its (lower or only) loop, and the same
    digit without it: white on the page's black, or dark on grey paper (a photo)."""
    drawn = np.asarray(render_digit(digit, canvas=(400, 400), size=300, at=(100, 20)), dtype=np.float32)
    drawn = ndimage.grey_dilation(drawn, size=(9, 9))  # strokes as bold as the page's pen
    holes, _ = ndimage.label(ndimage.binary_fill_holes(drawn > 127) & (drawn <= 127))
    loop = holes == np.bincount(holes.ravel())[1:].argmax() + 1
    row, col = np.unravel_index(ndimage.distance_transform_edt(loop).argmax(), loop.shape)
    rows, cols = np.ogrid[:400, :400]
    dotted = np.where(np.hypot(rows - row, cols - col) <= speck / 2, 255.0, drawn)
    if photo:
        return grey(235 - dotted * 205 / 255), grey(235 - drawn * 205 / 255)
    return grey(dotted), grey(drawn)


@pytest.mark.parametrize("digit", [0, 6, 8, 9])
@pytest.mark.parametrize("photo", [False, True], ids=["page", "photo"])
def test_a_digit_with_a_speck_in_its_loop_is_not_taken_for_a_frame(digit, photo):
    # The speck is far smaller than the loop: the digit is no frame round it (a 0 round a noise dot is a 0).
    with_speck, alone = looped_digit_with_a_speck(digit, 12, photo)
    prepared, reference = prepare(with_speck).pixels, prepare(alone).pixels
    # The same digit, but for the speck and a pixel's shift (the speck moves the centre of mass).
    shifts = [(down, across) for down in range(-1, 2) for across in range(-1, 2)]
    assert min(close(prepared.roll(shift, dims=(1, 2)), reference) for shift in shifts) < 0.01
    assert ink_box(prepared) == ink_box(reference)


def beside_a_phone(angle: float, at: int = 740, shade: float = 25) -> Image.Image:
    """:func:`marker_photo`'s 7 (no frame), a dark phone (a rounded box 180x520) lying beside it, turned ``angle``
    degrees, its left side ``at`` pixels across."""
    layer = Image.new("L", (1000, 750), 0)
    ImageDraw.Draw(layer).rounded_rectangle((at, 110, at + 180, 630), radius=30, fill=255)
    phone = np.asarray(layer.rotate(angle, Image.Resampling.BICUBIC, center=(at + 90, 370)), dtype=np.float32) / 255
    return grey(np.asarray(marker_photo(7, None), dtype=np.float32) * (1 - phone) + shade * phone)


@pytest.mark.parametrize("angle", [0, 12])
def test_a_digit_beside_a_dark_phone_is_the_digit_not_the_phone(angle):
    # The phone is one solid region, far heavier than the digit: it was the digit, a grey bar read as a 1 or an 8.
    prepared = prepare(beside_a_phone(angle))
    assert not prepared.several and close(prepared.pixels, prepare(marker_photo(7, None)).pixels) < 0.02


def test_a_solid_object_alone_is_still_what_the_picture_shows():
    # Nothing else could be the digit: the phone is (a picture of a dark bar is read as the bar).
    phone = beside_a_phone(0)
    phone.paste(235, (300, 100, 720, 560))  # the 7 covered with paper
    prepared = prepare(phone)
    assert not prepared.blank and ink_box(prepared.pixels)[0] == 20


def test_an_underlined_digit_is_prepared_without_its_line():
    four = [("line", (180, 60, 110, 170, 220, 170)), ("line", (180, 110, 180, 230))]
    assert prepare(pad(*four, ("line", (90, 270, 240, 270)))).pixels.equal(prepare(pad(*four)).pixels)
    # Under a 1, the line is heavier than the digit, and was taken for it.
    assert prepare(pad(ONE, ("line", (100, 265, 230, 262)))).pixels.equal(prepare(pad(ONE)).pixels)


def test_a_two_whose_base_is_drawn_apart_keeps_it():
    # Flat and under the rest, but no wider than it: not an underline.
    curve = ("line", (100, 110, 130, 70, 190, 70, 215, 110, 200, 150, 115, 215))
    prepared = prepare(pad(curve, ("line", (110, 255, 225, 255))))
    assert ink_box(prepared.pixels)[0] == 20 and close(prepared.pixels, prepare(pad(curve)).pixels) > 0.05


def test_sensor_noise_is_measured_and_only_heavy_noise_is_smoothed():
    """The noise's spread comes from neighbouring pixels' differences, which a drawing's strokes hardly move;
    a clean picture (the page's canvas) is left as it is, not blurred."""
    rng = np.random.default_rng(0)
    assert preparation._pixel_noise(0.5 + rng.normal(0, 0.1, (300, 400))) == pytest.approx(0.1, rel=0.05)
    drawing = np.asarray(render_digit(4, canvas=(320, 320), size=200, at=(60, 40)), dtype=np.float32) / 255
    assert preparation._pixel_noise(drawing) == 0
    assert preparation._smoothed_if_noisy(drawing) is drawing
    noisy = np.clip(drawing + rng.normal(0, 0.25, drawing.shape), 0, 1).astype(np.float32)
    assert preparation._pixel_noise(preparation._smoothed_if_noisy(noisy)) < preparation.NOISY


@pytest.mark.parametrize(("height", "small"), [(6, True), (9, True), (10, False), (14, False), (400, False)])
def test_a_digit_under_ten_pixels_is_flagged_small(height, small):
    """A thumbnail's digit, scaled up from a few pixels, was answered as surely as a clear one (a 5x5 "1",
    90%), though on MNIST's digits shrunk so the answers are wrong far more often than their probability says."""
    large = render_digit(4, canvas=(240, 240), size=220, at=(40, -20), ink=0, paper=255)
    digit = large.crop(large.point(lambda v: 255 - v).getbbox())  # the ink's box
    width = max(1, round(digit.width * height / digit.height))
    thumbnail = Image.new("L", (width + 6, height + 6), 255)
    thumbnail.paste(digit.resize((width, height), Image.Resampling.LANCZOS), (3, 3))
    prepared = prepare(thumbnail)
    assert not prepared.blank and prepared.small is small
    assert not prepare(render_digit(7)).small  # MNIST's own 28x28 form: its digit is 20 pixels


@pytest.mark.parametrize("margin", [80, 200])
def test_the_pad_in_a_screenshot_with_the_page_round_it_is_a_board_not_ink(margin):
    """A screenshot of the page's pad with the page's light background round it: over LIGHT_INK of it is light,
    which was taken for paper, the pad for the ink (its 7 a hole in it: read as a 0, 97% sure)."""
    screenshot = Image.new("L", (320 + 2 * margin, 320 + 2 * margin), 246)
    screenshot.paste(pad(SEVEN), (margin, margin))
    ImageDraw.Draw(screenshot).text((margin, margin // 3), "Draw a digit", fill=30, font_size=margin // 3)  # its title
    assert np.mean(np.asarray(screenshot) > 127) > preparation.LIGHT_INK
    assert close(prepare(screenshot).pixels, prepare(pad(SEVEN)).pixels) < 0.01


def chalkboard(digit: int, wall: float) -> tuple[Image.Image, Image.Image]:
    """A chalk digit on a green board in a wooden frame, photographed with the light wall round it (``wall`` of
    the picture's width on each side, in light falling off across it), and the board alone."""
    board = render_digit(digit, (400, 300), 220, (150, 20), ink=(225, 228, 220), paper=(40, 62, 52), mode="RGB")
    width, height = 600, 450
    left, top = int(wall * width), int(wall * height)
    photo = np.empty((height, width, 3), np.float32)
    photo[:] = (225, 222, 210)
    photo[top - 12 : height - top + 12, left - 12 : width - left + 12] = (120, 85, 50)  # the frame
    inside = board.resize((width - 2 * left, height - 2 * top))
    photo[top : height - top, left : width - left] = np.asarray(inside)
    photo *= (1 - 0.2 * np.arange(width) / width)[None, :, None]
    return Image.fromarray(photo.astype(np.uint8)).filter(ImageFilter.GaussianBlur(1)), inside


@pytest.mark.parametrize("wall", [0.05, 0.25])
@pytest.mark.parametrize("digit", [2, 7])
def test_a_chalk_digit_on_a_board_on_a_light_wall_is_light_ink(digit, wall):
    """The wall round a board is light: as a frame four-cornered once filled in, or over LIGHT_INK of the photo,
    it was taken for paper and the board for the ink, and the chalk digits were read as the board's shape."""
    photo, board = chalkboard(digit, wall)
    assert close(prepare(photo).pixels, prepare(board).pixels) < 0.03
