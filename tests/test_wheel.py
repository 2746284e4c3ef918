"""The wheel: `python -m build` makes one that installs into a fresh virtual environment, outside the checkout, and
runs `pertlearn --help`, `import pertlearn`, a tiny learn/attack/certify on embedded data, `pertlearn run mnist-rts`
and `pertlearn docs` (offline pages of the chapters shipped in the wheel).

The fresh venv gets only the wheel (`pip install --no-deps --no-index`); its dependencies (torch & co., gigabytes) come
from the test environment's site-packages through a `.pth` path entry. A plain path entry does not process the `.pth`
files there, so the checkout's editable install stays invisible: `pertlearn` can only come from the wheel."""
import json, math, os, shutil, subprocess, sys, sysconfig, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

def _sh(cmd, cwd, env=None, timeout=900):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r.stdout

@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    "Build the wheel from a copy of the working tree (tracked and untracked, not ignored files): nothing is written to the checkout."
    tmp = tmp_path_factory.mktemp('wheel')
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    src = tmp/'src'
    for f in filter(None, files.split('\0')):
        if (ROOT/f).is_file(): (src/f).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(ROOT/f, src/f)
    if not (src/'README.md').exists(): (src/'README.md').write_text('# pertlearn\n')   # made from index.ipynb by tools/make_readme.py
    _sh([sys.executable, '-m', 'build', '--wheel', '--no-isolation', '--outdir', tmp/'dist', src], tmp)
    whl, = (tmp/'dist').glob('pertlearn-*.whl')
    return whl

def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert 'pertlearn/experiments/mnist_rts.ipynb' in names           # copied in by setup.py's build hook
    assert 'pertlearn/pretrained/mnist-rts/model.safetensors' in names and 'pertlearn/pretrained/mnist-rts/set.json' in names
    assert 'pertlearn/from_pairs.py' in names and 'pertlearn/app/cli.py' in names
    chapters = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))
    assert sorted(n.split('/')[-1] for n in names if n.startswith('pertlearn/notebooks/') and n.count('/') == 2 and n != 'pertlearn/notebooks/index.ipynb' and n.endswith('.ipynb')) == chapters
    assert 'pertlearn/notebooks/index.ipynb' in names and 'pertlearn/notebooks/results/mnist-rts-quick/samples.png' in names   # the front page and its figure
    assert not any(n.startswith(('nbs/', 'tests/')) for n in names)
    size = sum(i.file_size for i in zipfile.ZipFile(wheel).infolist())
    assert size < 20e6, f"wheel holds {size/1e6:.1f} MB"

@pytest.fixture(scope='module')
def venv(wheel, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('venv')
    v = tmp/'venv'
    _sh([sys.executable, '-m', 'venv', '--without-pip', v], tmp)
    py = v/'bin'/'python'
    _sh([sys.executable, '-m', 'pip', '--python', py, 'install', '--no-deps', '--no-index', '--quiet', wheel], tmp)
    site = Path(_sh([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], tmp).strip())
    (site/'_pertlearn_test_deps.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    return v

def _env(v):
    env = {k: val for k, val in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    # the borrowed dependencies' data files (nbconvert's templates) are under the test environment's prefix
    return dict(env, PATH=f"{v/'bin'}{os.pathsep}{env.get('PATH', '')}", OMP_NUM_THREADS='1', MPLBACKEND='Agg',
                JUPYTER_PATH=str(Path(sys.prefix)/'share'/'jupyter'))

def test_help_and_import(venv, tmp_path):
    out = _sh([venv/'bin'/'pertlearn', '--help'], tmp_path, _env(venv))
    assert 'run' in out and 'mnist-rts' in out
    where = _sh([venv/'bin'/'python', '-c', 'import pertlearn, pertlearn.app.runner as e; print(pertlearn.__file__); print(e.experiments_dir())'],
                tmp_path, _env(venv)).split()
    assert all(str(venv) in w for w in where), where           # the package and its notebooks come from the wheel
    assert str(ROOT) not in ' '.join(where)

SCRIPT = r'''
import json, torch, torch.nn as nn
torch.set_num_threads(1)
from pertlearn.from_pairs import learn_set
from pertlearn.perturbation import PerturbationSet
from pertlearn.data.pairs import write_pairs
from pertlearn.data.mnist_rts import load_mnist, pad_digits, rts_perturb, mnist_rts_test_pairs
from pertlearn.attacks import LatentPGD
from pertlearn.certify import LatentSmoother
data = load_mnist('embedded')
x = pad_digits(data.train_x[:64]); write_pairs(x, rts_perturb(x, torch.Generator().manual_seed(0)), 'pairs')
ps, rep = learn_set('pairs', 'myset', epochs=1, latent=4, ch=4, bs=32, pgd_steps=2, n_samples=2, device='cpu', progress=False, verbose=False)
ps = PerturbationSet.pretrained('mnist-rts')
torch.manual_seed(0)
clf = nn.Sequential(nn.Flatten(), nn.Linear(42 * 42, 10)).eval()
xt, _, y = mnist_rts_test_pairs(data, 8)
adv = LatentPGD(clf, ps, steps=3, generator=0)(xt, y)
pred, radius = LatentSmoother(clf, ps, sigma=0.5, num_classes=10).certify(xt[:2], n0=10, n=40, generator=0)
print(json.dumps(dict(eps=rep['eps'], adv_shape=list(adv.shape), pred=pred.tolist(), radius=radius.tolist())))
'''

def test_tiny_learn_attack_certify(venv, tmp_path):
    out = json.loads(_sh([venv/'bin'/'python', '-c', SCRIPT], tmp_path, _env(venv)).strip().splitlines()[-1])
    assert out['eps'] > 0 and out['adv_shape'] == [8, 1, 42, 42] and len(out['radius']) == 2
    assert (tmp_path/'myset'/'set.json').exists()

def test_run_experiment_from_wheel(venv, tmp_path):
    cmd = [venv/'bin'/'pertlearn', 'run', 'mnist-rts', '--quick', '--out', tmp_path/'run',
           '-p', 'epochs', '1', '-p', 'n_train', '256', '-p', 'n_test', '64', '-p', 'pgd_steps', '3', '-p', 'n_samples', '2',
           '-p', 'ch', '4', '-p', 'latent', '16', '-p', 'clf_epochs', '1', '-p', 'n_cert', '4', '-p', 'cert_n', '20', '-p', 'device', 'cpu']
    _sh(cmd, tmp_path, _env(venv))
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert all(math.isfinite(v) for v in m['summary'].values() if isinstance(v, float))
    assert (tmp_path/'run'/'mnist_rts.ipynb').exists() and (tmp_path/'run'/'set'/'set.json').exists()

def test_docs_from_wheel(venv, tmp_path):
    "`pertlearn docs` outside a checkout renders the shipped notebooks: front page, chapter list, chapters with their API reference, experiment reports, MathJax served locally, no dead link."
    out = _sh([venv/'bin'/'pertlearn', 'docs', '--out', tmp_path/'site'], tmp_path, _env(venv))
    site = tmp_path/'site'
    chapters = sorted(p.stem for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))
    assert all((site/f'{c}.html').is_file() for c in chapters), out
    front, lst = (site/'index.html').read_text(), (site/'chapters.html').read_text()
    assert 'Learn perturbation sets from data' in front and 'href="chapters.html"' in front and 'data:image/png;base64' in front
    assert [c for c in chapters if f'href="{c}.html"' in lst] == chapters and '`' not in lst.split('<ol>')[1]
    assert (site/'mathjax'/'MathJax.js').is_file() and 'src="mathjax/MathJax.js' in (site/'06a_theory.html').read_text()
    assert str(ROOT) not in front
    from pertlearn.app.docs import check_links   # the reports, the notes and every link come with the wheel too
    assert all((site/p.relative_to(ROOT).with_suffix('.html')).is_file() for p in ROOT.glob('results/*/*.ipynb')) and check_links(site) == []
    assert 'id="build_docs"' in (site/'91_app.docs.html').read_text() and 'href="91_app.docs.html#build_docs"' in (site/'api.html').read_text()
    r = subprocess.run([venv/'bin'/'pertlearn', 'docs', '--nbs', tmp_path/'nowhere'], cwd=tmp_path, env=_env(venv), capture_output=True, text=True)
    assert r.returncode == 1 and 'Traceback' not in r.stderr and 'no chapter notebooks' in r.stderr, r.stderr
