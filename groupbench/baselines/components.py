"""Connected components: a training-free reference point for every dataset.

Each 4-connected region of pixels that share the same colour support (the set of channels that
are non-zero; all-zero pixels are background) is one group. On binary images this is plain
foreground connected components: it is perfect while objects stay apart and merges objects that
touch or overlap, so it measures how much of a dataset's difficulty is separation by occlusion
and contact. Deterministic, no parameters, no seed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def connected_components(images: np.ndarray) -> np.ndarray:
    """images (N,H,W,C) or (N,T,H,W,C) uint8 -> labels (N,H,W) / (N,T,H,W) int32, 0 = background.

    Sequences are labelled frame by frame (ids are not matched across frames).
    """
    frames = images.reshape(-1, *images.shape[-3:])
    support = np.zeros(frames.shape[:3], np.int32)
    for channel in range(frames.shape[-1]):
        support |= (frames[..., channel] > 0).astype(np.int32) << channel
    cross = np.zeros((3, 3, 3), bool)
    cross[1] = ndimage.generate_binary_structure(2, 1)  # 4-connected within a frame, never across frames
    labels = np.zeros(support.shape, np.int32)
    offset = 0
    for key in np.unique(support[support > 0]):
        components, count = ndimage.label(support == key, structure=cross)
        labels[components > 0] = components[components > 0] + offset
        offset += count
    return labels.reshape(images.shape[:-1])
