"""Where latent adversarial training spends its time, against standard training (issue 28's robust-training goal).

In one process, on the same data (embedded MNIST-RTS digits) and the same classifier (`MNISTConvNet(ch=16, hidden=64)`,
the mnist-rts-robust medium profile's), with the shipped set (`pretrained:mnist-rts`) at its q75 radius:

1. a short training of each method (`--epochs` one-cycle epochs on `--n_train` digits, batch `--bs`): standard, and
   `LatentAdversarialTraining` in each `--variants` configuration; process CPU time (user+sys of this process, one
   thread) and wall time, and the ratio to standard training;
2. the parts of one adversarial batch, timed alone at the same batch size (median of `--reps`): the prior, a decode,
   the classifier's forward, decode + classify + gradient to u (one attack iteration), entering `frozen_eval` (BN
   folding), the attack as a whole, and the training step on the joint [x, x_adv] batch.

3. with `--robust`: each trained classifier's accuracy on `--n_eval` validation digits (never test digits), clean and
   under `AutoLatentAttack(steps=--attack_steps)` at half the training radius and at it, with 95% Wilson intervals, and
   for each the same attack with doubled steps and restarts at the training radius (converged when it moves the
   number by less than half its interval).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/studies/robust_cost.py --epochs 2 --n_train 2048
    ... --seed 1    # another seed: the classifiers' initial weights, the training data's order and the attacks' starts
    ... --source pickle --data_path PATH/mnist.pkl.gz --n_train 6000 --epochs 5   # the medium profile's digits and budget
"""
from __future__ import annotations
import argparse, json, statistics, time
import torch, torch.nn as nn


def cpu(): return time.process_time()


def timed(f, reps):
    "Median process-CPU seconds of `f()` over `reps` calls (after one warm-up call)."
    f(); ts = []
    for _ in range(reps):
        t = cpu(); f(); ts.append(cpu() - t)
    return statistics.median(ts)


def robust_eval(clf, ps, x, y, eps, steps, bs=100):
    "Clean and robust accuracy (AutoLatentAttack) at eps/2 and eps, and the doubled attack at eps: a dict of (accuracy, ci) and the change."
    from pertlearn.attacks import AutoLatentAttack, robust_accuracy, attack_convergence
    atk = AutoLatentAttack(clf, ps, steps=steps, restarts=1, generator=0)
    c = cpu()
    rob = robust_accuracy(atk, (x, y), [0.0, eps / 2, eps], bs=bs)
    conv = attack_convergence(atk, (x, y), eps, n_random=32, bs=bs, main=rob)
    out = {f'eps={e:.3f}': dict(accuracy=float(a), ci=[float(l), float(h)]) for e, a, l, h in zip(rob.eps, rob.accuracy, rob.ci_low, rob.ci_high)}
    out['doubled at eps'] = dict(accuracy=conv['doubled']['accuracy'], ci=list(conv['doubled']['ci']))
    out['random members at eps'] = dict(accuracy=conv['random']['accuracy'], ci=list(conv['random']['ci']), k=conv['random']['k'])   # the floor (attack_convergence refuses an attack above it)
    out.update(n=len(x), converged=bool(conv['converged']), change_when_doubled=float(conv['change_when_doubled']), eval_cpu=cpu() - c)
    return out


def train(cdls, cb, epochs, lr, seed, ch, hidden):
    "Train a fresh classifier with callback `cb`: (model, CPU s, wall s)."
    from fastai.learner import Learner
    from fastai.metrics import accuracy
    import fastai.callback.schedule
    from pertlearn.utils import seed_everything
    from pertlearn.models.classifiers import MNISTConvNet
    from pertlearn.data.core import EpochSetter
    seed_everything(seed)
    clf = MNISTConvNet(ch=ch, hidden=hidden)
    learn = Learner(cdls, clf, loss_func=nn.CrossEntropyLoss(), metrics=accuracy, cbs=[EpochSetter()] + ([cb] if cb else []))
    c, w = cpu(), time.time()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr)
    return clf.eval(), cpu() - c, time.time() - w


def parts(ps, clf, x, y, eps, steps, reps):
    "CPU seconds of each part of one adversarial batch."
    import torch.nn.functional as F
    from pertlearn.attacks import frozen_eval
    from pertlearn.robust import LatentAdversarialTraining
    B, d = len(x), ps.latent_dim
    out = {}
    with frozen_eval(clf, ps.cvae):
        with torch.no_grad(): prior = ps.prior(x)
        u = torch.zeros(B, d)
        with torch.no_grad():
            out['prior (no grad)'] = timed(lambda: ps.prior(x), reps)
            out['decode (no grad)'] = timed(lambda: ps.decode(u, x, prior), reps)
            xa = ps.decode(u, x, prior)
            out['classifier forward (no grad)'] = timed(lambda: clf(xa), reps)
        def it():
            uu = u.clone().requires_grad_(True)
            v = F.cross_entropy(clf(ps.decode(uu, x, prior)), y, reduction='none')
            torch.autograd.grad(v.sum(), uu)
        out['one attack iteration: decode + classify + grad to u'] = timed(it, reps)
    def enter():
        with frozen_eval(clf, ps.cvae): pass
    out['enter and leave frozen_eval (BN folding)'] = timed(enter, reps)
    lat = LatentAdversarialTraining(ps, eps=eps, steps=steps)
    out[f'whole attack ({steps} APGD steps)'] = timed(lambda: lat.attack(x, y, 0, model=clf), reps)
    opt = torch.optim.SGD(clf.parameters(), 1e-3)
    xx, yy = torch.cat([x, x]), torch.cat([y, y])
    def trainstep(xb, yb):
        clf.train(); opt.zero_grad(); F.cross_entropy(clf(xb), yb).backward(); opt.step(); clf.eval()
    out['training step, clean batch (B)'] = timed(lambda: trainstep(x, y), reps)
    out['training step, joint batch (2B)'] = timed(lambda: trainstep(xx, yy), reps)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n_train', type=int, default=2048); p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--bs', type=int, default=128); p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--steps', type=int, default=3); p.add_argument('--reps', type=int, default=5)
    p.add_argument('--variants', default='[{}]', help="JSON list of LatentAdversarialTraining keyword dicts to time (besides steps; 'step_factor': PGD step = factor × radius)")
    p.add_argument('--robust', action='store_true'); p.add_argument('--n_eval', type=int, default=200)
    p.add_argument('--attack_steps', type=int, default=50)
    p.add_argument('--seed', type=int, default=0, help="seed of the classifiers' weights, the data order and the training attacks")
    p.add_argument('--source', default='embedded', choices=['embedded', 'pickle'], help="MNIST digits: the embedded 5,000 or full MNIST ('pickle', with --data_path)")
    p.add_argument('--data_path', default=None, help='mnist.pkl.gz for --source pickle')
    p.add_argument('--no_parts', action='store_true'); p.add_argument('--out', default=None, help='write the JSON here too')
    a = p.parse_args()
    torch.set_num_threads(1)
    from pertlearn.perturbation import PerturbationSet
    from pertlearn.data.mnist_rts import load_mnist, mnist_rts_classif_dls
    from pertlearn.robust import LatentAdversarialTraining
    ps = PerturbationSet.pretrained('mnist-rts')
    eps = float(ps.stats['q75'])   # the shipped set's q75 offset (on its own validation pairs)
    if a.source == 'pickle' and not a.data_path: p.error('--source pickle needs --data_path (a mnist.pkl.gz)')
    data = load_mnist(a.source, a.data_path)
    cdls = mnist_rts_classif_dls(data, n_train=a.n_train, bs=a.bs, seed=a.seed, n_test=1)
    res = dict(source=a.source, n_train=a.n_train, epochs=a.epochs, bs=a.bs, steps=a.steps, eps=eps, seed=a.seed, threads=torch.get_num_threads(), train={})
    if a.robust:
        xv = torch.cat([b[0] for b in cdls.valid])[:a.n_eval]; yv = torch.cat([b[1] for b in cdls.valid])[:a.n_eval]
    m0, c0, w0 = train(cdls, None, a.epochs, a.lr, a.seed, 16, 64)
    res['train']['standard'] = dict(cpu=c0, wall=w0)
    if a.robust: res['train']['standard']['robust'] = robust_eval(m0, ps, xv, yv, eps, a.attack_steps)
    print(f"standard: {c0:.1f} s CPU, {w0:.1f} s wall", flush=True)
    if a.robust: print('  ', json.dumps(res['train']['standard']['robust']), flush=True)
    for kw in json.loads(a.variants):
        kw = {'steps': a.steps, **kw}
        name = 'adversarial ' + json.dumps(kw, sort_keys=True)
        if 'step_factor' in kw: kw['step_size'] = kw.pop('step_factor') * eps   # PGD's step as a multiple of the radius
        m, c, w = train(cdls, LatentAdversarialTraining(ps, eps=eps, seed=a.seed, **kw), a.epochs, a.lr, a.seed, 16, 64)
        res['train'][name] = dict(cpu=c, wall=w, ratio_cpu=c / c0)
        print(f"{name}: {c:.1f} s CPU, {w:.1f} s wall, {c / c0:.2f}x standard", flush=True)
        if a.robust:
            res['train'][name]['robust'] = robust_eval(m, ps, xv, yv, eps, a.attack_steps)
            print('  ', json.dumps(res['train'][name]['robust']), flush=True)
        if a.out: open(a.out, 'w').write(json.dumps(res, indent=1))
    if not a.no_parts:
        from pertlearn.models.classifiers import MNISTConvNet
        torch.manual_seed(0); clf = MNISTConvNet(ch=16, hidden=64).eval()
        x, y = cdls.train.one_batch()
        res['parts_ms'] = {k: 1000 * v for k, v in parts(ps, clf, x, y, eps, a.steps, a.reps).items()}
        for k, v in res['parts_ms'].items(): print(f"  {k}: {v:.1f} ms", flush=True)
    if a.out: open(a.out, 'w').write(json.dumps(res, indent=1))


if __name__ == '__main__': main()
