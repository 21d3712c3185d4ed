"""A Restricted Boltzmann Machine trained with contrastive divergence on the digits.

This is the RBM of the Theano deep-learning tutorial that cgraph started from: free energy,
propup/propdown, Gibbs steps by `cgraph.scan`, CD-k or persistent CD (a shared persistent
chain), `T.grad(cost, params, consider_constant=[chain_end])`, updates, and givens with
`index * batch_size`. It trains on the 8x8 digits shipped in examples/data (pixel intensities
used as probabilities, as the tutorial does with MNIST), or on MNIST with ``--data PATH``
(the tutorial's 784x500 model), shows a progress bar and prints the reconstruction cost
(CD) or pseudo-likelihood (PCD) every few epochs, and draws three figures into
examples/output/: the learned filters, samples from the model (one row per 1000 Gibbs
steps, the first row the test digits the chains start from) and the learning curve. Run it
twice: the second run compiles nothing.

    python examples/rbm.py                  # CD-1, 40 epochs, 100 hidden units
    python examples/rbm.py --persistent --k 15
    python examples/rbm.py --data mnist.pkl.gz   # 784 x 500, 15 epochs, as the tutorial
"""
import argparse
import os
import sys
import time

# Minibatches of 20 rows make every matrix product too small to gain from several BLAS
# threads; on a busy machine waiting for them made a 784x500 CD-1 step ~10 times slower
# (80 ms instead of 8). One thread unless the user asks for more (set before numpy loads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cgraph  # noqa: E402
import cgraph.tensor as T  # noqa: E402
from cgraph.tensor.shared_randomstreams import RandomStreams  # noqa: E402
import training  # noqa: E402
from digits import image_shape, load_data  # noqa: E402
from reporting import compile_summary, progress, say, summary_every  # noqa: E402

floatX = cgraph.config.floatX


class RBM:
    """An RBM with binary visible and hidden units, parameters in shared variables."""

    def __init__(self, input, n_visible, n_hidden, numpy_rng, theano_rng, init="small"):
        self.n_visible, self.n_hidden = n_visible, n_hidden
        if init == "tutorial":   # the Theano tutorial's uniform init, sized for 784 pixels
            bound = 4 * np.sqrt(6.0 / (n_hidden + n_visible))
            initial_W = numpy_rng.uniform(-bound, bound, (n_visible, n_hidden))
        else:
            # Hinton's practical guide: N(0, 0.01). On 8x8 digits the border pixels are
            # almost always 0, so their weights keep whatever they start with; a small start
            # keeps the filters readable.
            initial_W = numpy_rng.normal(0, 0.01, (n_visible, n_hidden))
        self.W = cgraph.shared(initial_W.astype(floatX), name="W")
        self.hbias = cgraph.shared(np.zeros(n_hidden, dtype=floatX), name="hbias")
        self.vbias = cgraph.shared(np.zeros(n_visible, dtype=floatX), name="vbias")
        self.input = input
        self.theano_rng = theano_rng
        self.params = [self.W, self.hbias, self.vbias]

    def free_energy(self, v_sample):
        wx_b = T.dot(v_sample, self.W) + self.hbias
        vbias_term = T.dot(v_sample, self.vbias)
        hidden_term = T.sum(T.log(1 + T.exp(wx_b)), axis=1)
        return -hidden_term - vbias_term

    def propup(self, vis):
        pre_sigmoid = T.dot(vis, self.W) + self.hbias
        return [pre_sigmoid, T.nnet.sigmoid(pre_sigmoid)]

    def sample_h_given_v(self, v0_sample):
        pre_sigmoid_h1, h1_mean = self.propup(v0_sample)
        h1_sample = self.theano_rng.binomial(size=h1_mean.shape, n=1, p=h1_mean, dtype=floatX)
        return [pre_sigmoid_h1, h1_mean, h1_sample]

    def propdown(self, hid):
        pre_sigmoid = T.dot(hid, self.W.T) + self.vbias
        return [pre_sigmoid, T.nnet.sigmoid(pre_sigmoid)]

    def sample_v_given_h(self, h0_sample):
        pre_sigmoid_v1, v1_mean = self.propdown(h0_sample)
        v1_sample = self.theano_rng.binomial(size=v1_mean.shape, n=1, p=v1_mean, dtype=floatX)
        return [pre_sigmoid_v1, v1_mean, v1_sample]

    def gibbs_hvh(self, h0_sample):
        pre_sigmoid_v1, v1_mean, v1_sample = self.sample_v_given_h(h0_sample)
        pre_sigmoid_h1, h1_mean, h1_sample = self.sample_h_given_v(v1_sample)
        return [pre_sigmoid_v1, v1_mean, v1_sample, pre_sigmoid_h1, h1_mean, h1_sample]

    def gibbs_vhv(self, v0_sample):
        pre_sigmoid_h1, h1_mean, h1_sample = self.sample_h_given_v(v0_sample)
        pre_sigmoid_v1, v1_mean, v1_sample = self.sample_v_given_h(h1_sample)
        return [pre_sigmoid_h1, h1_mean, h1_sample, pre_sigmoid_v1, v1_mean, v1_sample]

    def get_cost_updates(self, lr=0.1, persistent=None, k=1):
        """The CD-k (or PCD-k) training step: a monitoring cost and the parameter updates."""
        pre_sigmoid_ph, ph_mean, ph_sample = self.sample_h_given_v(self.input)
        chain_start = ph_sample if persistent is None else persistent
        (
            [pre_sigmoid_nvs, nv_means, nv_samples, pre_sigmoid_nhs, nh_means, nh_samples],
            updates,
        ) = cgraph.scan(self.gibbs_hvh,
                        outputs_info=[None, None, None, None, None, chain_start],
                        n_steps=k, name="gibbs_hvh")
        chain_end = nv_samples[-1]
        cost = T.mean(self.free_energy(self.input)) - T.mean(self.free_energy(chain_end))
        gparams = T.grad(cost, self.params, consider_constant=[chain_end])
        for gparam, param in zip(gparams, self.params):
            updates[param] = param - gparam * T.cast(lr, dtype=floatX)
        if persistent is not None:
            updates[persistent] = nh_samples[-1]
            monitoring_cost = self.get_pseudo_likelihood_cost(updates)
        else:
            monitoring_cost = self.get_reconstruction_cost(updates, pre_sigmoid_nvs[-1])
        return monitoring_cost, updates

    def get_pseudo_likelihood_cost(self, updates):
        """Stochastic approximation of the pseudo-likelihood (one bit flipped per call)."""
        bit_i_idx = cgraph.shared(0, name="bit_i_idx")
        xi = T.round(self.input)
        fe_xi = self.free_energy(xi)
        xi_flip = T.set_subtensor(xi[:, bit_i_idx], 1 - xi[:, bit_i_idx])
        fe_xi_flip = self.free_energy(xi_flip)
        cost = T.mean(self.n_visible * T.log(T.nnet.sigmoid(fe_xi_flip - fe_xi)))
        updates[bit_i_idx] = (bit_i_idx + 1) % self.n_visible
        return cost

    def get_reconstruction_cost(self, updates, pre_sigmoid_nv):
        """Cross-entropy between the input and its reconstruction."""
        return T.mean(T.sum(self.input * T.log(T.nnet.sigmoid(pre_sigmoid_nv))
                            + (1 - self.input) * T.log(1 - T.nnet.sigmoid(pre_sigmoid_nv)),
                            axis=1))


def reconstruction_cost(rbm, v):
    """Cross-entropy of ``v`` and its mean-field reconstruction (no sampling): the
    validation curve, comparable from epoch to epoch."""
    _, h_mean = rbm.propup(v)
    pre_sigmoid_v, _ = rbm.propdown(h_mean)
    return T.mean(T.sum(v * T.log(T.nnet.sigmoid(pre_sigmoid_v))
                        + (1 - v) * T.log(1 - T.nnet.sigmoid(pre_sigmoid_v)), axis=1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: 40 on the digits, 15 (the tutorial's) on MNIST")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=None,
                        help="default: 100 on the digits, 500 (the tutorial's) on MNIST")
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--k", type=int, default=1, help="Gibbs steps per update (CD-k)")
    parser.add_argument("--persistent", action="store_true", help="persistent CD (PCD-k)")
    parser.add_argument("--samples", type=int, default=10, help="rows of model samples to draw")
    parser.add_argument("--chains", type=int, default=None,
                        help="sampling chains (columns of the samples figure); default 10 on "
                             "the digits, 20 on MNIST")
    parser.add_argument("--plot-every", type=int, default=1000,
                        help="Gibbs steps between two rows of samples")
    parser.add_argument("--init", choices=("small", "tutorial"), default=None,
                        help="weight init: N(0, 0.01) (default on the digits) or the "
                             "tutorial's uniform (default on MNIST)")
    training.add_common_arguments(parser)
    args = parser.parse_args(argv)
    mnist = args.data is not None
    epochs = args.epochs or (15 if mnist else 40)
    hidden = args.hidden or (500 if mnist else 100)
    n_chains = args.chains or (20 if mnist else 10)
    init = args.init or ("tutorial" if mnist else "small")

    (train_x, _), (valid_x, _), (test_x, _) = load_data(args.data, dtype=floatX)
    n_chains = min(n_chains, len(test_x))     # each chain starts from a test image
    shape = image_shape(train_x)
    n_visible = train_x.shape[1]
    train_set_x = cgraph.shared(train_x, name="train_set_x")
    n_batches = len(train_x) // args.batch_size
    rng = np.random.RandomState(123)
    theano_rng = RandomStreams(rng.randint(2 ** 30))

    index = T.lscalar("index")
    x = T.matrix("x")
    rbm = RBM(x, n_visible=n_visible, n_hidden=hidden, numpy_rng=rng, theano_rng=theano_rng,
              init=init)
    persistent_chain = cgraph.shared(np.zeros((args.batch_size, hidden), dtype=floatX),
                                     name="persistent_chain") if args.persistent else None
    cost, updates = rbm.get_cost_updates(lr=args.learning_rate, persistent=persistent_chain,
                                         k=args.k)
    t0 = time.perf_counter()
    train_rbm = cgraph.function(
        [index], cost, updates=updates,
        givens={x: train_set_x[index * args.batch_size:(index + 1) * args.batch_size]},
        name="train_rbm")
    valid_cost = cgraph.function([x], reconstruction_cost(rbm, x), name="valid_cost")

    # sampling: persistent Gibbs chains started from test digits, plot_every steps per row
    persistent_vis_chain = cgraph.shared(test_x[:n_chains], name="persistent_vis_chain")
    (
        [presig_hids, hid_mfs, hid_samples, presig_vis, vis_mfs, vis_samples],
        sample_updates,
    ) = cgraph.scan(rbm.gibbs_vhv, outputs_info=[None, None, None, None, None, persistent_vis_chain],
                    n_steps=args.plot_every, name="gibbs_vhv")
    sample_updates[persistent_vis_chain] = vis_samples[-1]
    sample_fn = cgraph.function([], [vis_mfs[-1], vis_samples[-1]], updates=sample_updates,
                                name="sample_fn")
    functions = [train_rbm, valid_cost, sample_fn]
    kind = f"PCD-{args.k}" if args.persistent else f"CD-{args.k}"
    label = "pseudo-likelihood" if args.persistent else "reconstruction cost"
    compiled_summary = compile_summary(functions, time.perf_counter() - t0)
    say(f"RBM {n_visible} visible x {hidden} hidden, {kind}, batch {args.batch_size}, "
        f"{n_batches} minibatches per epoch; {compiled_summary}")

    costs, valid_costs, start = [], [], time.perf_counter()
    every = summary_every(epochs)
    bar = progress(range(1, epochs + 1), desc="training", unit="epoch")
    for epoch in bar:
        epoch_costs = [float(train_rbm(batch)) for batch in range(n_batches)]
        costs.append(float(np.mean(epoch_costs)))
        valid_costs.append(float(valid_cost(valid_x)))
        bar.set_postfix_str(f"{label} {costs[-1]:.4f}")
        if epoch % every == 0 or epoch == epochs:
            say(f"epoch {epoch:3d}  {label} {costs[-1]:.4f}  "
                f"validation reconstruction cost {valid_costs[-1]:.4f}")
    bar.close()
    train_seconds = time.perf_counter() - start
    per_batch = 1e6 * train_seconds / (epochs * n_batches)
    say(f"trained in {train_seconds:.1f} s ({per_batch:.0f} us per minibatch)")

    rows = [test_x[:n_chains]]
    for _ in progress(range(args.samples), desc="sampling", unit="row"):
        vis_mf, _ = sample_fn()
        rows.append(vis_mf)

    if training.have_matplotlib():
        import plotting
        n_shown = min(hidden, 100)
        paths = [
            plotting.image_grid_figure(
                os.path.join(args.output, "rbm_filters.png"),
                rbm.W.get_value(borrow=True).T[:n_shown], shape, columns=10,
                title=f"RBM filters: the weights of {n_shown} of the {hidden} hidden units\n"
                      f"({kind}, {epochs} epochs, {n_visible} visible units)",
                caption="one tile per hidden unit: its weight from each pixel,\n"
                        "black (lowest) to white (highest)"),
            plotting.image_grid_figure(
                os.path.join(args.output, "rbm_samples.png"),
                np.concatenate(rows), shape, columns=n_chains,
                title=f"Samples from the RBM\n{n_chains} Gibbs chains (one per column) "
                      f"started from test digits",
                row_labels=["test digits"] + [f"after {args.plot_every * (r + 1)} Gibbs steps"
                                              for r in range(args.samples)],
                caption="grey level: the visible units' mean-field probabilities",
                scale_each=False),
            plotting.learning_curve(
                os.path.join(args.output, "rbm_curve.png"),
                f"RBM {n_visible}x{hidden}, {kind}: learning curve", costs,
                f"training {label}", valid_costs,
                "validation reconstruction cost\n(mean field; higher is better)"),
        ]
        say("wrote " + ", ".join(paths))
    compiled_any = any(f.compiled for f in functions)
    say(f"this run {compiled_summary}"
        + ("; run it again: the next run compiles nothing" if compiled_any else ""))
    return costs


if __name__ == "__main__":
    main()
