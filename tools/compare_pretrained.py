#!/usr/bin/env python
"""Compare trained MNIST-RTS set candidates (folders written by tools/make_pretrained.py): a markdown table of their
test metrics, size and decode cost, and a samples figure per set (x, x̃, reconstruction, members at growing radius).

    python tools/compare_pretrained.py pertlearn/pretrained/mnist-rts CANDIDATE ... --out benchmarks/results
"""
import argparse, json
from pathlib import Path
import torch
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt

def decode_mflop(ps)->float:
    "Forward FLOPs of one decode g(μ(x)+σ(x)⊙u, x) for one image (torch's FLOP counter: convolutions and matmuls)."
    from torch.utils.flop_counter import FlopCounterMode
    x, u = torch.rand(1, *ps.cvae.in_shape), torch.randn(1, ps.latent_dim)
    with FlopCounterMode(display=False) as fc, torch.no_grad(): ps.decode(u, x)
    return fc.get_total_flops() / 1e6

def samples_figure(ps, x, xt, path, seed=0, per_r=3):
    "Rows: a test digit, its real perturbation, the reconstruction, then random members on spheres of growing radius."
    g = torch.Generator().manual_seed(seed); radii = [ps.eps * f for f in (0.5, 1.0, 1.5)]
    with torch.no_grad():
        rec = ps.reconstruct(x, xt)
        samples = [ps.sample(x, per_r, eps=r, sampling='sphere', generator=g) for r in radii]
    k, cols = len(x), 3 + per_r * len(radii)
    fig, axs = plt.subplots(k, cols, figsize=(cols * 0.8, k * 0.85))
    for i in range(k):
        for j, im in enumerate([x[i], xt[i], rec[i]] + [s[i, j] for s in samples for j in range(per_r)]):
            axs[i, j].imshow(im[0], cmap='gray', vmin=0, vmax=1); axs[i, j].axis('off')
    for j, t in enumerate(['x', 'x̃', 'recon'] + [f'‖u‖={r:.1f}' for r in radii for _ in range(per_r)]): axs[0, j].set_title(t, fontsize=7)
    fig.tight_layout(); fig.savefig(path, dpi=90); plt.close(fig)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('folders', nargs='+'); p.add_argument('--out', default='benchmarks/results')
    a = p.parse_args()
    from pertlearn.perturbation import PerturbationSet
    from pertlearn.data.mnist_rts import load_mnist, mnist_rts_test_pairs
    x, xt, _ = mnist_rts_test_pairs(load_mnist('embedded'), 6)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    rows = ['| set | hparams | parameters | MB | decode MFLOP | identity | PGD approx | identity/PGD | encoder | expected (prior) | KL | ε | train s | command |',
            '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for f in map(Path, a.folders):
        r = json.loads((f/'report.json').read_text()); m = r['test_metrics']; ps = PerturbationSet.load(f)
        mb = sum(q.stat().st_size for q in f.iterdir() if q.is_file()) / 1e6
        rows.append(f"| {f.name} | {json.dumps(r['config']['hparams'])} | {r['n_params']:,} | {mb:.1f} | {decode_mflop(ps):.1f} | "
                    f"{m['identity']:.4f} | {m['approx_pgd']:.4f} | {m['identity_over_approx_pgd']:.1f} | {m['approx_encoder']:.4f} | "
                    f"{m['expected_prior']:.4f} | {m['kl']:.1f} | {r['eps']:.2f} | {r['train_seconds']:.0f} | `{r['command']}` |")
        samples_figure(ps, x, xt, out/f'samples_{f.name}.png')
    (out/'pretrained_candidates_table.md').write_text('\n'.join(rows) + '\n')
    print('\n'.join(rows))
