"""The examples' figures, drawn with matplotlib (the ``examples`` extra) on the Agg backend,
which needs no screen: learning curves, and images tiled in a grid with labelled rows."""
import os

import numpy as np


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")      # files only: works without a display, in CI and over ssh
    import matplotlib.pyplot as plt
    return plt


def tile_images(images, image_shape, columns, spacing=1, scale_each=True):
    """Arrange the rows of ``images`` (each an image of ``image_shape`` flattened) in a grid
    of ``columns`` columns with ``spacing`` pixels between tiles. With ``scale_each`` every
    image is stretched to [0, 1] on its own (right for filters, whose scales differ); else the
    values are taken as they are (right for probabilities). Gaps are NaN, which the figures
    draw in the background colour."""
    images = np.asarray(images, dtype="float64").reshape((-1,) + tuple(image_shape))
    if scale_each:
        low = images.min(axis=(1, 2), keepdims=True)
        span = images.max(axis=(1, 2), keepdims=True) - low
        images = (images - low) / np.where(span > 0, span, 1.0)
    h, w = image_shape
    rows = -(-len(images) // columns)
    grid = np.full((rows * (h + spacing) - spacing, columns * (w + spacing) - spacing), np.nan)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        grid[r * (h + spacing):r * (h + spacing) + h, c * (w + spacing):c * (w + spacing) + w] = image
    return grid


def _save(fig, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight", pad_inches=0.15)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path


def image_grid_figure(path, images, image_shape, columns, title, row_labels=None,
                      caption=None, scale_each=True):
    """Images in a grid, with a title, an optional label to the left of each row and a
    caption under the grid; written to ``path`` (PNG)."""
    plt = _pyplot()
    grid = tile_images(images, image_shape, columns, scale_each=scale_each)
    rows = -(-len(np.asarray(images)) // columns)
    tile = 0.5 if columns <= 20 else 10.0 / columns       # inches per tile
    width = columns * tile + (2.0 if row_labels is not None else 0.4)
    height = rows * tile + 0.9 + 0.25 * title.count("\n") + (0.3 if caption else 0.0)
    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    cmap = plt.get_cmap("gray").with_extremes(bad="#9db4d3")   # the gaps: neither black
                                                                # nor white
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=1.0,
              interpolation="nearest")
    ax.set_xticks([])
    if row_labels is not None:
        step = image_shape[0] + 1
        ax.set_yticks([r * step + (image_shape[0] - 1) / 2 for r in range(rows)])
        ax.set_yticklabels(row_labels)
        ax.tick_params(axis="y", length=0)
    else:
        ax.set_yticks([])
    ax.set_title(title)
    if caption:
        ax.set_xlabel(caption)
    return _save(fig, path)


def learning_curve(path, title, costs, cost_label, validation=None, validation_label=None,
                   best_epoch=None):
    """The training cost per epoch, and beside it a validation measure per epoch (an error
    rate in %, or a cost), the best epoch marked; written to ``path`` (PNG)."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator
    epochs = np.arange(1, len(costs) + 1)
    panels = 1 if validation is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.0 * panels, 3.6), layout="constrained",
                             squeeze=False)
    ax = axes[0, 0]
    ax.plot(epochs, costs, marker="o" if len(costs) <= 30 else None, markersize=3)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(cost_label)
    ax.set_title("training")
    ax.grid(alpha=0.3)
    if validation is not None:
        ax = axes[0, 1]
        ax.plot(epochs[:len(validation)], validation, color="tab:orange",
                marker="o" if len(validation) <= 30 else None, markersize=3)
        if best_epoch:
            ax.plot([best_epoch], [validation[best_epoch - 1]], "*", color="tab:red",
                    markersize=12, label=f"best: epoch {best_epoch}")
            ax.legend()
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(validation_label)
        ax.set_title("validation")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def classifier_curve(path, name, result):
    """The learning curve of a classifier trained by training.train: cost and validation
    error (%) per epoch."""
    return learning_curve(
        path, f"{name}: {result.epochs} epochs, best validation error "
              f"{100 * result.best_validation_error:.2f}% (test {100 * result.test_error:.2f}%)",
        result.costs, "mean minibatch cost (NLL)",
        [100 * e for e in result.validation_errors], "validation error (%)",
        best_epoch=result.best_epoch)
