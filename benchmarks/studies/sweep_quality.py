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
  learn     `pertlearn learn`'s architectures at 15 epochs (810 optimizer steps at batch 64, about 80% of learn's 1000), latent 32, on 42×42
            pairs: mnist_conv / conv_pairs / mnist_stn, ch ∈ {8, 32} (6 configurations)
  learn-full  the same architectures, ch ∈ {8, 16, 32}, latent ∈ {16, 32, 64}, epochs ∈ {8, 16, 32} (81 configurations)
  focus     6 configurations around the quick profile (mnist_stn, stn_hidden (48, 32)): ch ∈ {4, 8, 12}, latent ∈ {16, 32},
            epochs ∈ {12, 16, 24}, batch ∈ {32, 64, 128}; what chose the quick profile on a 2-core machine
  tiny      2 configurations with tiny budgets (a smoke test in seconds)
  or a JSON list of configuration dicts, e.g. '[{"arch": "mnist_stn", "ch": 8, "latent": 32, "epochs": 4}]'

Other experiments (`--experiment`), each scored the same way on its own validation pairs:
  corruptions   `residual_small` CVAEs on the embedded corrupted digits (`pertlearn run corruptions --quick`'s data:
                1,500 images, 150 held out; each held-out image paired with all 12 training corruptions, 75 images choose
                ε, the other 75 × 12 pairs score, at most n_test of them). Grids: `quick` (one factor at a time around
                the quick profile: epochs, width, latent, blocks, batch; 9 configurations) and `tiny`.
  illumination  `illum_unet` CVAEs on the embedded relighting scenes (24 procedural scenes; 3 training scenes are held out
                as validation instead of the quick run's 1, so that ε and the score come from different scenes, 16 pairs
                each). Grids: `quick` (epochs, widths, latents, pairs per scene; 7 configurations) and `tiny`.
The default --name is sweep_quality for mnist-rts and sweep_<experiment> otherwise.

    python benchmarks/studies/sweep_quality.py --configs quick --jobs 8      # 16 cores: 8 configurations at a time, 2 threads each
    python benchmarks/studies/sweep_quality.py --configs tiny --jobs 2
    python benchmarks/studies/sweep_quality.py --experiment corruptions --configs quick --jobs 1 --threads 1

Writes benchmarks/results/sweep_quality.csv, .md (the table) and .png (quality against wall time) and
benchmarks/results/sweep_samples/<config>.png. Results already in the CSV are kept and not re-run (`--rerun` to redo).
Needs only pertlearn's dependencies (no Jupyter, no papermill).
"""
from __future__ import annotations
import argparse, itertools, json, os, platform, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / 'results'
NAME = 'sweep_quality'
EXPERIMENT = 'mnist-rts'   # set by --experiment (and passed to the child processes)
DEVICE = 'cpu'              # set by --device (and passed to the child processes): 'cuda' trains and scores on the GPU
ALL_DEFAULTS = {
    'mnist-rts': dict(arch='mnist_stn', ch=16, latent=128, stn_hidden=[512, 128], epochs=8, batch_size=64, lr_max=3e-3,
                      n_train=None, n_test=300, pgd_steps=50, n_samples=8, seed=0),
    # `pertlearn run corruptions --quick`: residual_small, the notebook's schedules (lr 1e-3 peaking at 40%, β to 0.01 by half-way)
    'corruptions': dict(arch='residual_small', latent=64, ch=16, mid=4, n_blocks=1, head_ch=4, epochs=15, batch_size=64,
                        lr_max=1e-3, beta_max=0.01, n_test=300, pgd_steps=20, n_samples=8, seed=0),
    # `pertlearn run illumination --quick`: illum_unet on 64×96 crops, train_cvae's default schedules
    'illumination': dict(arch='illum_unet', widths=[8, 16, 32, 32, 32], latents=[128, 64, 32, 16, 16], epochs=30, batch_size=8,
                         lr_max=2e-3, beta_max=1.0, repeats=4, n_valid=3, eval_pairs=16, crop=[64, 96], n_test=None,
                         pgd_steps=20, n_samples=8, seed=0),
    # `pertlearn run mnist-rts-robust --quick`: the shipped set, MNISTConvNet, one-cycle; standard and latent adversarial training
    'mnist-rts-robust': dict(set_path='pretrained:mnist-rts', n_train=1500, epochs=10, batch_size=64, lr=3e-3, clf_ch=16, clf_hidden=64,
                             adv_steps=3, train_radius='q75', n_eval=250, pgd_steps=20, seed=0),
}
DEFAULTS = ALL_DEFAULTS['mnist-rts']
SCORE = {'mnist-rts-robust': 'adv_robust'}   # the column the table is sorted by and the plot shows (default identity_over_pgd)


def grid(name:str)->list[dict]:
    "The configurations of a named grid of the current --experiment (or a JSON list)."
    if EXPERIMENT == 'corruptions' and name == 'quick':   # one factor at a time around the quick profile, plus the epochs curve
        base = dict(ch=16, latent=64, n_blocks=1, epochs=15, batch_size=64)
        return [base, {**base, 'epochs': 30}, {**base, 'epochs': 45}, {**base, 'ch': 32}, {**base, 'ch': 32, 'epochs': 30},
                {**base, 'latent': 32}, {**base, 'latent': 128}, {**base, 'n_blocks': 2}, {**base, 'batch_size': 32}]
    if EXPERIMENT == 'illumination' and name == 'quick':
        base = dict(widths=[8, 16, 32, 32, 32], latents=[128, 64, 32, 16, 16], epochs=30, repeats=4)
        return [base, {**base, 'epochs': 60}, {**base, 'epochs': 90}, {**base, 'repeats': 8},
                {**base, 'widths': [16, 32, 64, 64, 64]}, {**base, 'widths': [16, 32, 64, 64, 64], 'epochs': 60},
                {**base, 'latents': [64, 32, 16, 8, 8]}]
    if EXPERIMENT == 'mnist-rts-robust' and name == 'quick':   # data, epochs and width of the classifiers
        base = dict(n_train=1500, epochs=10, clf_ch=16, clf_hidden=64)
        return [base, {**base, 'epochs': 20}, {**base, 'n_train': 3500}, {**base, 'n_train': 3500, 'epochs': 5},
                {**base, 'clf_ch': 32, 'clf_hidden': 128}]
    if EXPERIMENT == 'mnist-rts-robust' and name == 'tiny':
        return [dict(n_train=128, epochs=1, adv_steps=1, n_eval=32, pgd_steps=2)]
    if EXPERIMENT in ('corruptions', 'illumination') and name == 'tiny':
        return ([dict(epochs=1, ch=8, latent=16, n_test=16, pgd_steps=2, n_samples=2)] if EXPERIMENT == 'corruptions' else
                [dict(epochs=1, widths=[4, 4, 4, 4, 4], repeats=1, eval_pairs=4, pgd_steps=2, n_samples=2)])
    if EXPERIMENT != 'mnist-rts' and name in ('quick', 'learn', 'learn-full', 'focus'):
        raise ValueError(f"grid {name!r} is an mnist-rts grid; {EXPERIMENT} has 'quick', 'tiny' or a JSON list")
    if name == 'quick':
        return [dict(arch='mnist_stn', ch=c, stn_hidden=[128, 64], latent=l, epochs=e, batch_size=b)
                for c, l, e, b in itertools.product((4, 8, 16), (16, 32, 64), (8, 16, 24, 32), (64, 128))]
    if name == 'learn':   # `pertlearn learn`'s choices at 15 epochs: 810 steps at batch 64 (learn's default is 1000 steps, 19 epochs here)
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
    "A file-name-safe name of a configuration."
    c = {**DEFAULTS, **cfg}
    if EXPERIMENT == 'corruptions':
        return f"res_ch{c['ch']}_mid{c['mid']}_nb{c['n_blocks']}_z{c['latent']}_e{c['epochs']}_b{c['batch_size']}"
    if EXPERIMENT == 'mnist-rts-robust':
        return f"convnet_ch{c['clf_ch']}_h{c['clf_hidden']}_n{c['n_train']}_e{c['epochs']}_b{c['batch_size']}_adv{c['adv_steps']}"
    if EXPERIMENT == 'illumination':
        j = lambda v: '-'.join(map(str, v))
        return f"unet_w{j(c['widths'])}_z{j(c['latents'])}_e{c['epochs']}_r{c['repeats']}_b{c['batch_size']}"
    parts = [c['arch'], f"ch{c['ch']}", f"z{c['latent']}", f"e{c['epochs']}", f"b{c['batch_size']}"]
    if c['arch'] == 'mnist_stn': parts.append('h' + 'x'.join(map(str, c['stn_hidden'])))
    if c['n_train'] is not None: parts.append(f"n{c['n_train']}")
    if c['lr_max'] != ALL_DEFAULTS['mnist-rts']['lr_max']: parts.append(f"lr{c['lr_max']:g}")
    if c['seed'] != 0: parts.append(f"s{c['seed']}")
    return '_'.join(parts)


def model_kwargs(c:dict)->dict:
    if c['arch'] == 'mnist_stn': return dict(latent=c['latent'], ch=c['ch'], stn_hidden=list(c['stn_hidden']))
    if c['arch'] == 'mnist_conv': return dict(latent=c['latent'], ch=c['ch'], enc_ch=max(8, c['ch'] // 4))  # as `choose_arch`
    if c['arch'] == 'conv_pairs': return dict(in_ch=1, height=42, width=42, latent=c['latent'], ch=c['ch'])
    if c['arch'] == 'residual_small': return dict(latent=c['latent'], ch=c['ch'], mid=c['mid'], n_blocks=c['n_blocks'], head_ch=c['head_ch'])
    if c['arch'] == 'illum_unet': return dict(latents=list(c['latents']), widths=list(c['widths']))
    raise ValueError(f"unknown arch {c['arch']!r}")


def train_mnist_rts(c, dev):
    "Train on MNIST-RTS pairs of the embedded digits; returns (model, dls, train_s, validation (x, x̃) for ε, for scoring)."
    import torch
    from pertlearn.utils import seed_everything
    from pertlearn.architectures import build_cvae
    from pertlearn.data.mnist_rts import load_mnist, mnist_rts_dls
    from pertlearn.train import train_cvae
    data = load_mnist('embedded')
    dls = mnist_rts_dls(data, n_train=c['n_train'], bs=c['batch_size'], seed=c['seed'], device=dev, n_test=c['n_test'])
    seed_everything(c['seed'])
    model = build_cvae(c['arch'], **model_kwargs(c)).to(dev)
    t0 = time.perf_counter()
    train_cvae(model, dls, c['epochs'], lr_max=c['lr_max'], recon='bce', progress=False)
    train_s = time.perf_counter() - t0
    # the validation pairs, split in two: the first half chooses ε, the second half scores (never the test pairs)
    xv, xtv = (torch.cat(t) for t in zip(*[(b[0], b[1]) for b in dls.valid]))
    h = len(xv) // 2
    return model, dls, train_s, (xv[:h], xtv[:h]), (xv[h:][:c['n_test']], xtv[h:][:c['n_test']])


def train_corruptions(c, dev):
    "Train on the embedded corrupted digits; ε from half the validation images × all training corruptions, score the other half."
    import torch
    from pertlearn.utils import seed_everything
    from pertlearn.architectures import build_cvae
    from pertlearn.data.corruptions import load_corruptions, corruption_dls, TRAIN_CORRUPTIONS, _pool
    from pertlearn.train import train_cvae, reference_schedules
    seed_everything(c['seed'])
    data = load_corruptions('embedded', n_test=500, seed=c['seed'])   # the quick run's data (cached after the first run)
    dls = corruption_dls(data, mode='clean', bs=c['batch_size'], seed=c['seed'], device=dev)
    seed_everything(c['seed'])
    in_ch, size = data.train.clean.shape[3], data.train.clean.shape[1]
    model = build_cvae(c['arch'], size=size, in_ch=in_ch, **model_kwargs(c))
    sch = reference_schedules(c['epochs'], c['lr_max'], c['beta_max'], beta_knots=[(0, 0), (0.5, 1), (1, 1)])
    t0 = time.perf_counter()
    train_cvae(model, dls, c['epochs'], schedules=sch, recon='mse', progress=False)
    train_s = time.perf_counter() - t0
    pool, va = _pool(data.train, TRAIN_CORRUPTIONS, in_ch, dev), dls.valid.items   # rows: clean, then each training corruption
    h = len(va) // 2
    def pairs(items):
        x = pool[0, items].float().div(255).repeat(len(TRAIN_CORRUPTIONS), 1, 1, 1)
        xt = torch.cat([pool[k, items] for k in range(1, len(TRAIN_CORRUPTIONS) + 1)]).float().div(255)
        return x, xt
    x_s, xt_s = pairs(va[h:])
    pick = torch.randperm(len(x_s), generator=torch.Generator().manual_seed(c['seed']))[:c['n_test']]
    return model, dls, train_s, pairs(va[:h]), (x_s[pick], xt_s[pick])


def train_illumination(c, dev):
    "Train on the embedded relighting scenes; the first validation scene's pairs choose ε, the other scenes' pairs score."
    import torch
    from pertlearn.utils import seed_everything
    from pertlearn.architectures import build_cvae
    from pertlearn.data.illumination import load_illumination, illumination_dls
    from pertlearn.train import train_cvae
    seed_everything(c['seed'])
    data = load_illumination('embedded', n_scenes=24, n_valid=c['n_valid'], seed=c['seed'])
    dls = illumination_dls(data, mode='random', bs=c['batch_size'], crop=c['crop'], repeats=c['repeats'], eval_pairs=c['eval_pairs'],
                           seed=c['seed'], device=dev)
    seed_everything(c['seed'])
    model = build_cvae('illum_unet', **model_kwargs(c))
    t0 = time.perf_counter()
    train_cvae(model, dls, c['epochs'], lr_max=c['lr_max'], beta_max=c['beta_max'], recon='mse', progress=False)
    train_s = time.perf_counter() - t0
    xv, xtv = (torch.cat(t) for t in zip(*[(b[0], b[1]) for b in dls.valid.batches(0)]))   # scene-major
    h = c['eval_pairs']
    return model, dls, train_s, (xv[:h], xtv[:h]), (xv[h:][:c['n_test']], xtv[h:][:c['n_test']])


def run_robust(cfg:dict, threads:int)->dict:
    "Standard and latent adversarial training of one classifier budget; clean, real-RTS and latent-PGD accuracy on validation digits."
    import torch, torch.nn as nn
    torch.set_num_threads(threads)
    from fastai.learner import Learner
    from fastai.metrics import accuracy
    import fastai.callback.schedule
    from pertlearn.utils import seed_everything
    from pertlearn.speed import tune_allocator, peak_rss_mb
    tune_allocator()
    from pertlearn.data.mnist_rts import load_mnist, mnist_rts_dls, mnist_rts_classif_dls, rts_perturb
    from pertlearn.data.core import EpochSetter
    from pertlearn.perturbation import PerturbationSet, offset_stats
    from pertlearn.models.classifiers import MNISTConvNet
    from pertlearn.attacks import robust_accuracy, LatentPGD
    from pertlearn.robust import LatentAdversarialTraining
    c = {**DEFAULTS, **cfg}; dev = torch.device('cpu'); t_all = time.perf_counter()
    seed_everything(c['seed'])
    data = load_mnist('embedded')
    ps = PerturbationSet.pretrained(c['set_path'].split(':', 1)[1], device=dev)
    pairs = mnist_rts_dls(data, n_train=c['n_train'], bs=64, seed=c['seed'], device=dev, n_test=8)
    radii = offset_stats(ps.offsets(pairs.valid))   # as the experiment: the set's offsets on validation pairs
    cdls = mnist_rts_classif_dls(data, n_train=c['n_train'], bs=c['batch_size'], seed=c['seed'], device=dev, n_test=8)
    xv, yv = (torch.cat(t) for t in zip(*[(b[0], b[1]) for b in cdls.valid]))
    xv_rts = rts_perturb(xv, torch.Generator().manual_seed(c['seed']))
    row = dict(key=key(cfg), experiment=EXPERIMENT, **{k: (json.dumps(v) if isinstance(v, list) else v) for k, v in c.items()},
               n_train_digits=cdls.train.n, n_valid_digits=len(xv), radius_median=radii['median'], radius_q75=radii['q75'])
    for m in ('standard', 'adversarial'):
        seed_everything(c['seed'])
        clf = MNISTConvNet(ch=c['clf_ch'], hidden=c['clf_hidden']).to(dev)
        cb = [LatentAdversarialTraining(ps, eps=radii[c['train_radius']], steps=c['adv_steps'], seed=c['seed'])] if m == 'adversarial' else []
        learn = Learner(cdls, clf, loss_func=nn.CrossEntropyLoss(), metrics=accuracy, cbs=[EpochSetter()] + cb)
        t0 = time.perf_counter()
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(c['epochs'], c['lr'])
        row[f'{m}_train_s'] = time.perf_counter() - t0
        clf.eval()
        with torch.no_grad():
            row[f'{m}_clean'] = float((clf(xv).argmax(1) == yv).float().mean())
            row[f'{m}_real_rts'] = float((clf(xv_rts).argmax(1) == yv).float().mean())
        rob = robust_accuracy(LatentPGD(clf, ps, steps=c['pgd_steps'], generator=torch.Generator().manual_seed(c['seed'])),
                              (xv[:c['n_eval']], yv[:c['n_eval']]), [radii['median'], radii['q75']], bs=128)
        row[f'{m}_pgd_median'], row[f'{m}_pgd_q75'] = map(float, rob.accuracy)
    row.update(adv_robust=(row['adversarial_pgd_median'] + row['adversarial_pgd_q75']) / 2,
               clean_drop=row['standard_clean'] - row['adversarial_clean'], train_s=row['standard_train_s'] + row['adversarial_train_s'],
               total_s=time.perf_counter() - t_all, peak_rss_mb=peak_rss_mb(), threads=threads)
    return row


TRAIN = {'mnist-rts': train_mnist_rts, 'corruptions': train_corruptions, 'illumination': train_illumination}


def run_one(cfg:dict, threads:int, samples_dir:Path)->dict:
    "Train and evaluate one configuration in this process; returns its row."
    if EXPERIMENT == 'mnist-rts-robust': return run_robust(cfg, threads)
    import torch
    torch.set_num_threads(threads)
    from pertlearn.utils import seed_everything, n_params
    from pertlearn.speed import tune_allocator, peak_rss_mb
    tune_allocator()
    import pertlearn.models.pairs, pertlearn.models.cifar, pertlearn.models.illumination  # register the architectures
    from pertlearn.perturbation import PerturbationSet
    from pertlearn.metrics import evaluate_set, summarize
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    c = {**DEFAULTS, **cfg}; t_all = time.perf_counter()
    seed_everything(c['seed']); dev = torch.device(DEVICE)
    model, dls, train_s, (x_eps, xt_eps), (x_te, xt_te) = TRAIN[EXPERIMENT](c, dev)
    n_par = n_params(model)
    ps = PerturbationSet(model); ps.choose_eps((x_eps, xt_eps), percentile=50)
    t0 = time.perf_counter()
    ebs = 16 if EXPERIMENT == 'illumination' else 250
    s = summarize(evaluate_set(ps, (x_te, xt_te), steps=c['pgd_steps'], n_samples=c['n_samples'], bs=ebs, seed=c['seed']))
    eval_s = time.perf_counter() - t0
    # samples: x, x̃, reconstruction, 4 random members at ‖u‖ = ε
    k = min(6, len(x_te)); g = torch.Generator(device=dev).manual_seed(c['seed'])
    rows = torch.linspace(0, len(x_te) - 1, k).long().to(dev)
    xs, xts = x_te[rows], xt_te[rows]
    with torch.no_grad(): rec = ps.reconstruct(xs, xts); sm = ps.sample(xs, 4, sampling='sphere', generator=g)
    show = lambda im: (im.permute(1, 2, 0) if im.shape[0] == 3 else im[0]).clamp(0, 1).cpu().numpy()
    w = xs.shape[-1] / xs.shape[-2]
    fig, axs = plt.subplots(k, 7, figsize=(7 * 0.9 * w, k * 0.95), squeeze=False)
    for i in range(k):
        for j, im in enumerate([xs[i], xts[i], rec[i]] + [sm[i, m] for m in range(4)]):
            axs[i, j].imshow(show(im), cmap='gray', vmin=0, vmax=1); axs[i, j].axis('off')
    for j, t in enumerate(['x', 'x̃', 'recon'] + ['‖u‖=ε'] * 4): axs[0, j].set_title(t, fontsize=7)
    fig.suptitle(key(cfg), fontsize=7); samples_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(samples_dir / f"{key(cfg)}.png", dpi=90, bbox_inches='tight'); plt.close(fig)
    return dict(key=key(cfg), experiment=EXPERIMENT, **{k_: (json.dumps(v) if isinstance(v, list) else v) for k_, v in c.items()},
                n_params=n_par, n_train_pairs=dls.train.n, eps=ps.eps, eps_pairs=len(x_eps), scored_on=f"{len(x_te)} validation pairs",
                steps=c['epochs'] * len(dls.train),   # optimizer steps: the loader's batches per epoch (a partial last batch is dropped)
                identity=s['identity'], approx_pgd=s['approx_pgd'], identity_over_pgd=s['identity'] / max(s['approx_pgd'], 1e-12),
                expected=s.get('expected'), train_s=train_s, eval_s=eval_s, total_s=time.perf_counter() - t_all,
                peak_rss_mb=peak_rss_mb(), threads=threads, device=DEVICE)


def run_subprocess(cfg:dict, threads:int, samples_dir:Path)->dict:
    "One configuration in a fresh Python process (its own allocator, threads and peak RSS)."
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    p = subprocess.run([sys.executable, __file__, '--one', json.dumps(cfg), '--threads', str(threads), '--samples-dir', str(samples_dir),
                        '--experiment', EXPERIMENT, '--device', DEVICE],
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
    robust = EXPERIMENT == 'mnist-rts-robust'
    score = SCORE.get(EXPERIMENT, 'identity_over_pgd')
    cols = (['key', 'clf_ch', 'n_train', 'epochs', 'batch_size', 'standard_clean', 'adversarial_clean', 'clean_drop', 'adversarial_real_rts',
             'adversarial_pgd_median', 'adversarial_pgd_q75', 'adv_robust'] if robust else
            ['key', 'arch', 'ch', 'mid', 'n_blocks', 'latent', 'widths', 'latents', 'repeats', 'epochs', 'batch_size', 'n_params',
             'identity', 'approx_pgd', 'identity_over_pgd']) + ['train_s', 'total_s', 'peak_rss_mb']
    t = ok.sort_values(score, ascending=False)[[c for c in cols if c in ok]] if len(ok) else ok
    what = ("adv_robust: latent-PGD accuracy of the adversarially trained classifier, mean of the median and q75 radii; clean_drop: "
            "standard minus adversarial clean accuracy; all on validation digits held out of training (never the test digits)."
            if robust else "identity/PGD: identity error over PGD approximation error on validation pairs held out of training and of the "
            "choice of ε (higher is better).")
    md = [f"# Quality per CPU-minute sweep: {EXPERIMENT}\n\n{machine}\n", what + "\n"]
    md.append('| ' + ' | '.join(t.columns) + ' |'); md.append('|' + '---|' * len(t.columns))
    for _, r in t.iterrows():
        md.append('| ' + ' | '.join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values) + ' |')
    if 'error' in df and df.error.notna().any():
        md.append('\nfailed: ' + '; '.join(f"{r.key}: {r.error}" for _, r in df[df.error.notna()].iterrows()))
    (out / f'{NAME}.md').write_text('\n'.join(md) + '\n')
    if len(ok):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for arch, d in ok.groupby('arch' if 'arch' in ok else 'experiment'):
            ax.scatter(d.total_s / 60, d[score], s=12 + 3 * d.epochs, label=arch, alpha=0.8)
        front = ok.sort_values('total_s'); best = front[score].cummax(); pareto = front[front[score] >= best]
        ax.plot(pareto.total_s / 60, pareto[score], 'k--', lw=1, label='best so far')
        for _, r in (ok if robust else pareto).iterrows():
            ax.annotate(r.key + (f" (clean −{r.clean_drop:.2f})" if robust else ''), (r.total_s / 60, r[score]), fontsize=5)
        if EXPERIMENT == 'mnist-rts': ax.axhline(5, color='tab:red', lw=1, ls=':', label='target 5×')
        ax.set_xlabel('wall time of the configuration (min)')
        ax.set_ylabel('adversarial training: latent-PGD accuracy' if robust else 'identity / PGD error (higher is better)')
        ax.set_title(f"{EXPERIMENT}: {'robust accuracy' if robust else 'approximation quality'} against wall time", fontsize=9)
        ax.grid(alpha=0.3); ax.legend(fontsize=7)
        fig.savefig(out / f'{NAME}.png', dpi=120, bbox_inches='tight'); plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--configs', default='quick', help="'quick', 'learn', 'tiny' or a JSON list of configuration dicts")
    ap.add_argument('--jobs', type=int, default=1, help='configurations run in parallel (each in its own process)')
    ap.add_argument('--threads', type=int, default=2, help='torch threads per configuration')
    ap.add_argument('--out', default=str(RESULTS), help='results folder')
    ap.add_argument('--rerun', action='store_true', help='run the configurations asked for again even when in the CSV (other rows are kept)')
    ap.add_argument('--experiment', default='mnist-rts', choices=sorted(ALL_DEFAULTS), help='whose pairs and CVAE (default mnist-rts)')
    ap.add_argument('--name', default=None, help='base name of the CSV, table and plot in --out (default sweep_quality for mnist-rts, else sweep_<experiment>)')
    ap.add_argument('--device', default='cpu', help="'cpu' (default) or 'cuda': where each configuration trains and is scored (mnist-rts only)")
    ap.add_argument('--one', default=None, help=argparse.SUPPRESS)
    ap.add_argument('--samples-dir', default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    global EXPERIMENT, DEFAULTS, NAME, DEVICE
    EXPERIMENT, DEFAULTS, DEVICE = a.experiment, ALL_DEFAULTS[a.experiment], a.device
    if DEVICE != 'cpu' and EXPERIMENT != 'mnist-rts': ap.error('--device cuda is for the mnist-rts sweeps only')
    NAME = a.name or ('sweep_quality' if EXPERIMENT == 'mnist-rts' else f"sweep_{EXPERIMENT}")
    if a.one is not None:  # child: one configuration
        print('RESULT ' + json.dumps(run_one(json.loads(a.one), a.threads, Path(a.samples_dir)))); return 0
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    cfgs = grid(a.configs); rows = {}
    csv = out / f'{NAME}.csv'
    if csv.exists():   # rows of other configurations are always kept; --rerun redoes the ones asked for
        import pandas as pd
        rows = {r['key']: {k: v for k, v in r.items() if not (isinstance(v, float) and v != v)} for r in pd.read_csv(csv).to_dict('records')}
    todo = [c for c in cfgs if a.rerun or key(c) not in rows or 'error' in rows[key(c)]]
    import torch
    gpu = f", {torch.cuda.get_device_name()} (training and scoring on it)" if DEVICE == 'cuda' else ''
    machine = (f"Machine: {platform.machine()}, {os.cpu_count()} CPUs{gpu}, torch {torch.__version__}; {a.jobs} configurations at a time, "
               f"{a.threads} threads each (wall times depend on the load: compare within one sweep).")
    print(f"{len(cfgs)} configurations, {len(todo)} to run, {a.jobs} at a time, {a.threads} threads each", flush=True)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max(1, a.jobs)) as ex:
        for cfg, r in zip(todo, ex.map(lambda c: run_subprocess(c, a.threads, out / 'sweep_samples'), todo)):
            rows[r['key']] = r
            sc = SCORE.get(EXPERIMENT, 'identity_over_pgd')
            msg = r.get('error') or f"{sc} {r[sc]:.3f} in {r['total_s']:.0f} s (train {r['train_s']:.0f} s)"
            print(f"[{time.perf_counter() - t0:6.0f} s] {r['key']}: {msg}", flush=True)
            write_outputs(list(rows.values()), out, machine)
    write_outputs(list(rows.values()), out, machine)
    print(f"wrote {out / NAME}.csv, .md and .png")
    return 0


if __name__ == '__main__':
    sys.exit(main())
