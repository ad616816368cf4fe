"""The fixed class palette shared by the background image and the frontend.

Class ``c`` is always drawn in ``PALETTE[c % len(PALETTE)]``, whatever classes
happen to be present in an epoch. (The reference normalised the class index by
the largest class present, so colours shifted between epochs; we never do.)
The first ten are matplotlib's tab10, the next ten tab20's light variants.
"""

PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
]


def class_color_hex(c: int) -> str:
    """Colour of class ``c`` (cycles after 20 classes)."""
    return PALETTE[int(c) % len(PALETTE)]


def class_colors_rgb(num_classes: int):
    """uint8 array (num_classes, 3) of the palette colours."""
    import numpy as np
    out = np.zeros((max(int(num_classes), 0), 3), dtype=np.uint8)
    for c in range(out.shape[0]):
        h = class_color_hex(c)
        out[c] = [int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)]
    return out
