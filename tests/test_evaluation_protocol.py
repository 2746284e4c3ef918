"""The test split of each experiment notebook is read only in its final section ('## Final evaluation on the test split'), and once:
no code cell before that heading names anything that holds or reads test data (issue 23). mnist_rts_robust has its own check
in test_robust.py."""
import json, re
from pathlib import Path
import pytest

EXP = Path(__file__).resolve().parents[1]/'nbs'/'experiments'
HEAD = '## Final evaluation on the test split'

# per notebook: the names that mean "the test split" there, and the calls that read it (each exactly once, after the heading)
NOTEBOOKS = {
    'mnist_rts.ipynb': (('mnist_rts_test_pairs', 'x_te', 'xt_te', 'y_te', 'test_x', 'test_y', '.test', 'dls[2]'),
                        ('mnist_rts_test_pairs(',)),
    'corruptions.ipynb': (('corruption_test_pairs', 'corruption_classif_test', 'x_te', 'xt_te', 'g_te', 'test_dl', 'x_clean', 'y_clean',
                           '.test', 'dls[2]', 'cdls[2]'),
                          ('corruption_test_pairs(', 'corruption_classif_test(', 'cdls[2]')),
    'illumination.ipynb': (('x_te', 'xt_te', 'off_test', '.test', 'dls[2]', '[2]', 'ev_ref', 'ev_all', 'test_scene'),
                           ('dls[2]',)),
    'mnist_limited.ipynb': (('mnist_rts_test_pairs', 'x_te', 'xt_te', 'test_x', 'test_y', '.test', 'dls[2]', '[2]'),
                            ('mnist_rts_test_pairs(',)),
    'mnist_linf.ipynb': (('mnist_linf_test_pairs', 'x_te', 'xt_te', 'y_te', 'test_x', 'test_y', '.test', 'dls[2]', 'cdls[2]'),
                         ('mnist_linf_test_pairs(',)),
    'corruption_pairings.ipynb': (('corruption_test_pairs', 'test_pairs', 'x_te', 'xt_te', 'g_te', '.test', 'dls[2]'),
                                  ('corruption_test_pairs(',)),
}

def _code(c):
    "A code cell's source without its import lines (importing a reader is not reading)."
    return '\n'.join(l for l in ''.join(c['source']).splitlines() if not l.lstrip().startswith(('import ', 'from ')))

def _uses(src, name):
    "`name` in `src`: as a whole identifier (`x_te`, not `max_test`), or as text for attribute and index forms (`.test`, `dls[2]`)."
    return re.search(rf'\b{re.escape(name)}\b', src) is not None if name.isidentifier() else name in src

@pytest.mark.parametrize('name', sorted(NOTEBOOKS))
def test_test_split_is_read_only_in_the_final_section(name):
    names, readers = NOTEBOOKS[name]
    cells = json.loads((EXP/name).read_text())['cells']
    heads = [i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and ''.join(c['source']).startswith(HEAD)]
    assert len(heads) == 1, f'{name} needs exactly one "{HEAD}" section'
    for i, c in enumerate(cells[:heads[0]]):
        if c['cell_type'] != 'code': continue
        used = [n for n in names if _uses(_code(c), n)]
        assert not used, f"{name}: cell {i} (before the final section) uses the test split: {used}"
    after = ''.join(_code(c) for c in cells[heads[0]:] if c['cell_type'] == 'code')
    for r in readers: assert after.count(r) == 1, f'{name}: the test split is read exactly once ({r!r} appears {after.count(r)} times after the heading)'

@pytest.mark.parametrize('name', sorted(NOTEBOOKS))
def test_intro_says_the_test_split_is_read_once(name):
    cells = json.loads((EXP/name).read_text())['cells']
    intro = next(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')
    assert 'read **once**' in intro, f'{name}: the introduction should say that the test split is read once, in the final section'
