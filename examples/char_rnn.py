"""A character-level language model: a tanh RNN by `cgraph.scan`, trained by truncated BPTT.

The text is the opening of "Alice's Adventures in Wonderland" (Lewis Carroll, 1865; public
domain), shipped in examples/data/alice.txt: the model reads it one character at a time and
learns to predict the next one. What it shows:

- `cgraph.scan` over a sequence: ``sequences=[X]`` walks the time axis of a
  (steps, batch, vocabulary) tensor of one-hot characters, ``outputs_info=[h0]`` carries the
  hidden state, ``non_sequences`` are the weights each step reads;
- backpropagation through time: `T.grad` of the loss differentiates through the scan (the
  gradient is a second scan, backwards in time, in the same C module);
- truncated BPTT: the text is cut into ``--batch`` parallel streams, read in chunks of
  ``--steps`` characters; the hidden state at the end of a chunk starts the next one (an input
  of the compiled function), but gradients stop at chunk boundaries;
- gradient clipping by global norm (``--clip``): when the norm of all gradients together
  exceeds it, they are scaled down together, so one exploding step cannot wreck the weights;
- Adam updates, all inside the one compiled training function;
- sampling: a second compiled function takes one step of the RNN; a Python loop feeds back
  each character drawn from the predicted distribution (``--temperature``).

Every few epochs it prints the training and validation loss (nats per character; the
validation text is the last tenth of the file) and a sample. A learning curve is written to
examples/output/char_rnn_curve.png.

Measured with the defaults (40 epochs of 9 chunks, 128 hidden units, Adam 0.01, clip 1.0) on
the busy 2-core machine that runs the tests: the loss falls from 4.0 (log 55, the untrained
model) to 1.6 nats per character on the training text, and to 2.4 on the validation text
(best between epochs 20 and 30: the 4 KB text is soon learned by heart), in 8-13 s of training
(6.5 ms of CPU per step) plus ~20 s to compile the three functions the first time (0.3 s to
load them on a later run). The samples go from random characters to words ("the", "she",
"was", "down", "Alice") and dialogue.

    python examples/char_rnn.py
    python examples/char_rnn.py --text my.txt --hidden 256 --epochs 200
"""
import argparse
import os
import sys
import time

# The matrices are small (batch x hidden): one BLAS thread is fastest, and fair to a busy
# machine. (Set before numpy loads its BLAS.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cgraph  # noqa: E402
import cgraph.tensor as T  # noqa: E402
import training  # noqa: E402
from reporting import compile_summary, progress, say, summary_every  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT = os.path.join(HERE, "data", "alice.txt")
floatX = cgraph.config.floatX


class Vocabulary:
    """The characters of a text, each with an index."""

    def __init__(self, text):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        return np.array([self.index[c] for c in text], dtype="int64")

    def decode(self, indices):
        return "".join(self.chars[i] for i in indices)

    def one_hot(self, indices):
        """(..., vocabulary) floatX one-hot rows for an integer array."""
        return np.eye(len(self), dtype=floatX)[indices]


class CharRNN:
    """h_t = tanh(x_t Wxh + h_{t-1} Whh + bh); p(next char) = softmax(h_t Why + by)."""

    def __init__(self, vocabulary_size, hidden, rng):
        def weights(n_in, n_out, name):     # small: the first predictions are near uniform
            return cgraph.shared(rng.normal(0, 0.01, (n_in, n_out)).astype(floatX), name=name)
        self.hidden = hidden
        self.Wxh = weights(vocabulary_size, hidden, "Wxh")
        # a scaled orthogonal recurrence keeps early gradients from vanishing or exploding
        q, _ = np.linalg.qr(rng.normal(size=(hidden, hidden)))
        self.Whh = cgraph.shared((0.9 * q).astype(floatX), name="Whh")
        self.bh = cgraph.shared(np.zeros(hidden, dtype=floatX), name="bh")
        self.Why = weights(hidden, vocabulary_size, "Why")
        self.by = cgraph.shared(np.zeros(vocabulary_size, dtype=floatX), name="by")
        self.params = [self.Wxh, self.Whh, self.bh, self.Why, self.by]

    def step(self, x_t, h_prev, Wxh, Whh, bh):
        """One time step (scan passes the non_sequences after the state)."""
        return T.tanh(T.dot(x_t, Wxh) + T.dot(h_prev, Whh) + bh)

    def run(self, X, h0):
        """The hidden states for every step of X (steps, batch, vocabulary), from h0."""
        hs, _ = cgraph.scan(self.step, sequences=[X], outputs_info=[h0],
                            non_sequences=[self.Wxh, self.Whh, self.bh], name="rnn")
        return hs

    def logits(self, hs):
        """(steps * batch, vocabulary) scores of the next character."""
        flat = hs.reshape((hs.shape[0] * hs.shape[1], self.hidden))
        return T.dot(flat, self.Why) + self.by

    def loss(self, X, Y, h0):
        """Mean negative log-likelihood of the targets Y (steps, batch) in nats per
        character, and the last hidden state (to start the next chunk)."""
        hs = self.run(X, h0)
        probabilities = T.nnet.softmax(self.logits(hs))
        return T.nnet.categorical_crossentropy(probabilities, Y.flatten()).mean(), hs[-1]


def build(model, learning_rate, clip):
    """``train(X, Y, h0) -> [loss, gradient norm, last state]`` (one clipped Adam step),
    ``evaluate(X, Y, h0) -> [loss, last state]`` and ``next_char(x, h) -> [probabilities,
    h]`` (one step, for sampling)."""
    X, Y, h0 = T.tensor3("X"), T.lmatrix("Y"), T.matrix("h0")
    # shared, not constants: another --learning-rate or --clip reuses the compiled module
    learning_rate = cgraph.shared(np.asarray(learning_rate, dtype=floatX), name="learning_rate")
    clip = cgraph.shared(np.asarray(clip, dtype=floatX), name="clip")
    loss, h_last = model.loss(X, Y, h0)
    grads = T.grad(loss, model.params)
    norm = T.sqrt(sum((g ** 2).sum() for g in grads))
    # by global norm: the direction of the whole gradient is kept, only its length capped
    scale = T.minimum(T.cast(1.0, floatX), clip / (norm + T.cast(1e-8, floatX)))
    # Adam (Kingma and Ba, 2015): steps scaled by running moments of the clipped gradient
    t = cgraph.shared(np.asarray(0.0, dtype=floatX), name="adam_t")
    t_next = t + T.cast(1.0, floatX)
    beta1, beta2 = T.cast(0.9, floatX), T.cast(0.999, floatX)
    step_size = learning_rate * T.sqrt(1 - beta2 ** t_next) / (1 - beta1 ** t_next)
    updates = [(t, t_next)]
    for param, grad in zip(model.params, grads):
        clipped = grad * scale
        m = cgraph.shared(np.zeros_like(param.get_value()), name=f"{param.name}_m")
        v = cgraph.shared(np.zeros_like(param.get_value()), name=f"{param.name}_v")
        m_next = beta1 * m + (1 - beta1) * clipped
        v_next = beta2 * v + (1 - beta2) * clipped ** 2
        updates += [(m, m_next), (v, v_next),
                    (param, param - step_size * m_next / (T.sqrt(v_next) + T.cast(1e-8, floatX)))]
    train = cgraph.function([X, Y, h0], [loss, norm, h_last], updates=updates, name="train_rnn")
    evaluate = cgraph.function([X, Y, h0], [loss, h_last], name="evaluate_rnn")

    x, h = T.matrix("x"), T.matrix("h")
    h_next = model.step(x, h, model.Wxh, model.Whh, model.bh)
    next_char = cgraph.function([x, h], [T.nnet.softmax(T.dot(h_next, model.Why) + model.by),
                                         h_next], name="next_char")
    return train, evaluate, next_char


def streams(codes, batch):
    """The text as ``batch`` parallel streams of equal length: (batch, length)."""
    length = (len(codes) - 1) // batch
    inputs = codes[:batch * length].reshape(batch, length)
    targets = codes[1:batch * length + 1].reshape(batch, length)
    return inputs, targets


def sample(next_char, vocabulary, hidden, prime, length, temperature, rng):
    """``prime`` followed by ``length`` characters drawn from the model."""
    h = np.zeros((1, hidden), dtype=floatX)
    for code in vocabulary.encode(prime)[:-1]:       # read the prime into the state
        _, h = next_char(vocabulary.one_hot([code]), h)
    code, out = vocabulary.encode(prime)[-1], []
    for _ in range(length):
        p, h = next_char(vocabulary.one_hot([code]), h)
        logits = np.log(p[0].astype("float64") + 1e-12) / temperature
        p = np.exp(logits - logits.max())
        code = rng.choice(len(p), p=p / p.sum())
        out.append(code)
    return prime + vocabulary.decode(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default=TEXT, help="a UTF-8 text file (default: Alice)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16, help="parallel streams")
    parser.add_argument("--steps", type=int, default=25, help="BPTT length, in characters")
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--clip", type=float, default=1.0, help="largest gradient norm")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--sample-length", type=int, default=160)
    parser.add_argument("--prime", default="Alice ")
    parser.add_argument("--every", type=int, default=None,
                        help="epochs between summaries and samples (default: ~6 per run)")
    parser.add_argument("--output", default=training.OUTPUT, help="folder for the figure")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)

    with open(args.text, encoding="utf-8") as f:
        text = " ".join(f.read().split())     # one line: line breaks are not worth learning
    vocabulary = Vocabulary(text)
    codes = vocabulary.encode(text)
    split = int(0.9 * len(codes))
    train_in, train_out = streams(codes[:split], args.batch)
    valid_in, valid_out = streams(codes[split:], 1)
    valid_X, valid_Y = vocabulary.one_hot(valid_in.T), valid_out.T   # time first
    rng = np.random.default_rng(args.seed)

    model = CharRNN(len(vocabulary), args.hidden, np.random.RandomState(args.seed))
    t0 = time.perf_counter()
    train, evaluate, next_char = build(model, args.learning_rate, args.clip)
    functions = [train, evaluate, next_char]
    n_chunks = train_in.shape[1] // args.steps
    say(f"{len(codes)} characters ({len(vocabulary)} distinct), {args.batch} streams of "
        f"{train_in.shape[1]}, {n_chunks} chunks of {args.steps} per epoch, "
        f"{args.hidden} hidden units; {compile_summary(functions, time.perf_counter() - t0)}")
    say(f"untrained: {sample(next_char, vocabulary, args.hidden, args.prime, 60, args.temperature, rng)!r}")

    every = args.every or summary_every(args.epochs, lines=6)
    losses, valid_losses, samples, clipped = [], [], [], 0
    start = time.perf_counter()
    bar = progress(range(1, args.epochs + 1), desc="training", unit="epoch")
    for epoch in bar:
        h = np.zeros((args.batch, args.hidden), dtype=floatX)
        epoch_losses = []
        for c in range(n_chunks):
            cols = slice(c * args.steps, (c + 1) * args.steps)
            loss, norm, h = train(vocabulary.one_hot(train_in[:, cols].T),
                                  train_out[:, cols].T, h)
            epoch_losses.append(float(loss))
            clipped += float(norm) > args.clip
        losses.append(float(np.mean(epoch_losses)))
        valid_losses.append(float(evaluate(valid_X, valid_Y,
                                           np.zeros((1, args.hidden), dtype=floatX))[0]))
        bar.set_postfix_str(f"loss {losses[-1]:.3f}, validation {valid_losses[-1]:.3f}")
        if epoch % every == 0 or epoch == args.epochs:
            text_sample = sample(next_char, vocabulary, args.hidden, args.prime,
                                 args.sample_length, args.temperature, rng)
            samples.append((epoch, text_sample))
            say(f"epoch {epoch:3d}  loss {losses[-1]:.3f}  validation loss "
                f"{valid_losses[-1]:.3f} nats/char  ({clipped} steps clipped so far)")
            say(f"    {text_sample!r}")
    bar.close()
    seconds = time.perf_counter() - start
    steps = args.epochs * n_chunks
    say(f"trained {args.epochs} epochs ({steps} steps of BPTT over {args.steps} characters x "
        f"{args.batch} streams) in {seconds:.1f} s ({1e3 * seconds / max(steps, 1):.2f} ms "
        f"per step); the gradient norm was clipped in {clipped} of {steps} steps")
    if training.have_matplotlib():
        import plotting
        path = plotting.learning_curve(
            os.path.join(args.output, "char_rnn_curve.png"),
            f"character RNN ({args.hidden} hidden units, BPTT over {args.steps} characters)",
            losses, "training loss (nats per character)", valid_losses,
            "validation loss (nats per character)",
            best_epoch=1 + int(np.argmin(valid_losses)))
        say(f"wrote {path}")
    return losses, valid_losses, samples


if __name__ == "__main__":
    main()
