"""Issue 25: random values thrown at the parameter checks. Each is accepted only if it satisfies its declaration (checked here
by an independent oracle), or refused with a ValueError whose message names the parameter: never any other exception."""
import math, numbers
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from pertlearn.checks import check_value, parse_spec
from pertlearn.app.runner import EXPERIMENTS, experiments_dir, notebook_declarations

def _num(v): return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
def _int(v): return isinstance(v, numbers.Integral) and not isinstance(v, bool)

ORACLE = {   # declaration: what it allows, written independently of the parser
    'int >= 1': lambda v: _int(v) and v >= 1,
    'int >= 0': lambda v: _int(v) and v >= 0,
    'float > 0': lambda v: _num(v) and v > 0,
    'float >= 0': lambda v: _num(v) and v >= 0,
    '0 < float < 1': lambda v: _num(v) and 0 < v < 1,
    '0 <= float <= 100': lambda v: _num(v) and 0 <= v <= 100,
    'None or int >= 1': lambda v: v is None or (_int(v) and v >= 1),
    'None or 1 <= int <= 5': lambda v: v is None or (_int(v) and 1 <= v <= 5),
    'None or float > 0': lambda v: v is None or (_num(v) and v > 0),
    'bool': lambda v: isinstance(v, bool),
    "one of 'embedded', 'raw', 'pickle'": lambda v: isinstance(v, str) and v in ('embedded', 'raw', 'pickle'),
    'one of 3, 4, 5': lambda v: _int(v) and v in (3, 4, 5),
    "one of 'median', 'q75', 'max' or float > 0": lambda v: (isinstance(v, str) and v in ('median', 'q75', 'max')) or (_num(v) and v > 0),
    "'auto' or None or int >= 1": lambda v: v == 'auto' and isinstance(v, str) or v is None or (_int(v) and v >= 1),
    'list of int >= 1': lambda v: isinstance(v, (list, tuple)) and all(_int(x) and x >= 1 for x in v),
    'None or pair of int >= 1': lambda v: v is None or (isinstance(v, (list, tuple)) and len(v) == 2 and all(_int(x) and x >= 1 for x in v)),
    'list of float > 0': lambda v: isinstance(v, (list, tuple)) and all(_num(x) and x > 0 for x in v),
    'str': lambda v: isinstance(v, str) and v.strip() != '',
}

SCALARS = (st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from(['embedded', 'raw', 'pickle', 'median', 'q75', 'max', 'auto', 'cpu', 'cuda', 'nosuch', '', ' ', 'None', '1'])
           | st.text(max_size=8))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner), max_leaves=8)

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.sampled_from(sorted(ORACLE)), v=VALUES)
def test_check_value_accepts_exactly_what_the_declaration_allows(spec, v):
    try: out = check_value('the_param', v, spec)
    except ValueError as e:
        assert str(e).startswith('the_param=') and '\n' not in str(e), e
        assert not ORACLE[spec](v), (spec, v, e)
        return
    assert out is v and ORACLE[spec](v), (spec, v)

DECLARED = sorted({(name, k, d[2]) for name, e in EXPERIMENTS.items()
                   for k, d in notebook_declarations(experiments_dir()/e['notebook']).items()})

@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(decl=st.sampled_from(DECLARED), v=VALUES | st.sampled_from(['cuda:0', 'cuda:99', 'mps', 'cpu:0', 'meta', '\x00', 'cuda:-1']))
def test_every_declared_experiment_parameter_refuses_cleanly(decl, v):
    "Every declaration of the four notebooks, against random values: accepted, or a one-line ValueError naming the parameter."
    name, k, spec = decl
    try: check_value(k, v, spec)
    except ValueError as e: assert str(e).startswith(f'{k}=') and '\n' not in str(e), e

def test_the_grammar_refuses_a_declaration_it_cannot_read():
    with pytest.raises(SyntaxError): parse_spec('int >= lots')
