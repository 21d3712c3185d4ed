"""Pictures for the examples without an imaging library: tiling and a minimal PNG writer."""
import struct
import zlib

import numpy as np


def scale_to_unit_interval(ndar, eps=1e-8):
    """Scale all values of ``ndar`` to [0, 1]."""
    ndar = ndar.astype("float64", copy=True)
    ndar -= ndar.min()
    ndar *= 1.0 / (ndar.max() + eps)
    return ndar


def tile_raster_images(X, img_shape, tile_shape, tile_spacing=(1, 1), scale_rows=True):
    """Arrange the rows of X (each an image of ``img_shape``) in a grid, as the Theano
    tutorials' utility does; returns a uint8 array (0 = black) with 1-pixel gaps."""
    h, w = img_shape
    rows, cols = tile_shape
    sh, sw = tile_spacing
    out = np.zeros(((h + sh) * rows - sh, (w + sw) * cols - sw), dtype="uint8")
    for r in range(rows):
        for c in range(cols):
            k = r * cols + c
            if k >= len(X):
                continue
            img = X[k].reshape(img_shape)
            img = scale_to_unit_interval(img) if scale_rows else np.clip(img, 0, 1)
            out[r * (h + sh):r * (h + sh) + h, c * (w + sw):c * (w + sw) + w] = img * 255
    return out


def save_png(path, image, scale=1):
    """Write a 2-d uint8 array as a greyscale PNG, each pixel ``scale`` x ``scale``."""
    image = np.asarray(image, dtype="uint8")
    if scale > 1:
        image = np.kron(image, np.ones((scale, scale), dtype="uint8"))
    height, width = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9))
    png += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)
