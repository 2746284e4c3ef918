"""Benchmark: how strong is each latent attack on a classifier that resists, and what does it cost per attacked example?

    python benchmarks/attack_strength.py            # about 15 CPU minutes; writes benchmarks/results/attack_strength.{md,json}

A classifier is trained with `LatentAdversarialTraining` at its former defaults (q75 radius, 3 PGD steps, the
former step rule, loss 'max'; quick-profile size, all embedded training digits) against the shipped set, so that it
resists weak attacks: on an undefended classifier every attack scores about 0 and strengths cannot be told apart.
It is then attacked on VALIDATION digits (the test split is never read here) at the median and q75 validation offsets by:
the former default `LatentPGD` (50 steps × 3 restarts), the medium profile's former 20-step PGD, the new default
`AutoLatentAttack` and the same with steps and restarts doubled (the convergence check), and the floor of 256 random
members. The cost is counted two ways per attacked example (the examples correctly classified at ε = 0): classifier
evaluations (examples passed through the model, each with one decode; exact, whatever else the machine is doing) and
seconds in one process (sensitive to other work on the machine). The
same cost is measured on a standard classifier (same size and epochs), where most examples break within a few
iterations and leave the batch. Rows measured by an interrupted run are reused from the cache folder (same models, same digits).

The second table measures inner attacks for adversarial training (few steps) on the same classifier: the robust
accuracy each leaves (higher = weaker) against the ensemble's, per gradient step.
"""
from __future__ import annotations
import argparse, json, time
from pathlib import Path
import torch, torch.nn as nn
from fastai.learner import Learner
import fastai.callback.progress, fastai.callback.schedule
from pertlearn.utils import seed_everything
from pertlearn.perturbation import PerturbationSet, offset_stats
from pertlearn.data.mnist_rts import load_mnist, mnist_rts_dls, mnist_rts_classif_dls
from pertlearn.data.core import EpochSetter
from pertlearn.models.classifiers import MNISTConvNet
from pertlearn.attacks import robust_accuracy, LatentPGD, LatentAPGD, AutoLatentAttack, RandomMembers
from pertlearn.robust import LatentAdversarialTraining
from pertlearn.metrics import format_accuracy

class Counting(nn.Module):
    "Wraps a classifier and counts the examples it evaluates (each evaluation of a latent attack decodes one member)."
    def __init__(self, m): super().__init__(); self.m, self.n = m, 0
    def forward(self, x): self.n += len(x); return self.m(x)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--n', type=int, default=300, help='validation digits attacked')
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--cache', default='_runs/bench_attack_strength', help='folder for the trained classifier (reused)')
    ap.add_argument('--out', default='benchmarks/results/attack_strength')
    ap.add_argument('--skip', nargs='*', default=[], help="parts to skip: 'strength', 'standard', 'doubled', 'grid', 'inner'")
    ap.add_argument('--threads', type=int, default=2, help='torch threads (1 when other work shares the machine)')
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads); seed_everything(0)
    data = load_mnist('embedded')
    ps = PerturbationSet.pretrained('mnist-rts')
    pairs = mnist_rts_dls(data, bs=64, seed=0, device='cpu', n_test=8)
    st = offset_stats(ps.offsets(pairs.valid)); radii = dict(median=st['median'], q75=st['q75'])
    cdls = mnist_rts_classif_dls(data, bs=64, seed=0, device='cpu', n_test=8)
    cache = Path(a.cache); cache.mkdir(parents=True, exist_ok=True); wpath = cache/'lat_former.pt'
    clf = MNISTConvNet(ch=16, hidden=64)
    t0 = time.time()
    if wpath.exists(): clf.load_state_dict(torch.load(wpath, weights_only=True))
    else:
        cb = LatentAdversarialTraining(ps, eps=radii['q75'], steps=3, loss='max', step_size=radii['q75'] * 2.5 / 3, seed=0)
        learn = Learner(cdls, clf, loss_func=nn.CrossEntropyLoss(), cbs=[EpochSetter(), cb])
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(a.epochs, 3e-3)
        torch.save(clf.state_dict(), wpath)
    clf.eval(); train_s = time.time() - t0
    std = MNISTConvNet(ch=16, hidden=64); spath = cache/'standard.pt'
    if spath.exists(): std.load_state_dict(torch.load(spath, weights_only=True))
    else:
        seed_everything(0); learn = Learner(cdls, std, loss_func=nn.CrossEntropyLoss(), cbs=[EpochSetter()])
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(a.epochs, 3e-3)
        torch.save(std.state_dict(), spath)
    std.eval()
    xs, ys = [], []
    for xb, yb in cdls.valid: xs.append(xb); ys.append(yb)
    x, y = torch.cat(xs)[:a.n], torch.cat(ys)[:a.n]
    eps = [0.0, radii['median'], radii['q75']]
    rows, cached = [], {}
    rows_file = cache/'rows.json'
    if rows_file.exists(): cached = json.loads(rows_file.read_text())   # rows measured by an earlier (interrupted) run, same model and digits
    def run(name, atk):
        if name in cached: rows.append(cached[name]); print('cached:', rows[-1], flush=True); return
        counter = Counting(atk.model); atk.model = counter
        t = time.time(); tab = robust_accuracy(atk, (x, y), eps, bs=150); s = time.time() - t
        atk.model = counter.m
        n_att = int(round(tab.accuracy[0] * len(x)))
        rows.append(dict(attack=name, clean=float(tab.accuracy[0]), median=float(tab.accuracy[1]), q75=float(tab.accuracy[2]),
                         n=len(x), seconds=s, seconds_per_attacked=s / max(n_att, 1), evals_per_attacked=counter.n / max(n_att, 1)))
        print(rows[-1], flush=True); cached[name] = rows[-1]; rows_file.write_text(json.dumps(cached, indent=1))
    if 'strength' not in a.skip:
        run('former default LatentPGD 50 steps x 3 restarts', LatentPGD(clf, ps, generator=0))
        run('former medium LatentPGD 20 steps x 1', LatentPGD(clf, ps, steps=20, restarts=1, generator=0))
        run('random members k=256 (floor)', RandomMembers(clf, ps, k=256, generator=0))
        run('AutoLatentAttack, 50 steps, 1 restart', AutoLatentAttack(clf, ps, steps=50, generator=0))
        run('AutoLatentAttack, 100 steps, 1 restart', AutoLatentAttack(clf, ps, steps=100, generator=0))
        run(f'AutoLatentAttack, default ({AutoLatentAttack(clf, ps).steps} steps, 1 restart)', AutoLatentAttack(clf, ps, generator=0))
    if 'standard' not in a.skip:   # the cost on a model that breaks easily: broken examples leave the batch
        run('standard model: former medium LatentPGD 20 steps x 1', LatentPGD(std, ps, steps=20, restarts=1, generator=0))
        run('standard model: AutoLatentAttack, 50 steps, 1 restart', AutoLatentAttack(std, ps, steps=50, generator=0))
        run(f'standard model: AutoLatentAttack, default ({AutoLatentAttack(std, ps).steps} steps, 1 restart)', AutoLatentAttack(std, ps, generator=0))
    if 'doubled' not in a.skip:
        run('AutoLatentAttack doubled (200 steps, 2 restarts)', AutoLatentAttack(clf, ps, steps=200, restarts=2, generator=0))
    # the ensemble's budget: steps against restarts, on the first 100 validation digits at q75
    grid = []
    if 'grid' not in a.skip:
        for st_, r_ in ((50, 1), (50, 3), (100, 1), (100, 3), (200, 1), (200, 2), (400, 2)):
            t = time.time(); tab = robust_accuracy(AutoLatentAttack(clf, ps, steps=st_, restarts=r_, generator=0), (x[:100], y[:100]), [0.0, radii['q75']], bs=100)
            grid.append(dict(steps=st_, restarts=r_, robust_q75=float(tab.accuracy[1]), n=int(tab.n[1]), seconds=time.time() - t)); print(grid[-1], flush=True)
    # inner attacks for training: few steps, at the training radius (q75)
    inner = []
    e = radii['q75']
    def run_inner(name, atk, grad_steps):
        if 'inner' in a.skip: return
        t = time.time(); tab = robust_accuracy(atk, (x, y), [0.0, e], bs=150); s = time.time() - t
        inner.append(dict(inner=name, grad_steps=grad_steps, robust_q75=float(tab.accuracy[1]), n=len(x), seconds=s)); print(inner[-1], flush=True)
    run_inner('former: PGD 3 steps, uniform random start, step 2.5ε/3', LatentPGD(clf, ps, steps=3, restarts=1, step_size=e * 2.5 / 3, generator=0), 3)
    run_inner('PGD 3 steps from u = 0, step ε/2', LatentPGD(clf, ps, steps=3, restarts=1, step_size=e / 2, random_start=False, generator=0), 3)
    run_inner('PGD 3 steps from u = 0, step ε', LatentPGD(clf, ps, steps=3, restarts=1, step_size=e, random_start=False, generator=0), 3)
    for k in (3, 5, 10):
        run_inner(f'APGD-CE {k} steps from u = 0', LatentAPGD(clf, ps, steps=k, generator=0), k)
        run_inner(f'APGD-DLR {k} steps from u = 0', LatentAPGD(clf, ps, steps=k, loss='dlr', generator=0), k)
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    prev = json.loads(out.with_suffix('.json').read_text()) if out.with_suffix('.json').exists() else {}
    if 'grid' in a.skip: grid = prev.get('grid', [])     # a skipped part keeps the rows of the last run that measured it
    if 'inner' in a.skip: inner = prev.get('inner', [])
    res = dict(radii=radii, n=len(x), train_seconds=train_s, attacks=rows, inner=inner, grid=grid)
    out.with_suffix('.json').write_text(json.dumps(res, indent=1))
    base = next((r for r in rows if r['attack'].startswith('former medium')), rows[0] if rows else None)
    base_std = next((r for r in rows if r['attack'].startswith('standard model: former medium')), base)
    lines = [f"# Attack strength on an adversarially trained classifier ({len(x)} validation digits)", "",
             f"Made by `python benchmarks/attack_strength.py --n {a.n} --threads {a.threads}" + (f" --skip {' '.join(a.skip)}" if a.skip else '') + f"` ({a.threads} CPU thread(s); skipped parts keep the rows of the last run that measured them). Radii: median {radii['median']:.3f}, q75 {radii['q75']:.3f} "
             "(validation offsets of the shipped set). Robust accuracy: lower is a stronger attack; 95% Wilson intervals.", "",
             "Cost per attacked example, over both radii: classifier evaluations (exact) and seconds (this process; other work on the "
             "machine inflates them); the ratios are against the former 20-step PGD on the same classifier. Broken examples leave the batch, "
             "so on a classifier whose examples break within a few iterations the ensemble costs less than 20-step PGD; on one that resists, "
             "every surviving example runs every member (members × steps iterations): that is the price of an attack that has converged.", "",
             "| attack | robust acc. at median | robust acc. at q75 | evaluations / attacked example | × 20-step PGD | s / attacked example | × 20-step PGD |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        b = base_std if r['attack'].startswith('standard') else base
        ev = f"{r['evals_per_attacked']:.0f} | {r['evals_per_attacked'] / b['evals_per_attacked']:.1f}×" if 'evals_per_attacked' in r and 'evals_per_attacked' in b else "— | —"
        lines.append(f"| {r['attack']} | {format_accuracy(r['median'], r['n'])} | {format_accuracy(r['q75'], r['n'])} | {ev} | "
                     f"{r['seconds_per_attacked']:.3f} | {r['seconds_per_attacked'] / b['seconds_per_attacked']:.1f}× |")
    if grid:
        lines += ["", "## The ensemble's budget (adversarially trained classifier, first 100 validation digits, q75)", "",
                  "| steps per member | random restarts per loss | robust acc. at q75 | seconds |", "|---|---|---|---|"]
        lines += [f"| {g['steps']} | {g['restarts']} | {format_accuracy(g['robust_q75'], g['n'])} | {g['seconds']:.0f} |" for g in grid]
    lines += ["", f"Clean accuracy {format_accuracy(rows[0]['clean'], len(x)) if rows else '—'}.", "",
              "## Inner attacks for adversarial training (at q75)", "", "| inner attack | gradient steps | robust acc. left at q75 | seconds |", "|---|---|---|---|"]
    for r in inner: lines.append(f"| {r['inner']} | {r['grad_steps']} | {format_accuracy(r['robust_q75'], r.get('n', prev.get('n', len(x))))} | {r['seconds']:.1f} |")
    out.with_suffix('.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))

if __name__ == '__main__': main()
