"""Where an experiment's peak memory comes from: run its notebook's code cells one by one in this process, with the
parameters of a profile, and print for each cell its wall time, the peak resident memory reached while it ran (Linux
`VmHWM`, reset before each cell through /proc/self/clear_refs), the resident memory after it and the C heap in use
(glibc `mallinfo2`). A cell whose peak stands above the memory before it is where a run's peak can be lowered.

    python benchmarks/studies/cell_memory.py corruptions                    # the quick profile (minutes: a whole quick run)
    python benchmarks/studies/cell_memory.py illumination -p cert_batch 100 # a parameter changed
    python benchmarks/studies/cell_memory.py mnist-rts --save               # also write benchmarks/results/cell_memory_mnist-rts.txt

It runs what `pertlearn run NAME --quick` runs, in one process instead of a papermill kernel, with the allocator
settings `pertlearn run` applies (`tune_allocator`); figures are written to a temporary run folder. The peaks agree
with the kernel's `peak_rss_mb` within a few per cent: the kernel also holds its messaging and displayed outputs.
Linux only (VmHWM and clear_refs).
"""
from __future__ import annotations
import argparse, contextlib, ctypes, io, os, platform, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))   # this checkout's pertlearn


def status_mb()->dict:
    "VmHWM, VmRSS, RssAnon and RssFile of this process in MiB."
    with open('/proc/self/status') as f:
        return {l.split(':')[0]: int(l.split()[1]) / 1024 for l in f if l.startswith(('VmHWM', 'VmRSS', 'RssAnon', 'RssFile'))}

class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in 'arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost'.split()]

def heap_in_use_mb()->float:
    "Bytes the C heap has handed out and not had back (glibc `mallinfo2`: small chunks plus mmapped ones), in MiB; NaN without glibc 2.33."
    from pertlearn.speed import _glibc   # the C library where it is glibc, as tune_allocator and release_memory find it
    f = getattr(_glibc(), 'mallinfo2', None)
    if f is None: return float('nan')
    f.restype = _MallInfo2; m = f(); return (m.uordblks + m.hblkhd) / 2**20

def reset_peak():
    "Start VmHWM afresh from the current resident size (Linux: write 5 to /proc/self/clear_refs)."
    with open('/proc/self/clear_refs', 'w') as f: f.write('5')

def run(name:str, params:dict, profile:str='quick', out_dir:str|None=None, log=print)->list[dict]:
    "Execute experiment `name`'s code cells here with the profile's parameters; a row per cell."
    import nbformat
    from pertlearn.app.runner import EXPERIMENTS, experiment_params, experiments_dir
    from pertlearn.speed import tune_allocator
    tune_allocator()
    p = experiment_params(name, profile=profile, params=params)
    p['out_dir'] = out_dir or tempfile.mkdtemp(prefix=f'cellmem-{name}-')
    nb = nbformat.read(str(experiments_dir()/EXPERIMENTS[name]['notebook']), as_version=4)
    ns, rows, t_all = {}, [], time.time()
    for i, c in enumerate(nb.cells):
        if c.cell_type != 'code': continue
        if 'parameters' in c.metadata.get('tags', []):
            exec(c.source, ns); unknown = set(p) - set(ns) - {'quick'}
            if unknown: raise ValueError(f"{name} has no parameter(s) {sorted(unknown)}")
            ns.update(p); continue
        src = '\n'.join(l for l in c.source.splitlines() if not l.lstrip().startswith(('%', '!')))
        before = status_mb()['VmRSS']; reset_peak(); t0 = time.time()
        with contextlib.redirect_stdout(io.StringIO()): exec(compile(src, f'<{name} cell {i}>', 'exec'), ns)   # the notebook's own output is not shown
        s = status_mb()
        r = dict(cell=i, seconds=time.time() - t0, before=before, peak=s['VmHWM'], after=s['VmRSS'], anon=s['RssAnon'],
                 file=s['RssFile'], heap=heap_in_use_mb(), first_line=c.source.strip().splitlines()[0][:60])
        rows.append(r)
        log(f"{i:4d} {r['seconds']:7.1f} {r['before']:7.0f} {r['peak']:7.0f} {r['peak'] - r['before']:+6.0f} {r['after']:7.0f} "
            f"{r['anon']:6.0f} {r['file']:5.0f} {r['heap']:6.0f}  {r['first_line']}")
    log(f"whole run: {time.time() - t_all:.0f} s, peak {max(r['peak'] for r in rows):.0f} MiB")
    return rows


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('name', help='experiment: mnist-rts, mnist-rts-robust, corruptions or illumination')
    ap.add_argument('-p', nargs=2, action='append', default=[], metavar=('NAME', 'VALUE'), help='a parameter to change (as with pertlearn run)')
    ap.add_argument('--profile', default='quick', help='parameter profile (default quick)')
    ap.add_argument('--save', action='store_true', help='also write benchmarks/results/cell_memory_NAME.txt')
    args = ap.parse_args()
    if not sys.platform.startswith('linux'): sys.exit("cell_memory.py reads /proc/self/status and /proc/self/clear_refs: Linux only")
    from pertlearn.app.runner import parse_value
    params = {k: parse_value(v) for k, v in args.p}
    lines = []
    def log(s): print(s, flush=True); lines.append(s)
    import torch
    log(f"# python benchmarks/studies/cell_memory.py {args.name}" + ''.join(f' -p {k} {v}' for k, v in args.p) +
        (f' --profile {args.profile}' if args.profile != 'quick' else ''))
    log(f"# {os.cpu_count()} cores ({platform.machine()}), {torch.get_num_threads()} torch threads, Python {platform.python_version()}, torch {torch.__version__}")
    log("# memory in MiB; peak = VmHWM while the cell ran; heap = glibc heap in use after it")
    log(f"{'cell':>4} {'seconds':>7} {'before':>7} {'peak':>7} {'+peak':>6} {'after':>7} {'anon':>6} {'file':>5} {'heap':>6}  first line")
    run(args.name, params, args.profile, log=log)
    if args.save:
        out = ROOT/'benchmarks'/'results'/f'cell_memory_{args.name}.txt'
        from pertlearn.utils import atomic_write_text
        atomic_write_text(out, '\n'.join(lines) + '\n'); print(f"wrote {out.relative_to(ROOT)}")
