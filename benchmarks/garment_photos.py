"""How well does a Fashion-MNIST checkpoint read garments in the pictures users send, prepared as digits or
as Fashion-MNIST made its images; and, with ``--old``, as another version prepares them?

Kinds of picture, made here from the first ``--count`` Fashion-MNIST test images (``--kinds`` picks some):

- ``fmnist_png``: the 28x28 image as a PNG.
- ``product_photo``: the garment turned back into a dark garment on a light backdrop (white to light grey),
  enlarged to 200-600 pixels with a margin of 5-30% each side, sensor noise, saved as a JPEG.
- ``phone_photo``: for the first ``--phone-count``, such a photo as a phone takes it (4000 pixels on its
  longer side, 11-16 megapixels).
- ``dark_on_grey``: a dark garment (black, navy, dark brown: 10-60 of 255) on what users lay it on: a grey
  floor, concrete (faintly mottled), a grey wall (90-200); the garment as large and framed as a product photo.
- ``light_on_grey``: a light garment (190-250) on a dark sofa, a grey floor or wall (30-170).
- ``on_colour``: a coloured garment on a coloured surface (a bedspread, a rug, a table: 50-170), either one
  the lighter, at least 60 levels apart in gray.
- ``uneven_light``: a garment of any of these kinds (or a product photo's), the light falling off by 5-15%
  across the picture in some direction.
- ``blank_backdrop``: the backdrops of the kinds above with nothing on them, half in uneven light: counted
  as right when called blank.

In every kind the garment is the Fashion-MNIST image itself (its level: how much of the garment's colour a
pixel has over the backdrop's). Each picture is prepared by the digit search (:func:`mnist_rnn.preparation.
prepare`) here, and by Fashion-MNIST's own steps (:func:`mnist_rnn.garments.prepare_garment`) in each
version's own subprocess; the checkpoint's network reads them all here, the test tensors themselves give the
reference. It prints how many each preparation gets right, how many pictures with a garment it calls blank,
and its time per picture (decoded already).

    python -m benchmarks.garment_photos --ckpt-path FASHION_CKPT --data-dir ../shared/fashion-mnist [--count 1000]
        [--old ../base]
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from benchmarks.options import checkout, data_folder, existing_file
from benchmarks.own_digits import sensor_noise, to_image
from benchmarks.prepare_speed import HERE, run
from mnist_rnn.data import MNISTDataModule
from mnist_rnn.inference import ProbabilityModel, load_network
from mnist_rnn.preparation import prepare
from mnist_rnn.user_images import decode_image

KINDS = (
    "fmnist_png",
    "product_photo",
    "phone_photo",
    "dark_on_grey",
    "light_on_grey",
    "on_colour",
    "uneven_light",
    "blank_backdrop",
)

# Run in each version's interpreter: decode every picture of each kind, prepare them all (timed), and save the
# 28x28 images, the blank flags and the seconds per picture.
WORKER = """
import json, sys, time
from pathlib import Path
import numpy as np
from mnist_rnn.garments import prepare_garment
from mnist_rnn.user_images import decode_image
root, number = Path(sys.argv[1]), sys.argv[2]
timings = {}
for folder in sorted(path for path in root.iterdir() if path.is_dir()):
    images = [decode_image(path) for path in sorted(folder.iterdir())]
    start = time.perf_counter()
    prepared = [prepare_garment(image) for image in images]
    timings[folder.name] = (time.perf_counter() - start) / len(images)
    np.save(root / f"{folder.name}.{number}.npy", np.stack([p.pixels.numpy() for p in prepared]))
    np.save(root / f"{folder.name}.{number}.blank.npy", np.array([p.blank for p in prepared]))
print(json.dumps(timings))
"""


def product_photo(garment: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A Fashion-MNIST image as the product photo it came from: a dark garment on a light backdrop."""
    backdrop = rng.uniform(200, 255)
    side = int(rng.uniform(200, 600))
    large = np.asarray(Image.fromarray(garment).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32)
    photo_side = [int(side * (1 + rng.uniform(0.1, 0.6))) for _ in range(2)]
    picture = np.full(photo_side[::-1], 255.0, dtype=np.float32)
    top, left = (int(rng.uniform(0, size - side)) for size in photo_side[::-1])
    picture[top : top + side, left : left + side] = 255 - np.clip(large, 0, 255)
    picture *= backdrop / 255  # the backdrop's shade, and the light on the garment with it
    rgb = np.repeat(picture[..., None], 3, axis=2)
    return to_image(sensor_noise(rgb, rng, rng.uniform(1, 3)))


def phone_photo(garment: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """The product photo as a phone takes it: enlarged to 4000 pixels on its longer side (11-16 megapixels)."""
    photo = product_photo(garment, rng)
    scale = 4000 / max(photo.size)
    return photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BILINEAR)


def gray_of(rgb: np.ndarray) -> float:
    """The gray level Pillow's ``convert("L")`` gives a colour (ITU-R 601-2 luma)."""
    return float(np.dot(rgb, [0.299, 0.587, 0.114]))


def tinted(level: float, rng: np.random.Generator, spread: float) -> np.ndarray:
    """A colour near gray ``level``: each channel off by up to ``spread``, then moved back to ``level``'s luma."""
    rgb = level + rng.uniform(-spread, spread, 3)
    return np.clip(rgb + level - gray_of(rgb), 0, 255)


def coloured(low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    """A saturated colour (a random hue) whose gray level lies between ``low`` and ``high``."""
    while True:
        hue = Image.new("HSV", (1, 1), (int(rng.uniform(0, 256)), int(rng.uniform(120, 230)), 255)).convert("RGB")
        rgb = np.array(hue.getpixel((0, 0)), dtype=np.float32)
        rgb = np.clip(rgb * rng.uniform(low, high) / max(gray_of(rgb), 1), 0, 255)
        if low <= gray_of(rgb) <= high:
            return rgb


def backdrop_and_garment(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """The backdrop's colour, the garment's, and how mottled the backdrop is (of its level), for ``kind``."""
    if kind == "dark_on_grey":
        surface = rng.choice(["floor", "concrete", "wall"])
        level = {"floor": (90, 150), "concrete": (110, 170), "wall": (140, 200)}[surface]
        mottle = rng.uniform(0.01, 0.03) if surface == "concrete" else 0.0
        return tinted(rng.uniform(*level), rng, 8), tinted(rng.uniform(10, 60), rng, 20), mottle
    if kind == "light_on_grey":
        surface = rng.choice(["sofa", "floor", "wall"])
        level = {"sofa": (30, 90), "floor": (90, 150), "wall": (140, 170)}[surface]
        return tinted(rng.uniform(*level), rng, 10), tinted(rng.uniform(190, 250), rng, 6), 0.0
    if kind == "on_colour":
        surface = coloured(50, 170, rng)
        level = gray_of(surface)
        lighter = rng.random() < 0.5 and level < 180
        garment = coloured(level + 60, 245, rng) if lighter or level < 70 else coloured(5, level - 60, rng)
        return surface, garment, rng.uniform(0.0, 0.02)
    if kind == "product":
        return tinted(rng.uniform(200, 255), rng, 3), tinted(rng.uniform(5, 40), rng, 10), 0.0
    raise ValueError(kind)


def lit_unevenly(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``rgb`` with the light falling off by 5-15% across it, in a random direction."""
    height, width = rgb.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle, fall = rng.uniform(0, 2 * np.pi), rng.uniform(0.05, 0.15)
    along = np.cos(angle) * (x / width - 0.5) + np.sin(angle) * (y / height - 0.5)  # -0.71 to 0.71
    light = 1 - fall * (along - along.min()) / max(float(np.ptp(along)), 1e-6)
    return rgb * light[..., None]


def home_photo(garment: np.ndarray | None, kind: str, rng: np.random.Generator, uneven: bool = False) -> Image.Image:
    """A garment (a Fashion-MNIST image, 28x28; None: the backdrop alone) photographed at home, as ``kind``
    says (see :func:`backdrop_and_garment`): 200-600 pixels, a margin of 5-30% each side, sensor noise."""
    surface, colour, mottle = backdrop_and_garment(kind, rng)
    side = int(rng.uniform(200, 600))
    height, width = (int(side * (1 + rng.uniform(0.1, 0.6))) for _ in range(2))
    level = np.zeros((height, width, 1), dtype=np.float32)
    if garment is not None:
        large = np.asarray(Image.fromarray(garment).resize((side, side), Image.Resampling.BICUBIC), np.float32)
        top, left = int(rng.uniform(0, height - side)), int(rng.uniform(0, width - side))
        level[top : top + side, left : left + side, 0] = np.clip(large, 0, 255) / 255
    ground = np.ones((height, width, 1), dtype=np.float32)
    if mottle:  # concrete, a rug's weave: blotches a few percent of the picture across
        blotches = ndimage.gaussian_filter(rng.normal(0, 1, (height, width)), max(height, width) / 60)
        ground += (mottle * blotches / max(float(blotches.std()), 1e-6))[..., None]
    rgb = surface * ground * (1 - level) + colour * level
    if uneven:
        rgb = lit_unevenly(rgb, rng)
    return to_image(sensor_noise(rgb, rng, rng.uniform(1, 3)))


def uneven_photo(garment: np.ndarray | None, rng: np.random.Generator) -> Image.Image:
    """A garment of one of the kinds (or a product photo's) in uneven light."""
    kind = str(rng.choice(["dark_on_grey", "light_on_grey", "on_colour", "product"]))
    return home_photo(garment, kind, rng, uneven=True)


def blank_backdrop(rng: np.random.Generator) -> Image.Image:
    """One of the backdrops with nothing on it, half the time in uneven light."""
    kind = str(rng.choice(["dark_on_grey", "light_on_grey", "on_colour", "product"]))
    return home_photo(None, kind, rng, uneven=bool(rng.random() < 0.5))


def as_file(image: Image.Image, format: str, **options) -> bytes:
    """The picture as a user's file gives it: encoded (predict and serve decode it)."""
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def jpeg_quality(rng: np.random.Generator) -> int:
    return int(rng.uniform(80, 95))


def make_pictures(garments: np.ndarray, phone_count: int, seed: int, kinds: tuple[str, ...]) -> dict[str, list]:
    """Each kind's pictures, as the bytes of their files. ``product_photo`` and ``phone_photo`` are drawn from
    one generator, as before the other kinds were added (the same seed gives the same pictures); each other
    kind from its own."""
    rng = np.random.default_rng(seed)
    made = {
        "fmnist_png": [as_file(Image.fromarray(garment), "PNG") for garment in garments],
        "product_photo": [as_file(product_photo(g, rng), "JPEG", quality=jpeg_quality(rng)) for g in garments],
        "phone_photo": [as_file(phone_photo(g, rng), "JPEG", quality=90) for g in garments[:phone_count]],
    }
    for number, kind in enumerate(("dark_on_grey", "light_on_grey", "on_colour", "uneven_light"), start=1):
        if kind in kinds:
            rng = np.random.default_rng([seed, number])
            made[kind] = [
                as_file(
                    uneven_photo(g, rng) if kind == "uneven_light" else home_photo(g, kind, rng),
                    "JPEG",
                    quality=jpeg_quality(rng),
                )
                for g in garments
            ]
    if "blank_backdrop" in kinds:
        rng = np.random.default_rng([seed, 9])
        made["blank_backdrop"] = [as_file(blank_backdrop(rng), "JPEG", quality=jpeg_quality(rng)) for _ in garments]
    return {kind: pictures for kind, pictures in made.items() if kind in kinds and pictures}


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt-path", type=existing_file, required=True, help="a checkpoint trained on Fashion-MNIST")
    parser.add_argument(
        "--data-dir", type=data_folder("fashion_mnist"), required=True, help="folder holding FashionMNIST/raw/"
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument(
        "--phone-count", type=int, default=20, help="of them also as phone photos (4000 pixels on the longer side)"
    )
    parser.add_argument("--old", type=checkout, help="a checkout of the version to compare with")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=KINDS, help="the kinds to make and measure (all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.count < 1 or args.phone_count < 0:
        parser.error("--count must be 1 or more and --phone-count 0 or more")
    versions = {"this version": HERE, **({str(args.old): args.old} if args.old else {})}
    model = ProbabilityModel(load_network(str(args.ckpt_path)))
    data = MNISTDataModule(data_dir=args.data_dir, dataset="fashion_mnist")
    data.setup("test")
    garments = data.test_set.images[: args.count, 0].numpy()
    labels = data.test_set.labels[: args.count]
    pictures = make_pictures(garments, args.phone_count, args.seed, tuple(args.kinds))

    def answers(images: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            outputs = model(images)
        return (outputs[0] if isinstance(outputs, tuple) else outputs).argmax(1)

    def right(kind: str, images: torch.Tensor, blank: np.ndarray) -> float:
        """Read right; for a blank backdrop, called blank."""
        if kind == "blank_backdrop":
            return float(blank.mean())
        return float((answers(images) == labels[: len(images)]).float().mean())

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for kind, files in pictures.items():
            (root / kind).mkdir()
            for index, data in enumerate(files):
                (root / kind / f"{index:05d}.{'png' if kind == 'fmnist_png' else 'jpg'}").write_bytes(data)
        for kind, files in pictures.items():  # the digit search, here
            prepared = [prepare(decode_image(data)) for data in files]
            blank = np.array([p.blank for p in prepared])
            rows[kind] = [len(files), right(kind, torch.stack([p.pixels for p in prepared]), blank)]
        for number, folder in enumerate(versions.values()):
            timings = json.loads(run(folder, ["-c", WORKER, str(root), str(number)], root).stdout)
            for kind in pictures:
                images = torch.from_numpy(np.load(root / f"{kind}.{number}.npy"))
                blank = np.load(root / f"{kind}.{number}.blank.npy")
                rows[kind] += [right(kind, images, blank), int(blank.sum()), timings[kind] * 1000]

    reference = float((answers(torch.from_numpy(garments[:, None])) == labels).float().mean())
    print(f"the first {args.count} Fashion-MNIST test images: the test tensors read right {reference:.1%}")
    print("read right (blank_backdrop: called blank); pictures called blank; ms per picture to prepare as garments")
    print("(decoded already); the digit search is this version's:")
    columns = " | ".join(f"as garments, {name} | blank | ms" for name in versions)
    print(f"| pictures | count | as digits | {columns} |")
    print(f"|---|---|---|{'---|---|---|' * len(versions)}")
    for kind, (count, digits, *measured) in rows.items():
        cells = [f"{measured[i]:.1%} | {measured[i + 1]} | {measured[i + 2]:.1f}" for i in range(0, len(measured), 3)]
        print(f"| {kind} | {count} | {digits:.1%} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main_cli()
