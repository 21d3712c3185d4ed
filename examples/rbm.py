"""A Restricted Boltzmann Machine trained with contrastive divergence on the digits.

This is the RBM of the Theano deep-learning tutorial that cgraph started from: free energy,
propup/propdown, Gibbs steps by `cgraph.scan`, CD-k or persistent CD (a shared persistent
chain), `T.grad(cost, params, consider_constant=[chain_end])`, updates, and givens with
`index * batch_size`. It trains on the 8x8 digits shipped in examples/data (pixel intensities
used as probabilities, as the tutorial does with MNIST), prints the reconstruction cost
(CD) or pseudo-likelihood (PCD) per epoch, and writes the learned filters and samples from
the model as PNG images into examples/output/. Run it twice: the second run compiles nothing.

    python examples/rbm.py                  # CD-1, 40 epochs, 100 hidden units
    python examples/rbm.py --persistent --k 15
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cgraph  # noqa: E402
import cgraph.tensor as T  # noqa: E402
from cgraph import cache  # noqa: E402
from cgraph.tensor.shared_randomstreams import RandomStreams  # noqa: E402
from digits import load_digits  # noqa: E402
from images import save_png, tile_raster_images  # noqa: E402

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


def progress(epoch, done, total, width=30):
    filled = int(width * done / total)
    sys.stdout.write(f"\rtraining epoch {epoch:3d} [{'#' * filled}{'.' * (width - filled)}] "
                     f"{done}/{total}")
    sys.stdout.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--k", type=int, default=1, help="Gibbs steps per update (CD-k)")
    parser.add_argument("--persistent", action="store_true", help="persistent CD (PCD-k)")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "output"))
    parser.add_argument("--samples", type=int, default=10, help="rows of model samples to draw")
    parser.add_argument("--init", choices=("small", "tutorial"), default="small",
                        help="weight init: N(0, 0.01) or the tutorial's uniform")
    args = parser.parse_args(argv)

    builds_before = cache.stats["builds"]
    (train_x, _), _, (test_x, _) = load_digits(dtype=floatX)
    train_set_x = cgraph.shared(train_x, name="train_set_x")
    n_batches = len(train_x) // args.batch_size
    rng = np.random.RandomState(123)
    theano_rng = RandomStreams(rng.randint(2 ** 30))

    index = T.lscalar("index")
    x = T.matrix("x")
    rbm = RBM(x, n_visible=64, n_hidden=args.hidden, numpy_rng=rng, theano_rng=theano_rng,
              init=args.init)
    persistent_chain = cgraph.shared(np.zeros((args.batch_size, args.hidden), dtype=floatX),
                                     name="persistent_chain") if args.persistent else None
    cost, updates = rbm.get_cost_updates(lr=args.learning_rate, persistent=persistent_chain,
                                         k=args.k)
    t0 = time.perf_counter()
    train_rbm = cgraph.function(
        [index], cost, updates=updates,
        givens={x: train_set_x[index * args.batch_size:(index + 1) * args.batch_size]},
        name="train_rbm")
    compile_seconds = time.perf_counter() - t0
    kind = f"PCD-{args.k}" if args.persistent else f"CD-{args.k}"
    label = "pseudo-likelihood" if args.persistent else "reconstruction cost"
    print(f"RBM 64 visible x {args.hidden} hidden, {kind}, batch {args.batch_size}; "
          f"train_rbm ready in {compile_seconds:.2f} s")

    os.makedirs(args.output, exist_ok=True)
    costs, start = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        mean_cost = []
        for batch in range(n_batches):
            mean_cost.append(float(train_rbm(batch)))
            if batch % 10 == 0 or batch == n_batches - 1:
                progress(epoch, batch + 1, n_batches)
        costs.append(np.mean(mean_cost))
        sys.stdout.write(f"  {label} {costs[-1]:.4f}\n")
    train_seconds = time.perf_counter() - start
    per_batch = 1e6 * train_seconds / (args.epochs * n_batches)
    print(f"trained in {train_seconds:.1f} s ({per_batch:.0f} us per minibatch)")

    filters = tile_raster_images(rbm.W.get_value(borrow=True).T, img_shape=(8, 8),
                                 tile_shape=(10, max(1, args.hidden // 10)))
    filters_path = os.path.join(args.output, "rbm_filters.png")
    save_png(filters_path, filters, scale=4)

    # sampling: persistent Gibbs chains started from test digits, 1000 steps between rows
    n_chains, plot_every = 10, 1000
    persistent_vis_chain = cgraph.shared(test_x[:n_chains], name="persistent_vis_chain")
    (
        [presig_hids, hid_mfs, hid_samples, presig_vis, vis_mfs, vis_samples],
        sample_updates,
    ) = cgraph.scan(rbm.gibbs_vhv, outputs_info=[None, None, None, None, None, persistent_vis_chain],
                    n_steps=plot_every, name="gibbs_vhv")
    sample_updates[persistent_vis_chain] = vis_samples[-1]
    sample_fn = cgraph.function([], [vis_mfs[-1], vis_samples[-1]], updates=sample_updates,
                                name="sample_fn")
    rows = [test_x[:n_chains]]
    for _ in range(args.samples):
        vis_mf, _ = sample_fn()
        rows.append(vis_mf)
    image = tile_raster_images(np.concatenate(rows), img_shape=(8, 8),
                               tile_shape=(len(rows), n_chains), scale_rows=False)
    samples_path = os.path.join(args.output, "rbm_samples.png")
    save_png(samples_path, image, scale=4)
    builds = cache.stats["builds"] - builds_before
    print(f"wrote {filters_path} and {samples_path}")
    print(f"compiled {builds} modules this run" + (" (all found in the cache)" if builds == 0 else
                                                   f" (run again: the next run compiles nothing)"))
    return costs


if __name__ == "__main__":
    main()
