"""The training steps of examples/mlp.py and examples/lenet.py written by hand in numpy.

Each function takes one SGD step in place on a list of numpy parameters, ordered as the
example's ``params``, and returns the minibatch cost computed before the step. They follow
Theano's conventions exactly (conv2d flips its filters; max-pooling sends the gradient to
every position of a window that equals its maximum), so a cgraph step and a numpy step from the
same parameters agree to rounding: tests/examples/test_examples.py checks it, and
examples/step_timings.py times the two against each other.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _softmax_nll_backward(logits, y):
    """The mean negative log-likelihood of the labels y and its gradient wrt the logits."""
    n = len(y)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    cost = -log_p[np.arange(n), y].mean()
    delta = np.exp(log_p)
    delta[np.arange(n), y] -= 1.0
    return cost, delta / n


def mlp_step(params, x, y, learning_rate, L1_reg, L2_reg):
    """params = [W_hidden, b_hidden, W_out, b_out] (examples/mlp.py's MLP.params)."""
    W1, b1, W2, b2 = params
    hidden = np.tanh(x @ W1 + b1)
    cost, delta = _softmax_nll_backward(hidden @ W2 + b2, y)
    g_W2 = hidden.T @ delta
    g_b2 = delta.sum(axis=0)
    delta_hidden = (delta @ W2.T) * (1 - hidden ** 2)
    g_W1 = x.T @ delta_hidden
    g_b1 = delta_hidden.sum(axis=0)
    if L1_reg:       # as examples/mlp.py, a penalty with a zero coefficient is left out
        cost += L1_reg * (np.abs(W1).sum() + np.abs(W2).sum())
        g_W1 += L1_reg * np.sign(W1)
        g_W2 += L1_reg * np.sign(W2)
    if L2_reg:
        cost += L2_reg * ((W1 ** 2).sum() + (W2 ** 2).sum())
        g_W1 += 2 * L2_reg * W1
        g_W2 += 2 * L2_reg * W2
    for param, grad in zip(params, (g_W1, g_b1, g_W2, g_b2)):
        param -= learning_rate * grad
    return cost


class _ConvPool:
    """tanh(max_pool_2x2(conv2d(images, W)) + b) forward, and its backward pass."""

    def __init__(self, W, b, padding):
        self.W, self.b, self.padding = W, b, padding

    def forward(self, images):
        n_filters, channels, rows, cols = self.W.shape
        p = self.padding
        self.image_shape = images.shape
        padded = np.pad(images, ((0, 0), (0, 0), (p, p), (p, p)))
        self.padded_shape = padded.shape
        # im2col: one row per (image, output pixel), one column per (channel, tap)
        windows = sliding_window_view(padded, (rows, cols), axis=(2, 3))
        batch, _, out_rows, out_cols = windows.shape[:4]
        self.columns = windows.transpose(0, 2, 3, 1, 4, 5).reshape(
            batch * out_rows * out_cols, channels * rows * cols)
        # conv2d flips the filters (a true convolution, as Theano's default)
        self.flat_filters = self.W[:, :, ::-1, ::-1].reshape(n_filters, -1)
        conv = (self.columns @ self.flat_filters.T).reshape(
            batch, out_rows, out_cols, n_filters).transpose(0, 3, 1, 2)
        self.windows = conv.reshape(batch, n_filters, out_rows // 2, 2, out_cols // 2, 2)
        self.pooled = self.windows.max(axis=(3, 5))
        self.output = np.tanh(self.pooled + self.b[None, :, None, None])
        return self.output

    def backward(self, grad_output, need_input_grad=True):
        """(gradient wrt the images or None, gradient wrt W, gradient wrt b)."""
        n_filters, channels, rows, cols = self.W.shape
        grad_pre = grad_output * (1 - self.output ** 2)
        g_b = grad_pre.sum(axis=(0, 2, 3))
        # every position equal to its window's maximum receives the window's gradient
        is_max = self.windows == self.pooled[:, :, :, None, :, None]
        grad_conv = is_max * grad_pre[:, :, :, None, :, None]
        batch, _, half_rows, _, half_cols, _ = grad_conv.shape
        out_rows, out_cols = 2 * half_rows, 2 * half_cols
        grad_conv = grad_conv.reshape(batch, n_filters, out_rows, out_cols)
        grad_flat = grad_conv.transpose(0, 2, 3, 1).reshape(-1, n_filters)
        g_W = (grad_flat.T @ self.columns).reshape(self.W.shape)[:, :, ::-1, ::-1]
        if not need_input_grad:
            return None, g_W, g_b
        grad_columns = (grad_flat @ self.flat_filters).reshape(
            batch, out_rows, out_cols, channels, rows, cols)
        grad_padded = np.zeros(self.padded_shape)
        for u in range(rows):           # col2im: add each tap's share back to its pixels
            for v in range(cols):
                grad_padded[:, :, u:u + out_rows, v:v + out_cols] += \
                    grad_columns[:, :, :, :, u, v].transpose(0, 3, 1, 2)
        p = self.padding
        height, width = self.image_shape[2:]
        return grad_padded[:, :, p:p + height, p:p + width], g_W, g_b


def lenet_step(params, x, y, learning_rate, border_mode):
    """params = [W3, b3, W2, b2, W1, b1, W0, b0] (examples/lenet.py's LeNet.params:
    logistic regression, hidden layer, second and first conv-pool layers)."""
    W3, b3, W2, b2, W1, b1, W0, b0 = params
    padding = [W.shape[2] // 2 if border_mode == "half" else 0 for W in (W0, W1)]
    layer0 = _ConvPool(W0, b0, padding[0])
    layer1 = _ConvPool(W1, b1, padding[1])
    side = int(round(np.sqrt(x.shape[1])))     # square images: 8x8 digits or 28x28 MNIST
    features = layer1.forward(layer0.forward(x.reshape(len(x), 1, side, side)))
    flat = features.reshape(len(x), -1)
    hidden = np.tanh(flat @ W2 + b2)
    cost, delta = _softmax_nll_backward(hidden @ W3 + b3, y)

    g_W3, g_b3 = hidden.T @ delta, delta.sum(axis=0)
    delta_hidden = (delta @ W3.T) * (1 - hidden ** 2)
    g_W2, g_b2 = flat.T @ delta_hidden, delta_hidden.sum(axis=0)
    grad_features = (delta_hidden @ W2.T).reshape(features.shape)
    grad_layer0, g_W1, g_b1 = layer1.backward(grad_features)
    _, g_W0, g_b0 = layer0.backward(grad_layer0, need_input_grad=False)
    grads = (g_W3, g_b3, g_W2, g_b2, g_W1, g_b1, g_W0, g_b0)
    for param, grad in zip(params, grads):
        param -= learning_rate * grad
    return cost
