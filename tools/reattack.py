"""Re-attack the classifiers a robust MNIST-RTS run saved, with a stronger AutoLatentAttack, and record the numbers beside the run's own.

    python tools/reattack.py results/mnist-rts-robust-medium --steps 200 --restarts 1

Reads the run's `metrics.json` (which test digits were attacked, at which radii, with which set and data) and every
`classifiers/<method>-seed<k>.safetensors`; attacks each on the same digits at the same radii with
`AutoLatentAttack(steps, restarts)`; checks convergence (steps and restarts doubled, and the floor of 256 random
members) for the first seed's models at q75; writes `reattack.json`, `reattack.csv` and `reattack_convergence.png`
into the run folder. The verdict keys are recomputed with the run's rules (best only where 95% intervals separate).
"""
import argparse, json, sys, time
from pathlib import Path
import pandas as pd, torch

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('run', help='a mnist-rts-robust run folder (with metrics.json and classifiers/)')
    ap.add_argument('--steps', type=int, default=200); ap.add_argument('--restarts', type=int, default=1)
    ap.add_argument('--n-random', type=int, default=256); ap.add_argument('--bs', type=int, default=250)
    ap.add_argument('--seeds', type=int, nargs='*', default=None, help='only the classifiers of these seeds (default: all)')
    ap.add_argument('--threads', type=int, default=2, help='torch threads (1 when something else runs beside it)')
    a = ap.parse_args(argv)
    import pertlearn
    from pertlearn.perturbation import PerturbationSet
    from pertlearn.data.mnist_rts import load_mnist, mnist_rts_test_pairs
    from pertlearn.models.classifiers import load_classifier
    from pertlearn.attacks import AutoLatentAttack, robust_accuracy, attack_convergence, plot_convergence
    from pertlearn.metrics import format_accuracy, best_or_tie
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    torch.set_num_threads(a.threads)
    run = Path(a.run); m = json.loads((run/'metrics.json').read_text()); params = json.loads((run/'params.json').read_text())
    te = m['test_examples']; radii = m['radii']; na = te['first']
    origin = params.get('set_path')
    if origin is None: ps = PerturbationSet.load(run/'set')
    elif str(origin).startswith('pretrained:'): ps = PerturbationSet.pretrained(origin.split(':', 1)[1])
    else: ps = PerturbationSet.load(origin)
    dp = params.get('data_path'); dp = None if dp is None else str((run/dp).resolve()) if not Path(dp).is_absolute() else dp
    x, _, y = mnist_rts_test_pairs(load_mnist(params.get('source', 'embedded'), dp), n=te['n_test'])
    x, y = x[:na], y[:na]
    rows, conv = [], {}
    files = sorted((run/'classifiers').glob('*.safetensors'))
    if a.seeds is not None: files = [f for f in files if int(f.stem.rsplit('-seed', 1)[1]) in a.seeds]
    seeds = sorted({int(f.stem.rsplit('-seed', 1)[1]) for f in files})
    for f in files:
        meth, s = f.stem.rsplit('-seed', 1); s = int(s)
        clf = load_classifier(f)
        atk = AutoLatentAttack(clf, ps, steps=a.steps, restarts=a.restarts, generator=s)
        t0 = time.time(); tab = robust_accuracy(atk, (x, y), [0.0, radii['median'], radii['q75']], bs=a.bs)
        rows.append(dict(method=meth, seed=s, clean_attacked=float(tab.accuracy[0]), robust_median=float(tab.accuracy[1]), robust_q75=float(tab.accuracy[2]),
                         n=int(tab.n[0]), seconds=time.time() - t0))
        if s == seeds[0]:
            c = attack_convergence(atk, (x, y), radii['q75'], n_random=a.n_random, bs=a.bs, main=tab)
            conv[meth] = c
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows); df.to_csv(run/'reattack.csv', index=False)
    first = df[df.seed == seeds[0]].set_index('method')
    def best_of(col): return best_or_tie({k: (first.loc[k, col], na) for k in first.index})
    verdict = dict(best_robust_median=best_of('robust_median'), best_robust_q75=best_of('robust_q75'),
                   attack_converged=bool(all(c['converged'] for c in conv.values())))
    fig = plot_convergence(conv, title=f'AutoLatentAttack({a.steps} steps, {a.restarts} restart(s)) on the saved classifiers, seed {seeds[0]}, at q75'); fig.savefig(run/'reattack_convergence.png', dpi=80, bbox_inches='tight')
    out = dict(command=f"python tools/reattack.py {run.as_posix()} --steps {a.steps} --restarts {a.restarts}" + (f" --seeds {' '.join(map(str, a.seeds))}" if a.seeds is not None else ''), attack=f'AutoLatentAttack(steps={a.steps}, restarts={a.restarts})',
               n=na, radii={k: radii[k] for k in ('median', 'q75')}, results=rows, verdict=verdict,
               convergence={k: {**{kk: vv for kk, vv in c.items() if kk not in ('attack', 'doubled')},
                               'attack': {kk: vv for kk, vv in c['attack'].items() if kk != 'curve'},
                               'doubled': {kk: vv for kk, vv in c['doubled'].items() if kk != 'curve'}} for k, c in conv.items()})
    (run/'reattack.json').write_text(json.dumps(out, indent=1) + '\n')
    for meth in first.index:
        print(f"{meth}: median {format_accuracy(first.loc[meth, 'robust_median'], na)}, q75 {format_accuracy(first.loc[meth, 'robust_q75'], na)}")
    print(json.dumps(verdict))

if __name__ == '__main__': main()
