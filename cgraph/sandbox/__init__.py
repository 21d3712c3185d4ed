"""Experimental corners of the library, named as Theano's (``sandbox.rng_mrg``)."""
