"""Every elementwise rewrite rule, one by one, against the graph it replaces.

The rules of canonicalize.py and stabilize.py are data (pattern, build, guard), so this file
walks the tables instead of naming rules: a rule added later is covered without a new test.
Each pattern is turned into the expression a user would write (over float64, float32, int64
and int8 inputs, with several constants where the pattern leaves the constant free). One
function per dtype computes all of them in C with every rewrite on; the reference evaluates
the same expressions unrewritten, op by op with numpy (each op's ``perform``). Hypothesis
draws the input values, NaN, infinities, -0.0, subnormals and integer extremes included.
"""
import numbers

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import cgraph
import cgraph.tensor as T
from cgraph.graph.basic import Constant, io_toposort
from cgraph.rewrite import canonicalize, stabilize
from cgraph.rewrite.canonicalize import Const, canonical_elementwise
from cgraph.rewrite.patterns import Rule, rules_for
from cgraph.rewrite.stabilize import stable_elementwise
from util import assert_clean_build

pytestmark = pytest.mark.slow   # hypothesis draws a module per expression

DTYPES = ("float64", "float32", "int64", "int8")
FREE_CONSTANTS = (4, 3, 0.5, -2)     # for a Const without a value: a power of two and others
SHAPE = (3, 4)


def _constants(pattern):
    if isinstance(pattern, Const):
        return [pattern]
    if isinstance(pattern, tuple):
        return [c for p in pattern[1:] for c in _constants(p)]
    return []


def _build(pattern, variables, values):
    """The expression ``pattern`` describes, written with cgraph.tensor's functions."""
    if isinstance(pattern, str):
        return variables[pattern]
    if isinstance(pattern, Const):
        return pattern.value if pattern.value is not None else values[pattern.name]
    if isinstance(pattern, numbers.Number):
        return pattern
    name, *args = pattern
    built = [_build(a, variables, values) for a in args]
    if all(isinstance(b, numbers.Number) for b in built):
        built[0] = T.constant(built[0])
    return getattr(T, name)(*built)


def _makes_sense(pattern, dtype, values):
    """Skip what numpy itself refuses: integer powers with a negative or fractional
    exponent, and integer arithmetic on fractional constants."""
    if not dtype.startswith("int"):
        return True
    every = [c.value if c.value is not None else values[c.name] for c in _constants(pattern)]
    return all(float(v).is_integer() and v >= 0 for v in every)


def instances(dtype):
    """(rule table, rule index, expression, x, y) for every rule and free constant."""
    x, y = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
    tables = [("canonicalize", [(rule.pattern, rule.guard) for rule in canonicalize.RULES]),
              ("stabilize", [(rule.pattern, rule.guard) for rule in stabilize.ELEMENTWISE_RULES])]
    found = []
    for table, rules in tables:
        for index, (pattern, guard) in enumerate(rules):
            free = [c.name for c in _constants(pattern) if c.value is None]
            choices = [dict(zip(free, combo)) for combo in
                       _combinations(len(free))] if free else [{}]
            for values in choices:
                if not _makes_sense(pattern, dtype, values):
                    continue
                expr = _build(pattern, {"x": x, "y": y}, values)
                found.append((table, index, expr))
    return x, y, found


def _combinations(n):
    if n == 0:
        yield ()
        return
    for head in FREE_CONSTANTS:
        for tail in _combinations(n - 1):
            yield (head,) + tail


def fires(table, expr):
    rewrite = canonical_elementwise if table == "canonicalize" else stable_elementwise
    return expr.owner is not None and rewrite(expr.owner) is not None


def reference(inputs, outputs, values):
    """The unrewritten graph evaluated op by op with numpy."""
    env = dict(zip(inputs, values))
    for node in io_toposort(outputs, stop_at=inputs):
        args = [v.data if isinstance(v, Constant) else env[v] for v in node.inputs]
        with np.errstate(all="ignore"):
            for var, value in zip(node.outputs, node.op.perform(node, args)):
                env[var] = np.asarray(value)
    return [o.data if isinstance(o, Constant) else env[o] for o in outputs]


def test_every_rule_fires_on_the_expression_it_describes():
    """A rule that no instance triggers is a rule this file does not test."""
    fired = set()
    for dtype in DTYPES:
        _, _, found = instances(dtype)
        fired |= {(table, index) for table, index, expr in found if fires(table, expr)}
    every = {("canonicalize", k) for k in range(len(canonicalize.RULES))} | \
        {("stabilize", k) for k in range(len(stabilize.ELEMENTWISE_RULES))}
    assert every - fired == set()


_compiled = {}


def compiled(dtype):
    if dtype not in _compiled:
        x, y, found = instances(dtype)
        outputs = [expr for _, _, expr in found]
        f = cgraph.function([x, y], outputs, on_unused_input="ignore")
        assert_clean_build(f)
        _compiled[dtype] = (f, x, y, found)
    return _compiled[dtype]


def _elements(dtype, table_bound=None):
    if dtype.startswith("int"):
        info = np.iinfo(dtype)
        return st.integers(int(info.min), int(info.max))
    width = 64 if dtype == "float64" else 32
    special = st.sampled_from([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 2.0, 0.5])
    ordinary = st.floats(allow_nan=True, allow_infinity=True, width=width)
    return st.one_of(special, ordinary)


# Canonical forms of arithmetic are exact or within an ulp or two of numpy; where the replaced
# expression calls transcendental functions (exp(log x) -> x), the reference carries their
# rounding, amplified by |log x| (up to ~700 ulp-relative for float64); stable forms are compared where the naive form is well conditioned
# (|x| <= 20: 1 - sigmoid(20) still has 8 good digits), plus NaN and the infinities.
ULPS = {"float64": 4 * np.finfo("float64").eps, "float32": 4 * np.finfo("float32").eps}
TRANSCENDENTAL_RTOL = {"float64": 1e-13, "float32": 1e-5}
STABLE_RTOL = {"float64": 1e-6, "float32": 2e-3}
TRANSCENDENTAL = {"exp", "log", "log1p", "sigmoid"}


def _op_names(pattern):
    if isinstance(pattern, tuple):
        return {pattern[0]}.union(*(_op_names(p) for p in pattern[1:]))
    return set()


def _well_conditioned(dtype):
    bound = 20.0 if dtype == "float64" else 8.0
    finite = st.floats(-bound, bound, width=64 if dtype == "float64" else 32)
    return st.one_of(finite, st.sampled_from([np.inf, -np.inf, np.nan, 0.0, -0.0]))


def _compare(dtype, table, pattern, got, ref, what):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.dtype == ref.dtype and got.shape == ref.shape, what
    if got.dtype.kind != "f":
        np.testing.assert_array_equal(got, ref, err_msg=what)
        return
    dtype = got.dtype.name
    atol = 0
    if table == "stabilize":
        # near 0 the naive form cancels (log(exp(1e-60)) is log(1.0) = 0): absolute error
        rtol = atol = STABLE_RTOL[dtype]
    elif _op_names(pattern) & TRANSCENDENTAL:
        rtol = TRANSCENDENTAL_RTOL[dtype]
        # near the largest float the reference's rounding can overflow (exp(log(x)) is inf
        # for x = 3.40281e38 in float32) where the rewrite gives x itself: that one is right
        overflowed = np.isinf(ref) & np.isfinite(got) & \
            (np.abs(got) > np.finfo(got.dtype).max / 4) & (np.sign(got) == np.sign(ref))
        ref = np.where(overflowed, got, ref)
    else:
        rtol = ULPS[dtype]
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_rewritten_expressions_equal_the_unrewritten_graph(dtype, data):
    f, x, y, found = compiled(dtype)
    canonical = [k for k, (table, _, _) in enumerate(found) if table == "canonicalize"]
    stable = [k for k, (table, _, _) in enumerate(found) if table == "stabilize"]
    if dtype.startswith("int"):
        # int8 expressions compute in float32: the float32 bound of _well_conditioned
        stable_elements = st.integers(-8, 8)
    else:
        stable_elements = _well_conditioned(dtype)
    for elements, chosen in ((_elements(dtype), canonical), (stable_elements, stable)):
        xv = data.draw(hnp.arrays(dtype, SHAPE, elements=elements), label="x")
        yv = data.draw(hnp.arrays(dtype, SHAPE, elements=elements), label="y")
        got = f(xv, yv)
        exprs = [found[k][2] for k in chosen]
        ref = reference([x, y], exprs, [xv, yv])
        for k, r in zip(chosen, ref):
            table, index, expr = found[k]
            pattern = (canonicalize.RULES[index][0] if table == "canonicalize"
                       else stabilize.ELEMENTWISE_RULES[index][0])
            _compare(dtype, table, pattern, got[k], r, f"{table} rule {index} ({expr}) on {dtype}")


# --- the rule index (patterns.rules_for): a node tried only against the rules of its op ---

def test_the_rule_index_offers_every_rule_that_matches_in_table_order():
    """canonicalize and stabilize try a node only against the rules rooted at its op: for
    every rule's own expression (each dtype, each free constant), seen directly and through
    a broadcast, the rules that match are the same as with the whole table."""
    matched = offered = tried = 0
    for dtype in DTYPES:
        x, y, found = instances(dtype)
        exprs = [expr for _, _, expr in found]
        exprs += [T.shape_padleft(e) for e in exprs] + [x, T.constant(2.0)]
        for table in (canonicalize.RULES, stabilize.ELEMENTWISE_RULES):
            for expr in exprs:
                every = [rule for rule in table if rule.bindings(expr) is not None]
                indexed = rules_for(table, expr)
                assert [rule for rule in indexed if rule.bindings(expr) is not None] == every
                matched, offered, tried = matched + len(every), offered + len(indexed), \
                    tried + len(table)
    assert matched > 0 and offered < tried / 4


def test_a_rule_not_rooted_at_an_op_is_refused():
    with pytest.raises(TypeError, match="must name an op at its root"):
        rules_for([Rule("x", lambda out, x: x)], T.exp(T.dvector("v")))
