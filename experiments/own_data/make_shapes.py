"""A small labelled image set in the `data=images` .npz format, to try README "Your own data" without your own:
`python experiments/own_data/make_shapes.py shapes.npz`.

28x28 RGB images of four shapes (the classes, captions "a photo of a <shape>") drawn in two visual domains
(a white outline on black; a filled navy shape on sand), at random positions and sizes, seeded. RGB at 28x28, so
experts can start from the shipped pretrained base (init=base), as the papers start from one checkpoint.
"""

from __future__ import annotations

import argparse

import numpy as np

CLASS_NAMES = ["square", "circle", "triangle", "cross"]
SIZE = 28


def shape_mask(shape: int, cy: float, cx: float, r: float) -> np.ndarray:
    y, x = np.mgrid[:SIZE, :SIZE].astype(np.float32) + 0.5
    dy, dx = y - cy, x - cx
    if shape == 0:
        return np.maximum(abs(dy), abs(dx)) <= r
    if shape == 1:
        return dy**2 + dx**2 <= r**2
    if shape == 2:
        return (dy <= r * 0.8) & (dy >= -r) & (abs(dx) <= (dy + r) * 0.6)
    return ((abs(dy) <= r) & (abs(dx) <= r / 3)) | ((abs(dx) <= r) & (abs(dy) <= r / 3))


def outline(mask: np.ndarray) -> np.ndarray:
    inner = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    edge = mask.copy()
    edge[1:-1, 1:-1] &= ~inner
    return edge


def make_shapes(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(len(CLASS_NAMES), size=n)
    domains = rng.integers(2, size=n)
    images = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    for i, (label, domain) in enumerate(zip(labels, domains)):
        r = rng.uniform(6, 10)
        cy, cx = rng.uniform(r + 1, SIZE - r - 1, size=2)
        mask = shape_mask(int(label), cy, cx, r)
        if domain == 0:
            ink, paper, drawn = (255, 255, 255), (0, 0, 0), outline(mask)
        else:
            ink, paper, drawn = (20, 30, 90), (200, 170, 120), mask
        image = np.where(drawn[..., None], np.array(ink), np.array(paper))
        noise = rng.normal(0, 10, size=(SIZE, SIZE, 1))
        images[i] = np.clip(image + noise, 0, 255).astype(np.uint8)
    return {"images": images, "labels": labels.astype(np.int64), "class_names": np.array(CLASS_NAMES)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the .npz file to write")
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    np.savez_compressed(args.out, **make_shapes(args.n, args.seed))
    print(f"{args.out}: {args.n} images of {', '.join(CLASS_NAMES)} in two domains")


if __name__ == "__main__":
    main()
