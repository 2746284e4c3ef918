"""Benchmark: restarts against steps of latent PGD on the MNIST-RTS classifier, to choose `LatentPGD`'s defaults.

    python benchmarks/studies/pgd_restarts.py                 # a few CPU minutes; writes benchmarks/results/pgd_restarts.md
    python benchmarks/studies/pgd_restarts.py --n 100 --clf-epochs 1   # faster, noisier

A standard `MNISTConvNet` is trained quickly on the embedded digits (padded to 42×42, as in the robust experiment),
then attacked through the shipped set `pertlearn/pretrained/mnist-rts` at the median of its validation offsets with
latent PGD (step ε/20, random start, early stop) for each (steps, restarts) pair. Every configuration attacks the
same test digits from the same seed; the table gives robust accuracy (lower = stronger attack) and wall time.

The recommendation is computed, not chosen: among configurations whose steps can cross the ball from its centre
(steps × ε/20 ≥ ε, i.e. ≥ 20 steps: needed when there is no random start, e.g. `random_start=False` or an encoder
`init`), the cheapest (in gradient steps, steps × restarts) whose robust accuracy is within `--tol` (default: one
test digit) of the strongest measured one. `--render` rewrites the report from the saved JSON without attacking.
"""
from __future__ import annotations
import argparse, json, time
from pathlib import Path
import torch
import torch.nn as nn
from fastai.learner import Learner
import fastai.callback.progress, fastai.callback.schedule   # Learner.no_bar, fit_one_cycle

from pertlearn.utils import seed_everything
from pertlearn.perturbation import PerturbationSet
from pertlearn.data.mnist_rts import load_mnist, mnist_rts_dls, mnist_rts_classif_dls, mnist_rts_test_pairs
from pertlearn.data.core import EpochSetter
from pertlearn.perturbation import offset_stats
from pertlearn.models.classifiers import MNISTConvNet
from pertlearn.attacks import robust_accuracy, LatentPGD

CONFIGS = [(10, 1), (20, 1), (50, 1), (10, 3), (20, 3), (10, 5)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--n', type=int, default=300, help='test digits attacked')
    ap.add_argument('--clf-epochs', type=int, default=3, help='classifier epochs')
    ap.add_argument('--n-train', type=int, default=None, help='cap on classifier training digits (None: all embedded)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--tol', type=float, default=None, help='accuracy tolerance of the recommendation (default 1/n)')
    ap.add_argument('--out', default=str(Path(__file__).resolve().parent.parent/'results'/'pgd_restarts.md'))
    ap.add_argument('--render', action='store_true', help='only rewrite the report from the JSON beside --out')
    a = ap.parse_args(argv)
    out = Path(a.out)
    if a.render: return report(json.loads(out.with_suffix('.json').read_text()), out)
    torch.set_num_threads(a.threads); dev = torch.device(a.device)
    seed_everything(a.seed)
    data = load_mnist('embedded')
    ps = PerturbationSet.pretrained('mnist-rts', device=dev)
    pairs = mnist_rts_dls(data, bs=256, seed=a.seed, device=dev, n_test=8)
    stats = offset_stats(ps.offsets(pairs.valid)); eps = stats['median']
    cdls = mnist_rts_classif_dls(data, n_train=a.n_train, bs=128, seed=a.seed, device=dev, n_test=8)
    seed_everything(a.seed)
    clf = MNISTConvNet(ch=16, hidden=64).to(dev)
    learn = Learner(cdls, clf, loss_func=nn.CrossEntropyLoss(), cbs=[EpochSetter()])
    t0 = time.time()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(a.clf_epochs, 3e-3)
    t_clf = time.time() - t0
    clf.eval()
    x, _, y = mnist_rts_test_pairs(data, n=a.n, device=dev)
    rows = []
    for steps, restarts in CONFIGS:
        t0 = time.time()
        r = robust_accuracy(LatentPGD(clf, ps, steps=steps, restarts=restarts, generator=torch.Generator(device=dev).manual_seed(a.seed)),
                            (x, y), [0.0, eps], bs=500)
        rows.append(dict(steps=steps, restarts=restarts, grad_steps=steps * restarts, clean=float(r.accuracy[0]),
                         robust=float(r.accuracy[1]), seconds=time.time() - t0))
        print(rows[-1], flush=True)
    tol = 1.0 / a.n if a.tol is None else a.tol
    meta = dict(eps=eps, rows=rows, tol=tol, latent_dim=ps.latent_dim, n_train=cdls.train.n, clf_seconds=t_clf,
                args={k: v for k, v in vars(a).items() if k not in ('out', 'render')})
    report(meta, out)


def pick_default(rows, tol):
    "The rule: configurations with ≥ 20 steps (they cross the ball from its centre), cheapest within `tol` of the strongest."
    strongest = min(r['robust'] for r in rows)
    ok = [r for r in rows if r['steps'] >= 20 and r['robust'] <= strongest + tol + 1e-12]
    return strongest, (min(ok, key=lambda r: (r['grad_steps'], r['seconds'])) if ok else None)


def report(meta, out:Path):
    a, rows, tol, eps = meta['args'], meta['rows'], meta['tol'], meta['eps']
    strongest, pick = pick_default(rows, tol)
    lines = ["# Latent PGD: restarts against steps on MNIST-RTS", "",
             f"Command: `python benchmarks/studies/pgd_restarts.py --n {a['n']} --clf-epochs {a['clf_epochs']} --device {a['device']} --threads {a['threads']} --seed {a['seed']}`", "",
             f"Set: shipped `pertlearn/pretrained/mnist-rts` (latent {meta['latent_dim']}); radius ε = median validation offset = {eps:.3f}. "
             f"Classifier: standard `MNISTConvNet(ch=16, hidden=64)`, {a['clf_epochs']} epochs on {meta['n_train']} embedded digits ({meta['clf_seconds']:.0f} s). "
             f"Attack: latent PGD, step ε/20, random start, early stop; {a['n']} test digits, seed {a['seed']}; device {a['device']}, {a['threads']} threads.", "",
             "| steps | restarts | steps × restarts | clean acc. | robust acc. at ε | seconds |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['steps']} | {r['restarts']} | {r['grad_steps']} | {r['clean']:.3f} | {r['robust']:.3f} | {r['seconds']:.1f} |" for r in rows]
    lines += ["", f"Strongest measured: robust accuracy {strongest:.3f}. "
              + (f"Cheapest configuration with ≥ 20 steps within {tol:.4f} of it: **steps={pick['steps']}, restarts={pick['restarts']}** "
                 f"(robust accuracy {pick['robust']:.3f}, {pick['seconds']:.1f} s)." if pick else "No configuration with ≥ 20 steps is within the tolerance."), ""]
    out.parent.mkdir(parents=True, exist_ok=True); out.write_text('\n'.join(lines))
    out.with_suffix('.json').write_text(json.dumps(dict(meta, pick=pick), indent=1))
    print('\n'.join(lines))


if __name__ == '__main__': main()
