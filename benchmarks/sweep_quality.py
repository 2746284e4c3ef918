"""Quality per CPU-minute: approximation quality of a learned MNIST-RTS set against wall time, over model size and budget.

Each configuration trains a CVAE on the embedded digits (MNIST-RTS pairs, as `pertlearn run mnist-rts --quick` does)
through the Python API, in its own subprocess with `torch.set_num_threads(--threads)` (default 2), then measures on
validation pairs held out of training: ε is the median offset on the first half of them, and the second half (at most
`n_test` pairs; never the test pairs the experiments report on) scores identity error ‖x − x̃‖², PGD approximation
error (latent PGD inside S(x) at radius ε) and their ratio identity/PGD (higher is better; the issue's target is ≥ 5), and the wall time of
training and of the whole configuration. Every configuration also writes a samples PNG (x, x̃, reconstruction and
random members at ‖u‖ = ε).

Grids (`--configs`):
  quick     the `mnist-rts --quick` profile: mnist_stn, ch ∈ {4, 8, 16}, stn_hidden (128, 64), latent ∈ {16, 32, 64},
            epochs ∈ {8, 16, 24, 32}, batch ∈ {64, 128}, all embedded training digits (72 configurations)
  learn     `pertlearn learn`'s architectures at its default budget (1000 optimizer steps, batch 64, latent 32) on 42×42
            pairs: mnist_conv / conv_pairs / mnist_stn, ch ∈ {8, 32} (6 configurations)
  learn-full  the same architectures, ch ∈ {8, 16, 32}, latent ∈ {16, 32, 64}, epochs ∈ {8, 16, 32} (81 configurations)
  focus     6 configurations around the quick profile (mnist_stn, stn_hidden (48, 32)): ch ∈ {4, 8, 12}, latent ∈ {16, 32},
            epochs ∈ {12, 16, 24}, batch ∈ {32, 64, 128}; what chose the quick profile on a 2-core machine
  tiny      2 configurations with tiny budgets (a smoke test in seconds)
  or a JSON list of configuration dicts, e.g. '[{"arch": "mnist_stn", "ch": 8, "latent": 32, "epochs": 4}]'

    python benchmarks/sweep_quality.py --configs quick --jobs 8      # 16 cores: 8 configurations at a time, 2 threads each
    python benchmarks/sweep_quality.py --configs tiny --jobs 2

Writes benchmarks/results/sweep_quality.csv, .md (the table) and .png (quality against wall time) and
benchmarks/results/sweep_samples/<config>.png. Results already in the CSV are kept and not re-run (`--rerun` to redo).
Needs only torch, fastai, fastcore, numpy, pandas, matplotlib, safetensors and mlxtend (no Jupyter, no papermill).
"""
from __future__ import annotations
import argparse, itertools, json, math, os, platform, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / 'results'
NAME = 'sweep_quality'
DEFAULTS = dict(arch='mnist_stn', ch=16, latent=128, stn_hidden=[512, 128], epochs=8, batch_size=64, lr_max=3e-3,
                n_train=None, n_test=300, pgd_steps=50, n_samples=8, seed=0)


def grid(name:str)->list[dict]:
    "The configurations of a named grid (or a JSON list)."
    if name == 'quick':
        return [dict(arch='mnist_stn', ch=c, stn_hidden=[128, 64], latent=l, epochs=e, batch_size=b)
                for c, l, e, b in itertools.product((4, 8, 16), (16, 32, 64), (8, 16, 24, 32), (64, 128))]
    if name == 'learn':   # `pertlearn learn`'s choices at its default budget (1000 optimizer steps at batch 64 = 15 epochs here)
        return [dict(arch=a, ch=c, latent=32, epochs=15, batch_size=64, **({'stn_hidden': [128, 64]} if a == 'mnist_stn' else {}))
                for a, c in itertools.product(('mnist_conv', 'conv_pairs', 'mnist_stn'), (8, 32))]
    if name == 'learn-full':
        return [dict(arch=a, ch=c, latent=l, epochs=e, batch_size=64)
                for a, c, l, e in itertools.product(('mnist_conv', 'conv_pairs', 'mnist_stn'), (8, 16, 32), (16, 32, 64), (8, 16, 32))]
    if name == 'focus':
        h = [48, 32]
        return [dict(arch='mnist_stn', ch=c, stn_hidden=h, latent=l, epochs=e, batch_size=b)
                for c, l, e, b in [(8, 32, 16, 64), (8, 32, 24, 128), (8, 32, 12, 32), (4, 32, 24, 64), (8, 16, 16, 64), (12, 32, 16, 64)]]
    if name == 'tiny':
        return [dict(arch='mnist_stn', ch=4, stn_hidden=[32, 16], latent=16, epochs=1, batch_size=64, n_train=256, n_test=32, pgd_steps=2, n_samples=2),
                dict(arch='mnist_conv', ch=8, latent=16, epochs=1, batch_size=64, n_train=256, n_test=32, pgd_steps=2, n_samples=2)]
    cfgs = json.loads(name)
    if not isinstance(cfgs, list) or not all(isinstance(c, dict) for c in cfgs): raise ValueError("--configs: 'quick', 'learn', 'tiny' or a JSON list of dicts")
    return cfgs


def key(cfg:dict)->str:
    "A file-name-safe name of a configuration (its non-default values)."
    c = {**DEFAULTS, **cfg}
    parts = [c['arch'], f"ch{c['ch']}", f"z{c['latent']}", f"e{c['epochs']}", f"b{c['batch_size']}"]
    if c['arch'] == 'mnist_stn': parts.append('h' + 'x'.join(map(str, c['stn_hidden'])))
    if c['n_train'] is not None: parts.append(f"n{c['n_train']}")
    return '_'.join(parts)


def model_kwargs(c:dict)->dict:
    if c['arch'] == 'mnist_stn': return dict(latent=c['latent'], ch=c['ch'], stn_hidden=list(c['stn_hidden']))
    if c['arch'] == 'mnist_conv': return dict(latent=c['latent'], ch=c['ch'], enc_ch=max(8, c['ch'] // 4))  # as `choose_arch`
    if c['arch'] == 'conv_pairs': return dict(in_ch=1, height=42, width=42, latent=c['latent'], ch=c['ch'])
    raise ValueError(f"unknown arch {c['arch']!r}")


def run_one(cfg:dict, threads:int, samples_dir:Path)->dict:
    "Train and evaluate one configuration in this process; returns its row."
    import torch
    torch.set_num_threads(threads)
    from pertlearn.utils import seed_everything, tune_allocator
    tune_allocator()
    import pertlearn.models.pairs  # registers conv_pairs
    from pertlearn.cvae import build_cvae
    from pertlearn.models.mnist import n_params
    from pertlearn.data.mnist_rts import load_mnist, mnist_rts_dls
    from pertlearn.train import train_cvae
    from pertlearn.perturbation import PerturbationSet
    from pertlearn.metrics import evaluate_set, summarize
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    c = {**DEFAULTS, **cfg}; t_all = time.perf_counter()
    seed_everything(c['seed']); dev = torch.device('cpu')
    data = load_mnist('embedded')
    dls = mnist_rts_dls(data, n_train=c['n_train'], bs=c['batch_size'], seed=c['seed'], device=dev, n_test=c['n_test'])
    seed_everything(c['seed'])
    model = build_cvae(c['arch'], **model_kwargs(c)); n_par = n_params(model)
    t0 = time.perf_counter()
    train_cvae(model, dls, c['epochs'], lr_max=c['lr_max'], recon='bce', progress=False)
    train_s = time.perf_counter() - t0
    # the validation pairs, split in two: the first half chooses ε, the second half scores (never the test pairs)
    xv, xtv = (torch.cat(t) for t in zip(*[(b[0], b[1]) for b in dls.valid]))
    h = len(xv) // 2; x_te, xt_te = xv[h:][:c['n_test']], xtv[h:][:c['n_test']]
    ps = PerturbationSet(model); ps.choose_eps((xv[:h], xtv[:h]), percentile=50)
    t0 = time.perf_counter()
    s = summarize(evaluate_set(ps, (x_te, xt_te), steps=c['pgd_steps'], n_samples=c['n_samples'], bs=250, seed=c['seed']))
    eval_s = time.perf_counter() - t0
    # samples: x, x̃, reconstruction, 4 random members at ‖u‖ = ε
    k = 6; g = torch.Generator().manual_seed(c['seed'])
    rec = ps.reconstruct(x_te[:k], xt_te[:k]); sm = ps.sample(x_te[:k], 4, sampling='sphere', generator=g)
    fig, axs = plt.subplots(k, 7, figsize=(7 * 0.9, k * 0.95))
    for i in range(k):
        for j, im in enumerate([x_te[i], xt_te[i], rec[i]] + [sm[i, m] for m in range(4)]):
            axs[i, j].imshow(im[0].cpu(), cmap='gray', vmin=0, vmax=1); axs[i, j].axis('off')
    for j, t in enumerate(['x', 'x̃', 'recon'] + ['‖u‖=ε'] * 4): axs[0, j].set_title(t, fontsize=7)
    fig.suptitle(key(cfg), fontsize=7); samples_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(samples_dir / f"{key(cfg)}.png", dpi=90, bbox_inches='tight'); plt.close(fig)
    import resource
    return dict(key=key(cfg), **{k_: (json.dumps(v) if isinstance(v, list) else v) for k_, v in c.items()},
                n_params=n_par, n_train_pairs=dls.train.n, eps=ps.eps, scored_on=f"{len(x_te)} validation pairs",
                steps=c['epochs'] * math.ceil(dls.train.n / c['batch_size']),
                identity=s['identity'], approx_pgd=s['approx_pgd'], identity_over_pgd=s['identity'] / max(s['approx_pgd'], 1e-12),
                expected=s.get('expected'), train_s=train_s, eval_s=eval_s, total_s=time.perf_counter() - t_all,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, threads=threads)


def run_subprocess(cfg:dict, threads:int, samples_dir:Path)->dict:
    "One configuration in a fresh Python process (its own allocator, threads and peak RSS)."
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    p = subprocess.run([sys.executable, __file__, '--one', json.dumps(cfg), '--threads', str(threads), '--samples-dir', str(samples_dir)],
                       capture_output=True, text=True, env=env)
    lines = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
    if p.returncode != 0 or not lines:
        return dict(key=key(cfg), error=(p.stderr.strip().splitlines() or ['no output'])[-1][:300])
    return json.loads(lines[-1][len('RESULT '):])


def write_outputs(rows:list[dict], out:Path, machine:str):
    import pandas as pd
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    df = pd.DataFrame(rows)
    df.to_csv(out / f'{NAME}.csv', index=False)
    ok = df[df.get('error', pd.Series(index=df.index, dtype=object)).isna()] if 'error' in df else df
    cols = ['key', 'arch', 'ch', 'latent', 'epochs', 'batch_size', 'n_params', 'identity', 'approx_pgd', 'identity_over_pgd', 'train_s', 'total_s', 'peak_rss_mb']
    t = ok.sort_values('identity_over_pgd', ascending=False)[[c for c in cols if c in ok]]
    md = [f"# Quality per CPU-minute sweep\n\n{machine}\n", "identity/PGD: identity error over PGD approximation error on validation pairs held out of training and of the choice of ε (higher is better).\n"]
    md.append('| ' + ' | '.join(t.columns) + ' |'); md.append('|' + '---|' * len(t.columns))
    for _, r in t.iterrows():
        md.append('| ' + ' | '.join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values) + ' |')
    if 'error' in df and df.error.notna().any():
        md.append('\nfailed: ' + '; '.join(f"{r.key}: {r.error}" for _, r in df[df.error.notna()].iterrows()))
    (out / f'{NAME}.md').write_text('\n'.join(md) + '\n')
    if len(ok):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for arch, d in ok.groupby('arch'):
            sc = ax.scatter(d.total_s / 60, d.identity_over_pgd, s=12 + 3 * d.epochs, label=arch, alpha=0.8)
        front = ok.sort_values('total_s'); best = front.identity_over_pgd.cummax(); pareto = front[front.identity_over_pgd >= best]
        ax.plot(pareto.total_s / 60, pareto.identity_over_pgd, 'k--', lw=1, label='best so far')
        for _, r in pareto.iterrows(): ax.annotate(r.key, (r.total_s / 60, r.identity_over_pgd), fontsize=5)
        ax.axhline(5, color='tab:red', lw=1, ls=':', label='target 5×')
        ax.set_xlabel('wall time of the configuration (min)'); ax.set_ylabel('identity / PGD error (higher is better)')
        ax.set_title('approximation quality against wall time', fontsize=9); ax.grid(alpha=0.3); ax.legend(fontsize=7)
        fig.savefig(out / f'{NAME}.png', dpi=120, bbox_inches='tight'); plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--configs', default='quick', help="'quick', 'learn', 'tiny' or a JSON list of configuration dicts")
    ap.add_argument('--jobs', type=int, default=1, help='configurations run in parallel (each in its own process)')
    ap.add_argument('--threads', type=int, default=2, help='torch threads per configuration')
    ap.add_argument('--out', default=str(RESULTS), help='results folder')
    ap.add_argument('--rerun', action='store_true', help='run the configurations asked for again even when in the CSV (other rows are kept)')
    ap.add_argument('--name', default='sweep_quality', help='base name of the CSV, table and plot in --out')
    ap.add_argument('--one', default=None, help=argparse.SUPPRESS)
    ap.add_argument('--samples-dir', default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one is not None:  # child: one configuration
        print('RESULT ' + json.dumps(run_one(json.loads(a.one), a.threads, Path(a.samples_dir)))); return 0
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    cfgs = grid(a.configs); rows = {}
    global NAME; NAME = a.name
    csv = out / f'{NAME}.csv'
    if csv.exists():   # rows of other configurations are always kept; --rerun redoes the ones asked for
        import pandas as pd
        rows = {r['key']: {k: v for k, v in r.items() if not (isinstance(v, float) and v != v)} for r in pd.read_csv(csv).to_dict('records')}
    todo = [c for c in cfgs if a.rerun or key(c) not in rows or 'error' in rows[key(c)]]
    import torch
    machine = (f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}; {a.jobs} configurations at a time, "
               f"{a.threads} threads each (wall times depend on the load: compare within one sweep).")
    print(f"{len(cfgs)} configurations, {len(todo)} to run, {a.jobs} at a time, {a.threads} threads each", flush=True)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max(1, a.jobs)) as ex:
        for cfg, r in zip(todo, ex.map(lambda c: run_subprocess(c, a.threads, out / 'sweep_samples'), todo)):
            rows[r['key']] = r
            msg = r.get('error') or f"identity/PGD {r['identity_over_pgd']:.2f} in {r['total_s']:.0f} s (train {r['train_s']:.0f} s)"
            print(f"[{time.perf_counter() - t0:6.0f} s] {r['key']}: {msg}", flush=True)
            write_outputs(list(rows.values()), out, machine)
    write_outputs(list(rows.values()), out, machine)
    print(f"wrote {out / NAME}.csv, .md and .png")
    return 0


if __name__ == '__main__':
    sys.exit(main())
