"""How well does a Fashion-MNIST checkpoint read garments in the pictures users send, prepared as digits or
as Fashion-MNIST made its images?

Three kinds of picture, made here from the first ``--count`` Fashion-MNIST test images: the 28x28 image as a
PNG (``fmnist_png``); a product photo (``product_photo``): the garment turned back into a dark garment on a
light backdrop (white to light grey), enlarged to 200-600 pixels with a margin of 5-30% each side, sensor
noise, saved as a JPEG; and, for the first ``--phone-count``, such a photo as a phone takes it
(``phone_photo``, 4000 pixels on its longer side, 11-16 megapixels). Each is prepared by the digit search
(:func:`mnist_rnn.preparation.prepare`, what ``predict`` and ``serve`` did with every checkpoint) and by
Fashion-MNIST's own steps (:func:`mnist_rnn.garments.prepare_garment`, what they do now with a Fashion-MNIST
checkpoint), and read by the checkpoint's network; the test tensors themselves give the reference. It prints
how many each preparation gets right, and its time per picture, the two timed one after the other in one run.

    python -m benchmarks.garment_photos --ckpt-path FASHION_CKPT --data-dir ../shared/fashion-mnist [--count 1000]
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch
from PIL import Image

from benchmarks.options import data_folder
from benchmarks.own_digits import sensor_noise, to_image
from mnist_rnn.data import MNISTDataModule
from mnist_rnn.garments import prepare_garment
from mnist_rnn.inference import ProbabilityModel, load_network
from mnist_rnn.preparation import prepare
from mnist_rnn.user_images import decode_image


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


def as_file(image: Image.Image, format: str, **options) -> Image.Image:
    """The picture as a user's file gives it: encoded, then decoded as predict and serve decode it."""
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return decode_image(buffer.getvalue())


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt-path", required=True, help="a checkpoint trained on Fashion-MNIST")
    parser.add_argument(
        "--data-dir", type=data_folder("fashion_mnist"), required=True, help="folder holding FashionMNIST/raw/"
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument(
        "--phone-count", type=int, default=20, help="of them also as phone photos (4000 pixels on the longer side)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.count < 1 or args.phone_count < 0:
        parser.error("--count must be 1 or more and --phone-count 0 or more")
    model = ProbabilityModel(load_network(args.ckpt_path))
    data = MNISTDataModule(data_dir=args.data_dir, dataset="fashion_mnist")
    data.setup("test")
    garments = data.test_set.images[: args.count, 0].numpy()
    labels = data.test_set.labels[: args.count]
    rng = np.random.default_rng(args.seed)
    pictures = {
        "fmnist_png": [as_file(Image.fromarray(garment), "PNG") for garment in garments],
        "product_photo": [as_file(product_photo(g, rng), "JPEG", quality=int(rng.uniform(80, 95))) for g in garments],
        "phone_photo": [as_file(phone_photo(g, rng), "JPEG", quality=90) for g in garments[: args.phone_count]],
    }

    def accuracy(images: torch.Tensor) -> float:
        with torch.inference_mode():
            outputs = model(images)
        answers = (outputs[0] if isinstance(outputs, tuple) else outputs).argmax(1)
        return float((answers == labels[: len(images)]).float().mean())

    reference = accuracy(torch.from_numpy(garments[:, None]))
    print(f"the first {args.count} Fashion-MNIST test images: the test tensors read right {reference:.1%}")
    print("read right, and ms per picture to prepare (decoded already; the two preparations one after the other):")
    print("| pictures | count | as digits (before) | as Fashion-MNIST's (now) | ms, as digits | ms, as garments |")
    print("|---|---|---|---|---|---|")
    for kind, images in pictures.items():
        if not images:  # --phone-count 0
            continue
        results = []
        for preparation in (prepare, prepare_garment):
            start = time.perf_counter()
            prepared = torch.stack([preparation(image).pixels for image in images])
            results.append((accuracy(prepared), (time.perf_counter() - start) / len(images) * 1000))
        (before, before_ms), (now, now_ms) = results
        print(f"| {kind} | {len(images)} | {before:.1%} | {now:.1%} | {before_ms:.1f} | {now_ms:.1f} |")


if __name__ == "__main__":
    main_cli()
