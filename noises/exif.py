"""EXIF orientation: the rotation or mirror a camera records instead of turning the pixels.

Pillow's `Image.open` and torchvision's ImageFolder give the pixels as stored; OpenCV's default
`imread`/`imdecode` flag (`IMREAD_COLOR`) turns them as the orientation tag (0x0112) says. A model
trained on one and deployed on the other sees some photos rotated by 90 or 180 degrees. The
pipeline's `exif` field chooses: "ignore" or "apply" (every decoder, then this transform).
"""

from __future__ import annotations

from io import BytesIO

import numpy as np

ORIENTATION_TAG = 0x0112

# EXIF orientation value -> (transpose, then flip rows, then flip columns) that shows the image
# upright. 1 is upright; 2-8 per the EXIF 2.32 specification, table 6.
_TRANSFORMS: dict[int, tuple[bool, bool, bool]] = {
    1: (False, False, False),
    2: (False, False, True),  # mirrored left-right
    3: (False, True, True),  # rotated 180
    4: (False, True, False),  # mirrored top-bottom
    5: (True, False, False),  # mirrored along the main diagonal
    6: (True, False, True),  # stored rotated 90 counter-clockwise: turn 90 clockwise
    7: (True, True, True),  # mirrored along the anti-diagonal
    8: (True, True, False),  # stored rotated 90 clockwise: turn 90 counter-clockwise
}


def exif_orientation(data: bytes) -> int:
    """The file's EXIF orientation (1-8), 1 when it has none or an invalid one."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(BytesIO(data)) as image:
            value = image.getexif().get(ORIENTATION_TAG, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return 1  # no readable EXIF: nothing to apply; the decoder reports a bad file itself
    return value if isinstance(value, int) and value in _TRANSFORMS else 1


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """`image` (HxWxC) turned upright as EXIF `orientation` says; unknown values leave it."""
    transpose, flip_rows, flip_columns = _TRANSFORMS.get(orientation, (False, False, False))
    if transpose:
        image = image.transpose(1, 0, 2)
    if flip_rows:
        image = image[::-1]
    if flip_columns:
        image = image[:, ::-1]
    return np.ascontiguousarray(image)


def orient(data: bytes, image: np.ndarray) -> np.ndarray:
    """Decoded pixels of `data` with the file's EXIF orientation applied."""
    return apply_orientation(image, exif_orientation(data))
