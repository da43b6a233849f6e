"""How sure is a checkpoint of digits (or garments) shrunk to a few pixels, and how often is it right?

The first ``--count`` test images of the checkpoint's data set (MNIST's digits, Fashion-MNIST's garments) are
cut to their ink's box, shrunk (Lanczos, as an image editor or a thumbnail makes them) so that their longer
side is each of ``--sizes`` pixels, and pasted on white paper with a 2-pixel margin: dark on light, as a user's
icon, thumbnail or product photo is. Each is prepared as ``predict`` prepares it for that data set and read by
the checkpoint; printed per size: the accuracy, the mean calibrated top probability, and how many the
preparation flagged ``small``. Where the mean probability is well above the accuracy, the answers claim more
than they are worth: that is what :func:`mnist_rnn.user_images.small_size` flags.

    python -m benchmarks.small_digits --ckpt-path CKPT --data-dir /path/to/mnist [--count 600] [--sizes 5,8,10]
    python -m benchmarks.small_digits --ckpt-path FASHION_CKPT --data-dir /path/to/fashion-mnist
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

from benchmarks.options import data_folder, existing_file

SIZES = "4,5,6,7,8,9,10,11,12,14,20,28"


def thumbnail(digit: np.ndarray, side: int) -> Image.Image:
    """An MNIST digit or a Fashion-MNIST garment (light on black, 28x28) as dark on white, its longer side ``side``
    pixels."""
    rows, columns = np.nonzero(digit)
    ink = Image.fromarray(255 - digit[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1])
    scale = side / max(ink.size)
    shrunk = ink.resize((max(1, round(ink.width * scale)), max(1, round(ink.height * scale))), Image.LANCZOS)
    paper = Image.new("L", (shrunk.width + 4, shrunk.height + 4), 255)
    paper.paste(shrunk, (2, 2))
    return paper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt-path", type=existing_file, required=True)
    parser.add_argument("--data-dir", required=True, help="the folder holding the checkpoint's data set")
    parser.add_argument("--count", type=int, default=600, help="test images per size (600)")
    parser.add_argument("--sizes", default=SIZES, help=f"the images' longer sides, in pixels ({SIZES})")
    args = parser.parse_args()
    from mnist_rnn.data import DATASETS
    from mnist_rnn.model import RNNClassifier
    from mnist_rnn.user_images import preparation_for, small_size

    model = RNNClassifier.load_from_checkpoint(args.ckpt_path, map_location="cpu")
    dataset = model.hparams.get("dataset") or "mnist"
    try:
        data_dir = data_folder(dataset)(args.data_dir)
    except argparse.ArgumentTypeError as error:
        parser.error(f"argument --data-dir: {error}")
    test_set = DATASETS[dataset].torchvision_class(data_dir, train=False, download=False)
    images, labels = test_set.data[: args.count].numpy(), test_set.targets[: args.count]
    network, prepare = model.network.eval(), preparation_for(dataset)
    print(f"{len(images)} {dataset} test images per size, shrunk and dark on white; {args.ckpt_path.name}")
    print(f"| longer side (px) | accuracy | mean top probability | flagged small (< {small_size(dataset)} px) |")
    print("|---|---|---|---|")
    for side in (int(size) for size in args.sizes.split(",")):
        prepared = [prepare(thumbnail(image, side)) for image in images]
        with torch.no_grad():
            probabilities = network.probabilities(torch.stack([p.pixels for p in prepared]))
        top, answers = probabilities.max(dim=1)
        accuracy = (answers == labels).float().mean()
        small = sum(p.small for p in prepared)
        print(f"| {side} | {accuracy:.1%} | {top.mean():.1%} | {small} of {len(prepared)} |")


if __name__ == "__main__":
    main()
