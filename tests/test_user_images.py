"""Users' files: found, decoded once (from a path or bytes, with limits, turned upright), held for predict."""

import faulthandler
import io
import multiprocessing
import os
import re
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import PIL
import pytest
import torch
from PIL import Image, ImageOps

from mnist_rnn import stopping, user_images
from mnist_rnn.errors import UserError
from mnist_rnn.preparation import to_mnist
from mnist_rnn.user_images import (
    FORMATS,
    MAX_PIXELS,
    DamagedImage,
    ImageError,
    ImageTooLarge,
    NotAnImage,
    UserImages,
    VectorDrawing,
    decode_image,
    find_images,
    preparing_workers,
)
from tests.helpers import render_digit


def close(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of two uint8 images, in [0, 1]."""
    return float((a.float() - b.float()).abs().mean() / 255)


@pytest.mark.parametrize("suffix", [".jpg", ".heic"])  # an Android phone's photo, an iPhone's
def test_the_exif_orientation_tag_is_applied(tmp_path, suffix):
    upright = render_digit(
        7, canvas=(300, 400), size=200, at=(60, 60), ink=(20, 20, 20), paper=(240, 235, 225), mode="RGB"
    )
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view": the camera stored the picture sideways
    phone_path = tmp_path / f"phone{suffix}"
    upright.transpose(Image.Transpose.ROTATE_90).save(phone_path, exif=exif.tobytes(), quality=95)
    upright.save(tmp_path / "upright.png")
    decoded = decode_image(phone_path)
    assert decoded.size == (300, 400)  # turned once, not twice (pillow-heif turns HEIC itself)
    phone = to_mnist(decoded)
    assert close(phone, to_mnist(decode_image(tmp_path / "upright.png"))) < 0.02
    sideways = to_mnist(upright.transpose(Image.Transpose.ROTATE_90))
    assert close(phone, sideways) > 0.05  # the tag mattered


def test_a_phones_full_size_jpeg_is_decoded_at_the_scale_the_preparation_uses(tmp_path):
    """12 megapixels: libjpeg decodes at 1/4 (1008 x 756), what prepare() would reduce it to, and turns it."""
    photo = Image.new("RGB", (4032, 3024), (230, 225, 215))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways
    photo.save(tmp_path / "photo.jpg", quality=85, exif=exif.tobytes())
    assert decode_image(tmp_path / "photo.jpg").size == (756, 1008)
    photo.resize((1999, 1500)).save(tmp_path / "smaller.jpg")  # under twice PREPARED_SIDE: as it is
    assert decode_image(tmp_path / "smaller.jpg").size == (1999, 1500)


def test_a_phones_multi_picture_jpeg_is_decoded_at_the_scale_the_preparation_uses_too(tmp_path):
    """Phones and cameras save many photos as MPO, a JPEG with a smaller preview of the same photo after it:
    Pillow names its format MPO, and it was decoded at full size (16 times the pixels). One picture, still."""
    photo = Image.new("RGB", (4032, 3024), (230, 225, 215))
    photo.save(tmp_path / "photo.jpg", "MPO", save_all=True, append_images=[photo.resize((640, 480))])
    decoded = decode_image(tmp_path / "photo.jpg")
    assert decoded.format == "MPO" and decoded.size == (1008, 756)
    assert decoded.info["frames"] == 1


@pytest.mark.parametrize("format", ["GIF", "PNG", "WEBP", "TIFF"])
def test_an_animations_frames_or_a_scans_pages_are_counted_and_the_first_is_read(tmp_path, format):
    """A GIF of a digit being drawn begins empty; its first frame alone is read, and ``frames`` says how many
    there were (``predict`` warns of the others)."""
    frames = [render_digit(digit, canvas=(60, 60), size=50, ink=0, paper=255) for digit in (4, 7)]
    frames = [Image.new("L", (60, 60), 255), *frames]
    frames[0].save(tmp_path / f"drawing.{format.lower()}", format, save_all=True, append_images=frames[1:])
    frames[1].save(tmp_path / f"four.{format.lower()}", format)
    decoded = decode_image(tmp_path / f"drawing.{format.lower()}")
    assert decoded.info["frames"] == 3 and np.asarray(decoded.convert("L")).min() == 255  # the empty first
    images = UserImages.load(tmp_path, workers=0)
    assert [path.name for path in images.files] == [f"drawing.{format.lower()}", f"four.{format.lower()}"]
    assert images.frames == [3, 1] and images.blank == [True, False]


@pytest.mark.parametrize("format", ["WEBP", "TIFF", "AVIF", "HEIF"])
def test_pictures_saved_from_the_web_scanned_or_taken_on_an_iphone_are_read(tmp_path, format):
    scan = render_digit(3, canvas=(120, 160), size=100, ink=(30, 30, 40), paper=(235, 230, 220), mode="RGB")
    data = io.BytesIO()
    scan.save(data, format, **({"compression": "tiff_lzw"} if format == "TIFF" else {"quality": 95}))
    decoded = decode_image(data.getvalue())
    assert decoded.size == (120, 160) and close(to_mnist(decoded), to_mnist(scan)) < 0.03
    assert format in FORMATS


# Pillow before 13 (all of it on Python 3.10) reads an uncompressed YCbCr TIFF as RGBX, 4 bytes a pixel for 3:
# "image file is truncated (0 bytes not processed)", whoever wrote the file.
OLD_PILLOW_YCBCR = pytest.mark.skipif(
    int(PIL.__version__.split(".")[0]) < 13, reason="Pillow < 13 cannot read an uncompressed YCbCr TIFF"
)


@pytest.mark.parametrize("mode", ["LAB", "CMYK", pytest.param("YCbCr", marks=OLD_PILLOW_YCBCR)])
def test_a_scan_in_another_colour_space_is_read_as_its_lightness(mode):
    """A TIFF in CIELAB (a scanner's or Photoshop's colour space) ended a whole predict run in a traceback:
    Pillow converts LAB to nothing."""
    scan = render_digit(3, canvas=(120, 160), size=100, ink=(30, 30, 40), paper=(235, 230, 220), mode="RGB")
    data = io.BytesIO()
    scan.convert(mode).save(data, "TIFF")
    decoded = decode_image(data.getvalue())
    assert close(to_mnist(decoded), to_mnist(scan)) < 0.03


def test_user_images_hold_files_images_failures_and_blank_flags(tmp_path):
    render_digit(3, canvas=(64, 64), size=40, ink=0, paper=255).save(tmp_path / "a.png")
    Image.new("L", (40, 40), 255).save(tmp_path / "b.png")
    (tmp_path / "c.png").write_text("no picture")
    images = UserImages.load(tmp_path)
    assert images.files == [tmp_path / "a.png", tmp_path / "b.png"] and images.blank == [False, True]
    assert [path for path, _ in images.failures] == [tmp_path / "c.png"]
    batch, indices = images.__getitems__([1, 0])
    assert batch.shape == (2, 1, 28, 28) and batch.dtype == torch.uint8 and indices.tolist() == [1, 0]
    assert torch.equal(batch[1], to_mnist(decode_image(tmp_path / "a.png")))


def test_saved_prepared_images_are_named_after_their_files_without_collisions(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for path in ("in/3.png", "in/3.jpg", "in/sub/3.png", "in/3-2.png"):
        render_digit(3, canvas=(64, 64), size=40, ink=0, paper=255).save(tmp_path / path)
    images = UserImages.load(str(tmp_path / "in" / "**" / "*.*"))
    written = images.save(tmp_path / "out")
    # In file order: in/3-2.png, in/3.jpg, in/3.png, in/sub/3.png.
    assert [path.name for path in written] == ["3-2.png", "3.png", "3-3.png", "3-4.png"]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(path.name for path in written)
    for path, image in zip(written, images.images, strict=True):
        assert torch.equal(torch.from_numpy(np.array(Image.open(path)))[None], image)


def test_images_come_in_the_order_a_file_manager_lists_them(tmp_path):
    """Numbered files came as 1, 10, 100, 1000, 1001, ..., 2: the order of their names' characters."""
    for name in ("10.png", "2.png", "1.png", "100.png", "Scan 3.png", "scan 20.png", "scan 3b.png"):
        (tmp_path / name).touch()
    names = [p.name for p in find_images(tmp_path)]
    assert names == ["1.png", "2.png", "10.png", "100.png", "Scan 3.png", "scan 3b.png", "scan 20.png"]


def test_find_images_in_a_folder_a_glob_or_one_file(tmp_path, capsys):
    for name in ("b.png", "a.JPG", "c.bmp", "d.gif", "e.jpeg", "g.webp", "h.tif", "i.HEIC", "notes.txt", ".DS_Store"):
        (tmp_path / name).touch()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.png").touch()
    (tmp_path / "moved.png").symlink_to(tmp_path / "elsewhere.png")  # a link whose file was moved away
    names = [p.name for p in find_images(tmp_path)]
    # A link to nothing is listed, as a file that cannot be read: predict gives it its row, with the reason.
    assert names == ["a.JPG", "b.png", "c.bmp", "d.gif", "e.jpeg", "g.webp", "h.tif", "i.HEIC", "moved.png"]
    # Not silently: a file the user may have meant as a picture is named (a hidden one is not), and so are
    # images in subfolders, with the glob that reads them.
    every = f"--data.predict_path '{tmp_path / '**' / '*'}'"
    assert capsys.readouterr().err == (
        f"mnist-rnn: warning: skipped {tmp_path / 'notes.txt'}: not a PNG, JPEG, BMP, GIF, WebP, TIFF, AVIF or "
        "HEIC file, by the suffix of its name\n"
        f"mnist-rnn: warning: the images in subfolders of {tmp_path} were not read: {every} reads them too\n"
    )
    # The link to nothing named alone: what it is, not "no such file" of a name that is there.
    with pytest.raises(UserError, match=r"moved.png: a symbolic link to .*elsewhere.png, which does not exist"):
        find_images(tmp_path / "moved.png")
    # A folder per class (ImageFolder's layout), no image in the folder itself: the glob, not "no images".
    by_class = tmp_path / "by_class"
    (by_class / "3").mkdir(parents=True)
    (by_class / "3" / "x.png").touch()
    with pytest.raises(UserError) as error:
        find_images(by_class)
    assert str(error.value) == (
        f"no images in {by_class} itself, but in its subfolders: --data.predict_path '{by_class / '**' / '*'}' "
        "reads them all"
    )
    assert find_images(str(by_class / "**" / "*")) == [by_class / "3" / "x.png"]
    assert [p.name for p in find_images(str(tmp_path / "**" / "*.png"))] == ["b.png", "x.png", "moved.png", "f.png"]
    assert find_images(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]  # named: taken, and judged later
    # A camera's IMG_0001.JPG is one of the user's '*.jpg' (a glob is case-sensitive on Linux).
    assert find_images(str(tmp_path / "*.jpg")) == [tmp_path / "a.JPG"]
    assert find_images(str(tmp_path / "**" / "*.Heic")) == [tmp_path / "i.HEIC"]
    with pytest.raises(UserError, match="no images found"):
        find_images(tmp_path / "nothing-*.png")
    with pytest.raises(UserError) as error:
        find_images(tmp_path / "*.txt")
    assert str(error.value).endswith(f"HEIC files; other files there: {tmp_path / 'notes.txt'})")


def test_a_picture_piped_in_is_read_from_the_pipe_named(tmp_path, monkeypatch):
    """``cat photo.jpg | predict --data.predict_path /dev/stdin``, or a shell's ``<(curl -s URL)``: a pipe, read
    once as a file is; it was "no images found" (and "-", "no such file or folder", with no word of /dev/stdin)."""
    render_digit(4, canvas=(120, 120), size=90, at=(30, 5), ink=0, paper=255).save(tmp_path / "four.png")
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    assert find_images(pipe) == [pipe]
    writer = threading.Thread(target=lambda: pipe.write_bytes((tmp_path / "four.png").read_bytes()))
    writer.start()
    try:
        images = UserImages.load(pipe, workers=0)
    finally:
        # A writer still waiting once the reading is over was never read: a reader of its own lets it end. (Asked
        # at once, "alive" was also a writer closing the pipe it had written, and that reader then waited for ever.)
        writer.join(timeout=10)
        if writer.is_alive():
            pipe.read_bytes()
            writer.join()
    assert images.files == [pipe] and not images.failures
    assert torch.equal(images.images[0], to_mnist(decode_image(tmp_path / "four.png")))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        UserError,
        match=r"^-: no such file or folder \(to read a picture piped in, name the standard input: /dev/stdin\)$",
    ):
        find_images("-")


def test_hidden_files_and_folders_are_not_read(tmp_path, capsys):
    """A USB stick written by a Mac: ._IMG_0001.jpg beside each photo (AppleDouble metadata, not a JPEG) made
    predict fail with an 'error' row for each; a hidden folder of thumbnails said 'images in subfolders'."""
    stick = tmp_path / "stick"
    stick.mkdir()
    render_digit(7).save(stick / "IMG_0001.jpg")
    (stick / "._IMG_0001.jpg").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02")
    (stick / ".thumbnails").mkdir()
    render_digit(7).save(stick / ".thumbnails" / "IMG_0001.png")
    assert find_images(stick) == [stick / "IMG_0001.jpg"]
    assert capsys.readouterr().err == ""
    assert find_images(str(stick / "**" / "*")) == [stick / "IMG_0001.jpg"]  # as the glob has it
    assert find_images(stick / "._IMG_0001.jpg") == [stick / "._IMG_0001.jpg"]  # named: taken, and judged later


def test_folders_this_user_may_not_list_are_named(tmp_path, capsys, monkeypatch):
    """On shared storage: a folder of pictures without read permission ended predict in a traceback, and an
    unlistable subfolder's pictures were left out without a word (as root, nothing is refused: simulated)."""
    shared = tmp_path / "shared"
    (shared / "locked").mkdir(parents=True)
    render_digit(7).save(shared / "seven.png")
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    skipped = f"mnist-rnn: warning: skipped the folder {shared / 'locked'}: cannot be read (Permission denied)\n"
    assert find_images(str(shared / "**" / "*.png")) == [shared / "seven.png"]
    assert capsys.readouterr().err == skipped
    (shared / "seven.png").rename(shared / "seven.txt")  # nothing in the folder itself: the locked one may hold them
    with pytest.raises(UserError, match="no images found at"):
        find_images(shared)
    assert capsys.readouterr().err.startswith(skipped)
    monkeypatch.setattr(Path, "iterdir", lambda path: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    with pytest.raises(UserError, match=f"^{shared}: cannot be read \\(Permission denied\\)$"):
        find_images(shared)


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
            decode_image(path)
        assert str(path) in str(error.value)
    assert "empty" in str(pytest.raises(ImageError, decode_image, empty).value)


def test_bytes_and_paths_decode_alike_and_errors_say_why(tmp_path):
    scan = render_digit(5, canvas=(120, 90), size=70, ink=0, paper=255)
    scan.save(tmp_path / "five.png")
    data = (tmp_path / "five.png").read_bytes()
    from_bytes, from_path = decode_image(data), decode_image(tmp_path / "five.png")
    assert np.array_equal(np.asarray(from_bytes), np.asarray(from_path)) and from_bytes.size == (120, 90)
    with pytest.raises(NotAnImage, match="empty"):
        decode_image(b"")
    with pytest.raises(NotAnImage, match="not a PNG, JPEG, BMP, GIF, WebP, TIFF, AVIF or HEIC file") as error:
        decode_image(b"no picture here")
    assert error.value.path is None and str(error.value) == error.value.reason  # no file to name
    pcx = io.BytesIO()
    scan.save(pcx, "PCX")  # PIL reads PCX, but it is not a format users are told they can send
    with pytest.raises(NotAnImage):
        decode_image(pcx.getvalue())
    with pytest.raises(DamagedImage, match="truncated or damaged PNG data"):
        decode_image(data[:-40])
    # Cut off within the header, where PIL cannot tell the format: truncated still (a 400 from serve, not a
    # 415 telling a user with a PNG to send a PNG), by the format's first bytes.
    for format, cut in (("PNG", 33), ("JPEG", 600), ("GIF", 10), ("TIFF", 60), ("BMP", 10), ("WebP", 33)):
        encoded = io.BytesIO()
        scan.save(encoded, format.upper())
        with pytest.raises(DamagedImage, match=f"truncated or damaged {format} data"):
            decode_image(encoded.getvalue()[:cut])
    heic = io.BytesIO()
    scan.convert("RGB").save(heic, "HEIF")
    # HEIF: pillow-heif >= 0.18 reads the header and fails in the pixels; before, its first bytes say HEIC
    with pytest.raises(DamagedImage, match="truncated or damaged HEI[FC] data") as error:
        decode_image(heic.getvalue()[: len(heic.getvalue()) // 2])
    assert "\n" not in str(error.value)  # libheif's message ends in a newline: it split the line and the CSV cell
    with pytest.raises(VectorDrawing, match=r"\(an SVG drawing, not pixels: export it as PNG\)"):
        decode_image(b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"/>')
    with pytest.raises(NotAnImage, match=r"\(a PDF document: export its page as PNG\)$"):
        decode_image(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    with pytest.raises(NotAnImage):  # "BM" begins a BMP, and other files too
        decode_image(b"BMW service report, 2026")
    with pytest.raises(ImageError, match="no such file") as error:
        decode_image(tmp_path / "missing.png")
    assert error.value.path == tmp_path / "missing.png"


def test_a_png_damaged_in_its_pixels_is_refused_not_read():
    """Pillow does not check the pixels' (IDAT's) checksum: a byte flipped there may still inflate, into a
    picture with blocks of it wrong, which was read as another digit, surely and without a word."""
    scan = render_digit(5, canvas=(120, 90), size=70, ink=0, paper=255)
    encoded = io.BytesIO()
    scan.save(encoded, "PNG")
    data = encoded.getvalue()
    pixels = data.index(b"IDAT") + 4
    (length,) = struct.unpack(">I", data[pixels - 8 : pixels - 4])

    def flipped(at: int) -> bytes:
        damaged = bytearray(data)
        damaged[pixels + at] ^= 0xFF
        return bytes(damaged)

    def pillow_reads(damaged: bytes) -> bool:
        try:
            Image.open(io.BytesIO(damaged)).load()
        except (OSError, SyntaxError, ValueError):
            return False
        return True

    # Where a flip still inflates depends on the zlib that wrote the file: the first such place.
    silent = next(flipped(at) for at in range(length) if pillow_reads(flipped(at)))
    assert not np.array_equal(np.asarray(Image.open(io.BytesIO(silent))), np.asarray(scan))
    with pytest.raises(DamagedImage, match=r"damaged PNG data: the checksum of its IDAT chunk does not match\)$"):
        decode_image(silent)
    assert decode_image(data).size == (120, 90)


def test_pictures_over_the_size_limits_are_refused_before_decoding(tmp_path, monkeypatch):
    Image.new("L", (300, 200)).save(tmp_path / "wide.png")
    with pytest.raises(ImageTooLarge, match="300 x 200 pixels"):
        decode_image(tmp_path / "wide.png", max_pixels=300 * 200 - 1)
    assert decode_image(tmp_path / "wide.png", max_pixels=300 * 200).size == (300, 200)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL's own bomb check: over twice this is an error
    with pytest.raises(ImageTooLarge, match="image of 60,000 pixels: the limit is 2,000 pixels; scale it to 18% "):
        decode_image(tmp_path / "wide.png")


def test_a_picture_over_the_pixel_limit_is_told_how_much_smaller_to_make_it(tmp_path):
    """A 200-megapixel photo was told "image of 192,000,000 pixels: the limit is 50,000,000 pixels" and no more:
    the scale that brings it under, and a command that makes it."""
    from tests.test_serve import png_header

    (tmp_path / "huge.png").write_bytes(png_header(12000, 16000))  # its header alone: refused before decoding
    with pytest.raises(ImageTooLarge) as refused:
        decode_image(tmp_path / "huge.png")
    assert str(refused.value).endswith(
        "image of 192,000,000 pixels: the limit is 50,000,000 pixels; scale it to 51% of its width and height or "
        "less (e.g. magick big.jpg -resize 51% small.jpg): a digit needs far fewer pixels"
    )
    assert int(12000 * 0.51) * int(16000 * 0.51) <= MAX_PIXELS < int(12000 * 0.52) * int(16000 * 0.52)


def test_a_malformed_exif_block_is_ignored_but_a_bug_is_not(tmp_path, monkeypatch):
    drawing = render_digit(2, canvas=(80, 80), size=60, ink=0, paper=255)
    drawing.save(tmp_path / "odd_exif.png", exif=b"garbage, not TIFF data")
    decoded = decode_image(tmp_path / "odd_exif.png")  # PIL raises SyntaxError reading this block
    assert np.array_equal(np.asarray(decoded.convert("L")), np.asarray(drawing))

    def broken(image, in_place=False):
        raise TypeError("a bug, not a bad file")

    monkeypatch.setattr(ImageOps, "exif_transpose", broken)
    with pytest.raises(TypeError, match="a bug"):
        decode_image(tmp_path / "odd_exif.png")

    def short_block(image, in_place=False):
        raise struct.error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr(ImageOps, "exif_transpose", short_block)
    assert decode_image(tmp_path / "odd_exif.png").size == (80, 80)


def test_user_images_record_pictures_of_several_digits(tmp_path):
    left = np.asarray(render_digit(3, canvas=(400, 200), size=120, at=(40, 40), ink=0, paper=255))
    right = np.asarray(render_digit(8, canvas=(400, 200), size=120, at=(240, 40), ink=0, paper=255))
    Image.fromarray(np.minimum(left, right)).save(tmp_path / "a_two.png")
    Image.fromarray(left).save(tmp_path / "b_one.png")
    Image.fromarray(left).resize((20, 10)).save(tmp_path / "c_icon.png")
    images = UserImages.load(tmp_path)
    assert images.several == [True, False, False] and images.blank == [False, False, False]
    assert images.small == [False, False, True]


def test_worker_processes_give_the_same_set_as_one_process(tmp_path):
    for index in range(6):
        render_digit(index, canvas=(80, 60 + 10 * index), size=40, ink=0, paper=255).save(tmp_path / f"{index}.png")
    Image.new("L", (40, 40), 255).save(tmp_path / "blank.png")
    (tmp_path / "broken.png").write_text("no picture")
    render_digit(7).save(tmp_path / "mnist_style.png")
    alone, shared = UserImages.load(tmp_path, workers=0), UserImages.load(tmp_path, workers=2)
    assert shared.files == alone.files and len(shared.files) == 8 and torch.equal(shared.images, alone.images)
    assert shared.blank == alone.blank and shared.several == alone.several and shared.failures == alone.failures
    assert shared.small == alone.small == [False] * 8
    assert [path.name for path, _ in shared.failures] == ["broken.png"]


def test_many_pictures_are_announced_before_they_are_prepared(tmp_path, capsys, monkeypatch):
    """2,000 photos took 12-30 s with nothing on the screen between Lightning's lines."""
    from mnist_rnn import user_images

    for index in range(3):
        render_digit(index).save(tmp_path / f"{index}.png")
    monkeypatch.setattr(user_images, "ANNOUNCED_FILES", 4)
    UserImages.load(tmp_path, workers=0)
    assert capsys.readouterr().err == ""
    render_digit(3).save(tmp_path / "3.png")
    UserImages.load(tmp_path, workers=0)
    assert capsys.readouterr().err == "mnist-rnn: preparing 4 pictures\n"
    UserImages.load(tmp_path, workers=2)
    assert capsys.readouterr().err == "mnist-rnn: preparing 4 pictures in 2 processes\n"


def test_files_are_shared_out_one_worker_per_usable_core_when_each_gets_enough(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    enough = user_images.MIN_FILES_PER_WORKER
    assert [preparing_workers(count) for count in (1, 2 * enough - 1, 2 * enough, 3 * enough, 100 * enough)] == [
        0,
        0,
        2,
        3,
        4,
    ]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {5})  # one core allowed (taskset): no workers
    assert preparing_workers(100 * enough) == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True)  # may not start processes
    assert preparing_workers(100 * enough) == 0


def four_pictures(folder: Path, odd_size: tuple[int, int]) -> None:
    """Four digits, the first of them ``odd_size`` (for a stand-in preparation to pick it out)."""
    render_digit(3, canvas=odd_size, size=40, ink=0, paper=255).save(folder / "0.png")
    for index in range(1, 4):
        render_digit(index, canvas=(64, 64), size=40, ink=0, paper=255).save(folder / f"{index}.png")


@pytest.fixture
def hang_guard():
    """Ends the test run with every thread's stack if a test hangs (a pool waiting for a dead worker)."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def test_ctrl_c_while_workers_prepare_ends_them_and_leaves_the_line_to_the_parent(
    tmp_path, monkeypatch, capfd, hang_guard
):
    four_pictures(tmp_path, (65, 65))
    prepare = user_images.prepare

    def interrupted(image):
        if image.size == (65, 65):  # one worker: Ctrl+C reaches the whole process group, once each
            os.kill(os.getppid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(60)  # still at work when the parent stops
        return prepare(image)

    monkeypatch.setattr(user_images, "prepare", interrupted)
    with stopping.stop_handlers(), pytest.raises(stopping.Stopped):
        UserImages.load(tmp_path, workers=2)
    assert not multiprocessing.active_children()
    assert "Traceback" not in capfd.readouterr().err


def test_a_worker_that_dies_is_a_clear_error_not_a_wait(tmp_path, monkeypatch, hang_guard):
    four_pictures(tmp_path, (66, 66))
    prepare = user_images.prepare

    def killed(image):
        if image.size == (66, 66):
            os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer ends a process
        return prepare(image)

    monkeypatch.setattr(user_images, "prepare", killed)
    with pytest.raises(UserError) as error:
        UserImages.load(tmp_path, workers=2)
    assert str(error.value).startswith("a process preparing the images ended abruptly (DataLoader worker")
    assert str(error.value).endswith("--data.prepare_workers 0 prepares them one at a time in this process")


def test_a_deferred_stop_is_recorded_inside_the_block_and_raised_for_the_handler_in_place_after_it():
    with stopping.stop_handlers(), pytest.raises(stopping.Stopped) as stop:
        with stopping.deferred_stops() as stops:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # a handler that raised would have raised here
            assert stops == [signal.SIGTERM]
            reached_the_end_of_the_block = True
    assert reached_the_end_of_the_block and stop.value.signum == signal.SIGTERM


def test_a_link_to_a_parent_folder_is_not_followed_round_and_round(tmp_path, capsys):
    """A link back up (``sub/up -> ..``): a '**' glob gave each file 41 rows (glob.glob followed it until the
    path was too long), and with two such links a folder's look for images below it never ended."""
    root = tmp_path / "f"
    (root / "sub").mkdir(parents=True)
    render_digit(3).save(root / "a.png")
    render_digit(4).save(root / "sub" / "b.png")
    (root / "sub" / "up").symlink_to(root)
    assert find_images(str(root / "**" / "*")) == [root / "a.png", root / "sub" / "b.png"]
    assert find_images(str(root / "**" / "b.png")) == [root / "sub" / "b.png"]
    (root / "sub" / "up_again").symlink_to(root)
    assert find_images(root) == [root / "a.png"]
    assert find_images(str(root / "**")) == [root / "a.png", root / "sub" / "b.png"]  # as '**/*', on every Python
    assert "the images in subfolders of" in capsys.readouterr().err  # sub/b.png, found without going round


def test_a_link_to_a_folder_of_images_is_named_not_promised_to_a_glob(tmp_path, capsys):
    """A folder holding a link to another folder of images: the warning said that '**/*' read them too, and that
    glob, which does not follow links to folders, read none of them, without a word."""
    top, elsewhere = tmp_path / "top", tmp_path / "elsewhere"
    top.mkdir()
    elsewhere.mkdir()
    render_digit(3).save(top / "a.png")
    render_digit(4).save(elsewhere / "b.png")
    (top / "linked").symlink_to(elsewhere)
    (top / "up").symlink_to(tmp_path)  # a link back above: its images are not elsewhere, nothing to say
    assert find_images(top) == [top / "a.png"]
    assert capsys.readouterr().err == (
        f"mnist-rnn: warning: the images in {top / 'linked'} were not read: a link to a folder is not followed "
        f"(--data.predict_path {top / 'linked'} reads them)\n"
    )
    assert find_images(top / "linked") == [top / "linked" / "b.png"]


def test_prepared_images_are_not_saved_among_the_pictures_themselves(tmp_path):
    """--data.save_prepared naming the pictures' own folder overwrote scan.png with its 28x28 image, and the
    next run read the prepared images as pictures too."""
    render_digit(3, canvas=(200, 200), size=160).save(tmp_path / "scan.png")
    render_digit(5, canvas=(200, 200), size=160).save(tmp_path / "photo.jpg")
    before = (tmp_path / "scan.png").read_bytes()
    images = UserImages.load(str(tmp_path))
    with pytest.raises(UserError) as error:
        images.save(tmp_path)
    assert str(error.value) == (
        f"--data.save_prepared {tmp_path}: the folder of 2 of the pictures themselves (photo.jpg, ...); their "
        "prepared images would overwrite or join them: name another folder"
    )
    assert (tmp_path / "scan.png").read_bytes() == before and len(list(tmp_path.iterdir())) == 2
    assert [path.name for path in images.save(tmp_path / "prepared")] == ["photo.png", "scan.png"]


def test_a_picture_is_turned_as_its_exif_orientation_says_and_left_alone_without_one(tmp_path):
    """Pillow's exif_transpose copied every picture without the tag (a 49-megapixel one: 190 MB more)."""
    drawing = render_digit(7, canvas=(120, 80), size=60, ink=0, paper=255)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: shown rotated 90 degrees clockwise
    drawing.save(tmp_path / "sideways.jpg", exif=exif, quality=95)
    drawing.save(tmp_path / "plain.png")
    turned = decode_image(tmp_path / "sideways.jpg")
    assert turned.size == (80, 120) and "orientation" not in turned.info
    expected = np.asarray(drawing.transpose(Image.ROTATE_270))
    assert np.abs(np.asarray(turned.convert("L"), dtype=int) - expected).mean() < 3
    assert np.array_equal(np.asarray(decode_image(tmp_path / "plain.png").convert("L")), np.asarray(drawing))


def test_a_glob_names_a_link_to_a_folder_of_images_that_it_does_not_follow(tmp_path, capsys):
    """'top/**/*.png' with a link in it to a folder of images elsewhere (a photo library, a synced folder): the glob
    does not follow it, and its images were left out without a word, where reading the folder itself named it."""
    top, elsewhere = tmp_path / "top", tmp_path / "elsewhere"
    (top / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    render_digit(3).save(top / "a.png")
    render_digit(4).save(elsewhere / "b.png")
    (top / "sub" / "linked").symlink_to(elsewhere)
    (top / "sub" / "alias").symlink_to(top / "sub")  # to a folder the glob reads anyway: nothing to say
    (top / "up").symlink_to(tmp_path)  # a link back above: its images are not elsewhere, nothing to say
    assert find_images(str(top / "**" / "*.png")) == [top / "a.png"]
    assert capsys.readouterr().err == (
        f"mnist-rnn: warning: the images in {top / 'sub' / 'linked'} were not read: a link to a folder is not "
        f"followed (--data.predict_path {top / 'sub' / 'linked'} reads them)\n"
    )
    render_digit(5).save(top / "c.jpg")
    assert find_images(str(top / "**" / "*.jpg")) == [top / "c.jpg"]
    assert capsys.readouterr().err == ""  # the linked folder holds no JPEG: nothing the glob asked for was left


def test_a_picture_in_a_format_this_installation_cannot_read_says_what_reads_it(tmp_path, monkeypatch, capsys):
    """An iPhone's HEIC photos where pillow-heif is missing (a dependency, left out where it cannot be installed):
    a whole photo was "truncated or damaged HEIC data", and in a folder "not a ... file by the suffix of its name"."""
    render_digit(7, canvas=(120, 90), size=70, ink=0, paper=255).convert("RGB").save(tmp_path / "IMG_0001.HEIC")
    render_digit(3, canvas=(120, 90), size=70, ink=0, paper=255).save(tmp_path / "a.png")
    without_heic = tuple(name for name in FORMATS if name != "HEIF")
    with pytest.raises(NotAnImage) as error:
        decode_image(tmp_path / "IMG_0001.HEIC", formats=without_heic)
    assert error.value.reason == (
        "not a readable image (a HEIC file, and this installation reads no HEIC: pip install pillow-heif)"
    )
    monkeypatch.setattr(user_images, "IMAGE_SUFFIXES", tuple(s for s in user_images.IMAGE_SUFFIXES if "hei" not in s))
    heic = tmp_path / "IMG_0001.HEIC"
    skipped = f"mnist-rnn: warning: skipped {heic}: this installation reads no HEIC: pip install pillow-heif\n"
    assert find_images(tmp_path) == [tmp_path / "a.png"]
    assert capsys.readouterr().err == skipped
    with pytest.raises(UserError, match="no images found"):
        find_images(str(tmp_path / "*.heic"))  # IMG_0001.HEIC, whatever the case: named too
    assert capsys.readouterr().err == skipped


def test_a_glob_in_a_folder_whose_name_has_brackets_reads_that_folder(tmp_path, capsys):
    """'Trip [2024]/*.jpg' (a folder named so by a phone's export or a zip's download): '[2024]' was a class of
    characters to glob, the folders 'Trip 2', 'Trip 0' and 'Trip 4', and the folder itself was "no images found"."""
    trip = tmp_path / "Trip [2024]"
    trip.mkdir()
    render_digit(3).save(trip / "IMG_0001.JPG")
    render_digit(4).save(trip / "IMG_0002.png")
    (trip / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir()
    render_digit(5).save(tmp_path / "elsewhere" / "c.jpg")
    assert find_images(str(trip / "*.jpg")) == [trip / "IMG_0001.JPG"]
    assert find_images(str(trip / "**" / "*.png")) == [trip / "IMG_0002.png"]
    assert capsys.readouterr().err == ""  # the linked folder holds no PNG
    assert find_images(str(trip / "**" / "*.jpg")) == [trip / "IMG_0001.JPG"]
    assert f"the images in {trip / 'linked'} were not read" in capsys.readouterr().err


def test_a_recursive_glob_in_a_mistyped_folder_finds_no_images_and_reads_no_folder(tmp_path, capsys):
    """'Trip 2024/**/*.jpg' where there is no such folder: "skipped the folder Trip 2024: cannot be read (No such
    file or directory)" came before "no images found", as if the folder were there and locked."""
    with pytest.raises(UserError, match="no images found"):
        find_images(str(tmp_path / "Trip 2024" / "**" / "*.jpg"))
    assert capsys.readouterr().err == ""


def bash_words(text: str) -> list[str]:
    """The arguments bash makes of ``text``, a part of a command that a message gives to paste."""
    done = subprocess.run(["bash", "-c", f"printf '%s\\0' {text}"], capture_output=True, check=True)
    return [os.fsdecode(word) for word in done.stdout.split(b"\0")[:-1]]


def test_the_options_the_messages_give_to_paste_reach_the_shell_whole(tmp_path, capsys):
    """A folder named "it's pics" holding only a subfolder of images: the message gave
    ``--data.predict_path 'it's pics/**/*'``, whose quote opened a string when pasted; a link to a folder named
    with a space was put in as it was, two words to the shell."""
    pics = tmp_path / "it's pics"
    (pics / "sub").mkdir(parents=True)
    render_digit(3).save(pics / "sub" / "a.png")
    with pytest.raises(UserError) as error:
        find_images(pics)
    option = re.search(r"subfolders: (--data\.predict_path .+) reads them all$", str(error.value))[1]
    assert bash_words(option) == ["--data.predict_path", str(pics / "**" / "*")]
    assert find_images(bash_words(option)[1]) == [pics / "sub" / "a.png"]
    top, elsewhere = tmp_path / "top", tmp_path / "my photos"
    top.mkdir()
    elsewhere.mkdir()
    render_digit(3).save(top / "a.png")
    render_digit(4).save(elsewhere / "b.png")
    (top / "my photos").symlink_to(elsewhere)
    assert find_images(top) == [top / "a.png"]
    option = re.search(r"\((--data\.predict_path .+) reads them\)$", capsys.readouterr().err)[1]
    assert bash_words(option) == ["--data.predict_path", str(top / "my photos")]


def test_a_file_name_that_is_not_utf8_is_shown_as_its_bytes_on_stderr(tmp_path, capsys):
    """A Latin-1 name (``vidé.png`` from an old USB stick): the warnings and the error line showed it as
    ``vid\\udce9.png``, a name no file has (the CSV and ls show the byte itself); it is ``vid\\xe9.png``, as the
    commands to paste write it."""
    render_digit(3).save(tmp_path / "a.png")
    (tmp_path / os.fsdecode(b"caf\xe9.pdf")).write_bytes(b"%PDF-1.4\n")
    assert find_images(tmp_path) == [tmp_path / "a.png"]
    assert capsys.readouterr().err == (
        f"mnist-rnn: warning: skipped {tmp_path}/caf\\xe9.pdf: not a PNG, JPEG, BMP, GIF, WebP, TIFF, AVIF or HEIC "
        "file, by the suffix of its name\n"
    )


def test_a_file_name_with_a_line_break_is_shown_in_one_line_on_stderr(tmp_path, capsys):
    """notes\\n.txt beside the pictures split the warning that skipped it in two lines, the second beginning
    ".txt: not a PNG"; it is written as bash's $'...' writes it, as is a right-to-left mark (which showed the
    rest of the line backwards)."""
    render_digit(3).save(tmp_path / "a.png")
    (tmp_path / "notes\n.txt").write_text("hi")
    (tmp_path / "scan\u202e.pdf").write_bytes(b"%PDF-1.4\n")
    assert find_images(tmp_path) == [tmp_path / "a.png"]
    assert capsys.readouterr().err == (
        f"mnist-rnn: warning: skipped 2 files, not PNG, JPEG, BMP, GIF, WebP, TIFF, AVIF or HEIC files by the suffix "
        f"of their names: $'{tmp_path}/notes\\x0a.txt', $'{tmp_path}/scan\\xe2\\x80\\xae.pdf'\n"
    )


def test_a_folder_with_a_line_break_in_its_name_is_shown_in_one_line_on_stderr(tmp_path, capsys, monkeypatch):
    """The folder's own name in find_images' other warnings, and the names --data.save_prepared replaced, were
    as they are: a folder "my\\npictures" split "the images in subfolders of ..." (and "skipped the folder ...",
    "the images in LINK were not read") in two lines. Written as bash's $'...' writes them, as the skipped files."""
    folder = tmp_path / "my\npictures"
    (folder / "sub").mkdir(parents=True)
    (folder / "locked\n").mkdir()
    render_digit(3).save(folder / "three.png")
    render_digit(4).save(folder / "sub" / "four.png")
    shown = f"$'{tmp_path}/my\\x0apictures'"
    assert find_images(folder) == [folder / "three.png"]
    every = f"--data.predict_path $'{tmp_path}/my\\x0apictures/**/*'"
    expected = f"mnist-rnn: warning: the images in subfolders of {shown} were not read: {every} reads them too\n"
    assert capsys.readouterr().err == expected

    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path).name == "locked\n":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert find_images(str(folder / "**" / "*.png")) == [folder / "sub" / "four.png", folder / "three.png"]
    assert capsys.readouterr().err == (
        f"mnist-rnn: warning: skipped the folder $'{tmp_path}/my\\x0apictures/locked\\x0a': cannot be read "
        "(Permission denied)\n"
    )

    saved = tmp_path / "saved\n"
    saved.mkdir()
    (saved / "three.png").write_text("mine")
    images = UserImages.load(folder, workers=0)
    capsys.readouterr()
    images.save(saved)
    assert capsys.readouterr().err == (
        f"mnist-rnn: warning: --data.save_prepared $'{tmp_path}/saved\\x0a': replaced 1 file already there: three.png\n"
    )


def test_jpegs_under_their_other_suffixes_are_read_in_a_folder(tmp_path, capsys):
    """A JPEG saved by a browser on Windows is ``.jfif``: read when named, but in a folder skipped as "not a PNG,
    JPEG, ... file, by the suffix of its name" (and a folder of them alone was "no images found")."""
    names = ["a.jfif", "b.JPE", "c.jif", "d.pjpeg", "e.pjp"]
    for digit, name in enumerate(names):
        render_digit(digit + 3).convert("RGB").save(tmp_path / name, format="JPEG")
    assert find_images(tmp_path) == [tmp_path / name for name in names]
    assert find_images(str(tmp_path / "*.jfif")) == [tmp_path / "a.jfif"]
    assert capsys.readouterr().err == ""
    images = UserImages.load(tmp_path, workers=0)
    assert images.failures == [] and len(images) == len(names)
    # docs/predict.md lists every suffix read in a folder
    text = (Path(__file__).parents[1] / "docs" / "predict.md").read_text(encoding="utf-8")
    listed = next(paragraph for paragraph in text.split("\n\n") if paragraph.startswith("`PATH` is"))
    assert [suffix for suffix in user_images.SUFFIX_FORMATS if f"`{suffix}`" not in listed] == []


def test_a_long_preparation_says_how_far_it_got(tmp_path, capsys, monkeypatch):
    """2,000 phone photos were minutes of silence after "preparing 2,000 pictures": a line says how far it got every
    PROGRESS_SECONDS, from one process or from its workers (none at the end: the next line says it is done)."""
    for index in range(8):
        render_digit(index).save(tmp_path / f"{index}.png")
    monkeypatch.setattr(user_images, "PROGRESS_SECONDS", 0)  # a line after each file, or each worker's share
    for workers in (0, 2):
        images = UserImages.load(tmp_path, workers=workers)
        lines = capsys.readouterr().err.splitlines()
        assert len(images) == 8 and len(lines) == 7, lines
        for done, line in enumerate(lines, start=1):
            assert re.fullmatch(rf"mnist-rnn: prepared {done} of 8 pictures \(\d+%\), about \d+ s to go", line), line
