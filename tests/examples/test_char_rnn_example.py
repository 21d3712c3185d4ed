"""examples/char_rnn.py: the loss of its RNN is the one numpy computes, and a short run
learns (training and validation loss fall, samples are printed)."""
import numpy as np
import pytest

from test_examples import load_example


def numpy_loss(params, X, Y, h0):
    """The model's loss written out in numpy: tanh RNN, softmax, mean NLL."""
    Wxh, Whh, bh, Why, by = params
    h, total = h0, 0.0
    for x_t, y_t in zip(X, Y):
        h = np.tanh(x_t @ Wxh + h @ Whh + bh)
        logits = h @ Why + by
        logits = logits - logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        total -= log_p[np.arange(len(y_t)), y_t].sum()
    return total / Y.size, h


@pytest.mark.slow   # many compiles: 13 s on 2 busy cores
def test_loss_and_state_match_numpy():
    char_rnn = load_example("char_rnn")
    vocabulary = char_rnn.Vocabulary("abcab cab!")
    model = char_rnn.CharRNN(len(vocabulary), 7, np.random.RandomState(0))
    # weights large enough for the loss to depend on them visibly
    rng = np.random.default_rng(1)
    for p in model.params:
        p.set_value(rng.normal(0, 0.5, p.get_value().shape).astype(p.get_value().dtype))
    train, evaluate, next_char = char_rnn.build(model, learning_rate=0.01, clip=1.0)
    codes = vocabulary.encode("abcab cab!ba")
    inputs, targets = char_rnn.streams(codes, 2)
    X, Y = vocabulary.one_hot(inputs.T), targets.T
    h0 = rng.normal(size=(2, 7)).astype(X.dtype)
    expected_loss, expected_h = numpy_loss([p.get_value() for p in model.params], X, Y, h0)
    loss, h = evaluate(X, Y, h0)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-10)
    np.testing.assert_allclose(h, expected_h, rtol=1e-10)
    # one training step: the same loss, a positive gradient norm, and the weights move by at
    # most the learning rate (Adam's first step is lr * sign(g))
    before = [p.get_value().copy() for p in model.params]
    loss, norm, h = train(X, Y, h0)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-10)
    assert norm > 0
    for p, old in zip(model.params, before):
        assert np.abs(p.get_value() - old).max() <= 0.01 * (1 + 1e-6)
    probabilities, _ = next_char(vocabulary.one_hot([0]), np.zeros((1, 7), X.dtype))
    np.testing.assert_allclose(probabilities.sum(), 1.0)


@pytest.mark.slow   # many compiles: 17 s on 2 busy cores
def test_short_run_learns(tmp_path, capsys):
    losses, valid_losses, samples = load_example("char_rnn").main(
        ["--epochs", "8", "--hidden", "48", "--batch", "8", "--steps", "20", "--every", "4",
         "--sample-length", "40", "--output", str(tmp_path)])
    assert len(losses) == 8
    assert losses[-1] < losses[0] - 0.5, losses          # from ~log(55) = 4.0
    assert min(valid_losses[4:]) < valid_losses[0], valid_losses
    assert [epoch for epoch, _ in samples] == [4, 8]
    assert all(text.startswith("Alice ") and len(text) == 46 for _, text in samples)
    out = capsys.readouterr().out
    assert "epoch   8  loss" in out and "steps clipped" in out
