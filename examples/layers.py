"""The layers of the Theano deep learning tutorial, written for cgraph.

Each layer is built on a symbolic ``input``, keeps its parameters in shared variables listed
in ``params`` and exposes its symbolic ``output``; a model stacks layers by passing one
layer's output as the next one's input, then asks ``T.grad`` for the gradient of its cost
with respect to every layer's ``params``.

    LogisticRegression   softmax(input W + b), with its negative log-likelihood and error rate
    HiddenLayer          activation(input W + b), Glorot's uniform initialisation
    LeNetConvPoolLayer   tanh(max_pool(conv2d(input, W)) + b), for images in NCHW order
"""
import numpy as np

import cgraph
import cgraph.tensor as T
from cgraph.tensor.signal import pool


class LogisticRegression:
    """Multiclass logistic regression: P(Y = i | x) = softmax(x W + b)_i.

    W and b start at zero (the cost is convex, so no symmetry needs breaking).
    """

    def __init__(self, input, n_in, n_out):
        floatX = cgraph.config.floatX
        self.W = cgraph.shared(np.zeros((n_in, n_out), dtype=floatX), name="W", borrow=True)
        self.b = cgraph.shared(np.zeros(n_out, dtype=floatX), name="b", borrow=True)
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]
        self.input = input

    def negative_log_likelihood(self, y):
        """The mean over the minibatch of -log P(Y = y_k | x_k).

        ``T.arange(n)`` and ``y`` pick, in row k of the (n, classes) matrix of
        log-probabilities, the column of the true class y_k.
        """
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        """The fraction of the minibatch that the model classifies wrongly (zero-one loss)."""
        if y.ndim != self.y_pred.ndim:
            raise TypeError("y should have the same shape as self.y_pred",
                            ("y", y.type, "y_pred", self.y_pred.type))
        if not y.dtype.startswith("int"):
            raise NotImplementedError(f"errors() needs integer labels, got {y.dtype}")
        return T.mean(T.neq(self.y_pred, y))


def glorot_uniform(rng, fan_in, fan_out, shape, gain=1.0):
    """Weights drawn from U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio,
    2010): the tutorial's initialisation, with gain 4 for sigmoid units and 1 for tanh."""
    bound = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(low=-bound, high=bound, size=shape).astype(cgraph.config.floatX)


class HiddenLayer:
    """A fully connected layer: output = activation(input W + b), W of shape (n_in, n_out).

    ``activation=None`` gives a linear layer.
    """

    def __init__(self, rng, input, n_in, n_out, activation=T.tanh):
        gain = 4.0 if activation is T.nnet.sigmoid else 1.0
        self.W = cgraph.shared(glorot_uniform(rng, n_in, n_out, (n_in, n_out), gain),
                               name="W", borrow=True)
        self.b = cgraph.shared(np.zeros(n_out, dtype=cgraph.config.floatX), name="b",
                               borrow=True)
        linear = T.dot(input, self.W) + self.b
        self.output = linear if activation is None else activation(linear)
        self.params = [self.W, self.b]
        self.input = input


class LeNetConvPoolLayer:
    """A convolution followed by max-pooling: output = tanh(max_pool(conv2d(input, W)) + b).

    ``filter_shape`` is (number of filters, input channels, filter rows, filter columns) and
    ``image_shape`` (batch size, input channels, image rows, image columns). ``border_mode``
    is conv2d's ('valid' shrinks each image by the filter size less one, 'half' keeps its size
    for odd filters). The bias has one value per filter, broadcast over the batch and the
    pixels; adding it after pooling gives the same result as before, on fewer values.
    """

    def __init__(self, rng, input, filter_shape, image_shape, poolsize=(2, 2),
                 border_mode="valid"):
        assert image_shape[1] == filter_shape[1], "the filters must span every input channel"
        # Each output unit sees (input channels x filter rows x filter columns) inputs, and
        # each input unit reaches (filters x filter rows x filter columns / pooling) outputs.
        fan_in = int(np.prod(filter_shape[1:]))
        fan_out = int(filter_shape[0] * np.prod(filter_shape[2:]) // np.prod(poolsize))
        self.W = cgraph.shared(glorot_uniform(rng, fan_in, fan_out, filter_shape),
                               name="W", borrow=True)
        self.b = cgraph.shared(np.zeros(filter_shape[0], dtype=cgraph.config.floatX),
                               name="b", borrow=True)
        conv_out = T.nnet.conv2d(input, self.W, input_shape=image_shape,
                                 filter_shape=filter_shape, border_mode=border_mode)
        pooled_out = pool.pool_2d(conv_out, ws=poolsize, ignore_border=True)
        self.output = T.tanh(pooled_out + self.b.dimshuffle("x", 0, "x", "x"))
        self.params = [self.W, self.b]
        self.input = input
