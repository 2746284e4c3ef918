"Your own pairs: learning a set from a folder or CSV, clear errors for bad data, nothing lost, shipped sets."
import argparse, json, math, shutil
from pathlib import Path
import numpy as np
import pytest
import torch
from PIL import Image
from pertlearn.data.pairs import PairsError, find_pairs, load_pairs, write_pairs
from pertlearn.from_pairs import learn_set
from pertlearn.app.cli import add_learn_args, run_learn
from pertlearn.perturbation import PerturbationSet, list_pretrained

torch.set_num_threads(1)
TINY = dict(epochs=1, latent=4, ch=4, bs=32, pgd_steps=2, n_samples=2, device='cpu', progress=False, verbose=False)

@pytest.fixture(scope='module')
def rts_pairs(tmp_path_factory):
    "96 MNIST-RTS pairs from the embedded digits, written as PNG files."
    from pertlearn.data.mnist_rts import load_mnist, pad_digits, rts_perturb
    x = pad_digits(load_mnist('embedded').train_x[:96])
    xt = rts_perturb(x, torch.Generator().manual_seed(0))
    return write_pairs(x, xt, tmp_path_factory.mktemp('pairs')/'rts')

def _copy(src, dst): shutil.copytree(src, dst); return dst

def test_learn_from_folder_and_reload(rts_pairs, tmp_path):
    ps, rep = learn_set(rts_pairs, tmp_path/'set', valid_pct=0.25, **TINY)
    assert rep['arch'] == 'conv_pairs' and rep['data']['shape'] == [1, 42, 42] and rep['data']['n_valid'] == 24
    for k in ('identity', 'approx_pgd', 'approx_encoder', 'expected', 'kl'): assert math.isfinite(rep['metrics'][k]), k
    for k in ('median', 'q90', 'max', 'percentile'): assert k in rep['offsets']
    assert rep['eps'] > 0 and json.loads((tmp_path/'set'/'report.json').read_text())['eps'] == rep['eps']
    cfg = json.loads((tmp_path/'set'/'model.json').read_text())
    assert cfg['arch'] == 'conv_pairs' and 'pertlearn_version' in cfg
    ps2 = PerturbationSet.load(tmp_path/'set')
    x = load_pairs(rts_pairs, max_pairs=4).floats()[0]
    g = lambda: torch.Generator().manual_seed(1)
    torch.testing.assert_close(ps2.sample(x, 3, generator=g()), ps.sample(x, 3, generator=g()))
    assert not any(p.name.startswith('.') for p in tmp_path.iterdir())   # no staging folder left behind

def test_same_seed_same_set(rts_pairs, tmp_path):
    a = learn_set(rts_pairs, tmp_path/'a', **TINY)[1]; b = learn_set(rts_pairs, tmp_path/'b', **TINY)[1]
    assert a['eps'] == b['eps'] and a['metrics'] == b['metrics']
    assert (tmp_path/'a'/'model.safetensors').read_bytes() == (tmp_path/'b'/'model.safetensors').read_bytes()

def test_learn_from_csv_non_square_rgb(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(24, 3, 10, 18, generator=g); xt = (x * 0.7 + 0.1)
    write_pairs(x, xt, tmp_path/'imgs')
    rows = ['before,after'] + [f"imgs/x/{i:05d}.png,imgs/x_tilde/{i:05d}.png" for i in range(24)]
    (tmp_path/'pairs.csv').write_text('\n'.join(rows))
    ps, rep = learn_set(tmp_path/'pairs.csv', tmp_path/'set', valid_pct=0.25, **TINY)
    assert rep['arch'] == 'conv_pairs' and ps.cvae.in_shape == (3, 10, 18)
    assert type(PerturbationSet.load(tmp_path/'set').cvae).__name__ == 'ConvPairCVAE'

def _problems(path, **kw):
    with pytest.raises(PairsError) as e: load_pairs(path, **kw)
    return {Path(p).name: why for p, why in e.value.problems}, str(e.value)

def test_mismatched_names_listed(rts_pairs, tmp_path):
    d = _copy(rts_pairs, tmp_path/'d')
    (d/'x'/'00003.png').rename(d/'x'/'zz_only_x.png'); (d/'x_tilde'/'00007.png').rename(d/'x_tilde'/'zz_only_xt.png')
    probs, msg = _problems(d)
    assert set(probs) == {'zz_only_x.png', 'zz_only_xt.png', '00003.png', '00007.png'}
    assert 'no image named zz_only_x.*' in msg and '4 problem(s)' in msg

def test_sizes_channels_unreadable_listed(rts_pairs, tmp_path):
    d = _copy(rts_pairs, tmp_path/'d')
    Image.fromarray(np.zeros((40, 42), np.uint8)).save(d/'x_tilde'/'00001.png')        # size differs within the pair
    Image.fromarray(np.zeros((42, 42, 3), np.uint8)).save(d/'x_tilde'/'00002.png')     # channels differ
    (d/'x'/'00004.png').write_bytes(b'garbage')                                        # unreadable
    for s in ('x', 'x_tilde'): Image.fromarray(np.zeros((30, 30), np.uint8)).save(d/s/'00005.png')   # odd size out
    probs, msg = _problems(d)
    assert set(probs) == {'00001.png', '00002.png', '00004.png', '00005.png'}, probs
    assert '42x40 (WxH)' in probs['00001.png'] and '3 channel(s)' in probs['00002.png']
    assert 'cannot decode' in probs['00004.png'] and 'most pairs have 1 channel(s), 42x42' in probs['00005.png']

def test_empty_and_missing(tmp_path):
    (tmp_path/'e'/'x').mkdir(parents=True); (tmp_path/'e'/'x_tilde').mkdir()
    with pytest.raises(PairsError, match='empty image folder'): find_pairs(tmp_path/'e')
    (tmp_path/'three'/'a').mkdir(parents=True); (tmp_path/'three'/'b').mkdir(); (tmp_path/'three'/'c').mkdir()
    with pytest.raises(PairsError, match='exactly two sub-folders'): find_pairs(tmp_path/'three')
    with pytest.raises(FileNotFoundError, match='does not exist'): find_pairs(tmp_path/'nowhere')
    (tmp_path/'empty.csv').write_text('')
    with pytest.raises(PairsError, match='is empty'): find_pairs(tmp_path/'empty.csv')

def test_nothing_lost(rts_pairs, tmp_path):
    learn_set(rts_pairs, tmp_path/'set', **TINY)
    before = {f.name: f.read_bytes() for f in (tmp_path/'set').iterdir()}
    with pytest.raises(FileExistsError, match='overwrite'): learn_set(rts_pairs, tmp_path/'set', **TINY)
    bad = _copy(rts_pairs, tmp_path/'bad'); (bad/'x'/'00000.png').write_bytes(b'')
    with pytest.raises(PairsError): learn_set(bad, tmp_path/'set', overwrite=True, **TINY)   # bad data: the old set stays
    assert {f.name: f.read_bytes() for f in (tmp_path/'set').iterdir()} == before
    (tmp_path/'set'/'model.safetensors').write_bytes(b'stale')
    learn_set(rts_pairs, tmp_path/'set', overwrite=True, **TINY)                              # explicit overwrite replaces
    PerturbationSet.load(tmp_path/'set')

def test_cli_functions(rts_pairs, tmp_path, capsys):
    p = add_learn_args(argparse.ArgumentParser())
    a = p.parse_args([str(rts_pairs), str(tmp_path/'cli'), '--epochs', '1', '--latent', '4', '--ch', '4', '--pgd-steps', '2',
                      '--n-samples', '2', '--device', 'cpu', '--min-quality', '0'])
    assert run_learn(a) == 0 and (tmp_path/'cli'/'set.json').exists()
    assert 'ε =' in capsys.readouterr().out
    assert run_learn(a) == 2 and 'already exists' in capsys.readouterr().err

def test_pretrained_mnist_rts():
    assert 'mnist-rts' in list_pretrained()
    ps = PerturbationSet.pretrained('mnist-rts')
    assert ps.cvae.in_shape == (1, 42, 42) and ps.eps > 0
    size = sum(f.stat().st_size for f in (Path(__import__('pertlearn').__file__).parent/'pretrained').rglob('*') if f.is_file())
    assert size < 8e6, f"shipped sets take {size/1e6:.1f} MB"
    rep = json.loads((Path(__import__('pertlearn').__file__).parent/'pretrained'/'mnist-rts'/'report.json').read_text())
    m = rep['test_metrics']
    assert m['identity_over_approx_pgd'] >= 3 and m['approx_pgd'] < m['expected']   # a real set, as issue 2 asks
    from pertlearn.data.mnist_rts import load_mnist, mnist_rts_test_pairs
    from pertlearn.metrics import evaluate_set, summarize
    x, xt, _ = mnist_rts_test_pairs(load_mnist('embedded'), 32)
    s = summarize(evaluate_set(ps, (x, xt), steps=10, n_samples=2))
    assert s['approx_pgd'] < s['identity']
    with pytest.raises(ValueError, match='available: .*mnist-rts'): PerturbationSet.pretrained('cifar-nope')
