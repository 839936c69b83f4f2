"""Scenes in the layout of DeepMind's files, and encoders of this file's own for them.

Used by tests/test_deepmind.py and tests/test_converted_copies.py. Nothing here comes from the
importers but the descriptions of the files (`groupbench.importers.FILES`): the protobuf wire format
is written by hand, the CRC32C has a pure-Python reference (`crc32c`, checked against the library the
framing uses for speed), EMORL's HDF5 layout is written with plain h5py, PNGs with zlib, and the
expected groupbench arrays are computed here from the scenes (crop and resize with PyTorch).
"""

from __future__ import annotations

import gzip
import struct
import zlib

import google_crc32c
import numpy as np
import torch

# --- protobuf and TFRecord framing ----------------------------------------------------------------


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C in pure Python (the reference; slow)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tag(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def length_delimited(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


def bytes_feature(values: np.ndarray) -> bytes:
    """Feature{bytes_list}: one one-byte string per value (tag 0x0a, length 1, the byte), as DeepMind stores them."""
    flat = np.asarray(values, np.uint8).ravel()
    strings = np.empty((flat.size, 3), np.uint8)
    strings[:, 0], strings[:, 1], strings[:, 2] = 0x0A, 0x01, flat
    return length_delimited(1, strings.tobytes())


def float_feature(values, packed: bool = True) -> bytes:
    values = np.asarray(values, np.float32).ravel().tolist()
    if packed:
        body = length_delimited(1, struct.pack(f"<{len(values)}f", *values))
    else:
        body = b"".join(tag(1, 5) + struct.pack("<f", v) for v in values)
    return length_delimited(2, body)


def int64_feature(values) -> bytes:
    body = b"".join(tag(1, 0) + varint(v & 0xFFFFFFFFFFFFFFFF) for v in values)
    return length_delimited(3, body)


def example(features: dict[str, bytes]) -> bytes:
    entries = b"".join(
        length_delimited(1, length_delimited(1, key.encode()) + length_delimited(2, value)) for key, value in features.items()
    )
    return length_delimited(1, entries)


def frame(payload: bytes) -> bytes:
    """One TFRecord record; the CRCs by google_crc32c (checked against `crc32c` in the tests) for speed."""
    header = struct.pack("<Q", len(payload))
    crc = google_crc32c.value
    return header + struct.pack("<I", masked(crc(header))) + payload + struct.pack("<I", masked(crc(payload)))


def write_tfrecord(path, payloads, compress: bool = True):
    data = b"".join(frame(p) for p in payloads)
    path.write_bytes(gzip.compress(data, 1) if compress else data)
    return path


# --- scenes ---------------------------------------------------------------------------------------


def make_scenes(f, n: int, seed: int, *, background: int = 1, objects=None, outside: int | None = None) -> dict[str, np.ndarray]:
    """n random scenes in the layout of official file ``f``.

    The background entities tile the image (one each: Objects Room's sky, floor, walls); objects are
    rectangles drawn in entity order (later on top). ``objects[i]`` objects in scene i (default
    random). Scene 0 has a fully occluded object (visible, empty mask), scene 1 an unused entity
    before a used one; the others have their unused entities at the end. Scene ``outside`` has its
    first object at rows 0-9, columns 0-19 (outside CLEVR's crop). Factors: random floats,
    codes 1..8 for present entities, all zero for unused ones.
    """
    rng = np.random.default_rng(seed)
    h, w, c = f.image
    e = f.entities
    slots = e - background
    owner = np.zeros((n, h, w), np.int64)
    for k in range(background):  # vertical bands
        owner[:, :, k * w // background : (k + 1) * w // background] = k
    visibility = np.zeros((n, e), np.float32)
    visibility[:, :background] = 1
    floats = {x.name: np.zeros((n, e, x.width) if x.width > 1 else (n, e), np.float32) for x in f.factors if x.kind == "float"}
    codes = {x.name: np.zeros((n, e), np.uint8) for x in f.factors if x.kind == "code"}
    for i in range(n):
        count = int(objects[i]) if objects is not None else int(rng.integers(1, slots + 1)) if slots else 0
        if i == 0 and objects is None:
            present = list(range(background, background + min(slots, 2)))
        elif i == 1 and objects is None and slots > 1:
            present = list(range(background + 1, e))
        else:
            present = list(range(background, background + count))
        for k in present:
            top, left = rng.integers(0, h - 4), rng.integers(0, w - 4)
            bottom, right = top + rng.integers(3, min(h - top, h // 2) + 1), left + rng.integers(3, min(w - left, w // 2) + 1)
            if i == outside and k == present[0]:
                top, left, bottom, right = 0, 0, 10, 20
            owner[i, top:bottom, left:right] = k
            visibility[i, k] = 1
            for array in floats.values():
                if array is not floats.get("visibility"):
                    array[i, k] = rng.random(array.shape[2:], dtype=np.float32) * 20
            for array in codes.values():
                array[i, k] = rng.integers(1, 9)
        if i == 0 and len(present) > 1:  # the last object covers the first one entirely
            owner[i][owner[i] == present[0]] = present[-1]
    if "visibility" in floats:
        floats["visibility"] = visibility
    colors = rng.integers(0, 256, (n, e, c), dtype=np.uint8)
    images = np.take_along_axis(colors[:, None, None], owner[..., None, None], axis=3)[..., 0, :]
    masks = (owner[:, None] == np.arange(e)[None, :, None, None]).astype(np.uint8) * 255
    return {"image": images, "mask": masks, "visibility": visibility, **floats, **codes}


def encode_scenes(f, scenes, packed: bool = True, extra: bool = False, shuffled=(5, 9)) -> list[bytes]:
    """One serialized Example per scene, in the official files' layout.

    The features come in one order, except in the records ``shuffled`` (protobuf gives map entries
    no order), so that the importer meets a change of structure within a file.
    """
    payloads = []
    rng = np.random.default_rng(1)
    for i in range(len(scenes["image"])):
        mask = scenes["mask"][i]
        if f.pixel_major_mask:
            mask = mask.transpose(1, 2, 0)  # (H, W, E) as DeepMind stores multi-dSprites masks
        features = {"image": bytes_feature(scenes["image"][i]), "mask": bytes_feature(mask)}
        for x in f.factors:
            features[x.name] = float_feature(scenes[x.name][i], packed=packed) if x.kind == "float" else bytes_feature(scenes[x.name][i])
        if extra:
            features["count"] = int64_feature([i, -1])
        keys = list(features)
        if i in shuffled:
            rng.shuffle(keys)
        payloads.append(example({k: features[k] for k in keys}))
    return payloads


def scene_counts(scenes, background: int = 1) -> np.ndarray:
    """1 + the last object entity that is visible or has a non-empty mask, per scene."""
    present = (scenes["visibility"][:, background:] > 0) | scenes["mask"][:, background:].any(axis=(2, 3))
    return np.array([1 + np.flatnonzero(p).max() if p.any() else 0 for p in present])


def expected_arrays(d, scenes, *, factors: bool = True) -> dict[str, np.ndarray]:
    """The groupbench arrays an import of ``scenes`` into id ``d`` must hold, computed independently."""
    images, masks = scenes["image"], scenes["mask"] > 0
    if d.crop is not None:
        c = d.crop
        window = (slice(c.top, c.top + c.height), slice(c.left, c.left + c.width))
        t = torch.from_numpy(images[:, window[0], window[1]]).permute(0, 3, 1, 2).double()
        resized = torch.nn.functional.interpolate(t, size=c.size, mode="bilinear", align_corners=False)
        images = torch.floor(resized + 0.5).permute(0, 2, 3, 1).numpy().astype(np.uint8)
        m = torch.from_numpy(masks[:, :, window[0], window[1]].astype(np.float64))
        masks = torch.nn.functional.interpolate(m, size=c.size, mode="nearest-exact").numpy() > 0
    b, o = d.background, d.max_objects
    objects = masks[:, b : b + o]
    if objects.shape[1] < o:
        objects = np.concatenate([objects, np.zeros((len(objects), o - objects.shape[1], *objects.shape[2:]), bool)], 1)
    present = objects.any(axis=(2, 3))
    if factors and d.factor_names:
        present |= scenes["visibility"][:, b : b + o] > 0
    num = np.array([1 + np.flatnonzero(p).max() if p.any() else 0 for p in present])
    labels = np.zeros(objects.shape[:1] + objects.shape[2:], np.uint8)
    for slot in range(o):
        labels[objects[:, slot]] = slot + 1
    out = {
        "images": images,
        "labels": labels,
        "overlap": objects.sum(axis=1) >= 2,
        "masks": objects,
        "num_objects": num,
    }
    if factors:
        out.update({f"factors/{name}": scenes[name][:, b : b + o] for name in d.factor_names})
    return out


# --- converted copies -----------------------------------------------------------------------------


def png(array: np.ndarray) -> bytes:
    """A PNG of an (H, W) or (H, W, 3) uint8 array (8-bit grey or RGB, no filtering), written by hand."""
    array = np.ascontiguousarray(array, np.uint8)
    h, w = array.shape[:2]
    colour = 2 if array.ndim == 3 else 0
    rows = np.concatenate([np.zeros((h, 1), np.uint8), array.reshape(h, -1)], axis=1)  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes())) + chunk(b"IEND", b"")


def write_emorl(path, groups: dict[str, dict[str, np.ndarray]]) -> None:
    """An HDF5 file in EMORL's layout: group -> imgs (N,H,W,C) uint8, masks (N,E,H,W,1) uint8, factors (optional)."""
    import h5py

    with h5py.File(path, "w") as f:
        for name, arrays in groups.items():
            group = f.create_group(name)
            for key, value in arrays.items():
                group.create_dataset(key, data=value, compression="gzip", compression_opts=1)


def emorl_clevr_factors(scenes) -> np.ndarray:
    """(N, E, 9) float32 in EMORL's CLEVR column order."""
    columns = ("x", "y", "z", "rotation", "size", "material", "shape", "color", "visibility")
    return np.stack([scenes[c].astype(np.float32) for c in columns], axis=-1)
