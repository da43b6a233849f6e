"""Users' own pictures -> MNIST-style tensors, on synthetic images made here (no data set, no network)."""

import pytest
import torch
from PIL import Image, ImageDraw

from mnist_rnn.errors import UserError
from mnist_rnn.images import ImageError, find_images, load_image, to_mnist
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
    assert close(to_mnist(load_image(tmp_path / "six.gif")), mnist_style(6)) < 0.04


def test_aspect_ratio_is_kept():
    bar = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(bar).rectangle((100, 20, 119, 219), fill=0)  # 20 wide, 200 tall, dark on light
    assert ink_box(to_mnist(bar)) == (20, 2)


def test_blank_image_is_all_background():
    assert torch.equal(to_mnist(Image.new("RGB", (50, 80), "white")), torch.zeros(1, 28, 28, dtype=torch.uint8))


def test_find_images_in_a_folder_a_glob_or_one_file(tmp_path):
    for name in ("b.png", "a.JPG", "c.bmp", "d.gif", "e.jpeg", "notes.txt"):
        (tmp_path / name).touch()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.png").touch()
    names = [p.name for p in find_images(tmp_path)]
    assert names == ["a.JPG", "b.png", "c.bmp", "d.gif", "e.jpeg"]
    assert [p.name for p in find_images(str(tmp_path / "**" / "*.png"))] == ["b.png", "f.png"]
    assert find_images(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]  # named: taken, and judged later
    with pytest.raises(UserError, match="no images found"):
        find_images(tmp_path / "nothing-*.png")


def test_unreadable_files_name_themselves(tmp_path):
    text = tmp_path / "text.png"
    text.write_text("not an image\n")
    empty = tmp_path / "empty.png"
    empty.touch()
    truncated = tmp_path / "truncated.png"
    render_digit(1, canvas=(64, 64), size=40).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:-40])
    for path in (text, empty, truncated):
        with pytest.raises(ImageError) as error:
            load_image(path)
        assert str(path) in str(error.value)
    assert "empty" in str(pytest.raises(ImageError, load_image, empty).value)
