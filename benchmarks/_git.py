"""Old versions of this repository's files, read from its git history: the one place where the benchmarks that compare
with earlier code (`bench_perf`, `studies/bench_cifar`) call git, with one clear error where the history is missing."""
from __future__ import annotations
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def git(*args:str, what:str, text:bool=False)->str|bytes:
    "The output of `git -C REPO *args`; exits, saying `what` failed and why, where git or the history is missing."
    try: return subprocess.run(['git', '-C', str(REPO), *args], check=True, capture_output=True, text=text).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        err = getattr(e, 'stderr', None)
        err = (err.decode(errors='replace') if isinstance(err, bytes) else err or '').strip().rstrip('.') or str(e)
        raise SystemExit(f"{what}: {err}. The benchmarks that compare with earlier code need this repository's git "
                         "history (a full clone, not a wheel or a source copy); in a shallow clone, run "
                         "`git fetch --unshallow` first.") from None


def show(rev:str, path:str)->str:
    "The text of `path` at git revision `rev`."
    return git('show', f'{rev}:{path}', what=f'cannot read {path} at git revision {rev}', text=True)


def archive(rev:str, *paths:str)->bytes:
    "A tar archive of `paths` at git revision `rev` (`git archive`)."
    return git('archive', rev, *paths, what=f"cannot export {' '.join(paths)} at git revision {rev}")


def describe()->str:
    "`git describe --always --dirty` of the working tree; '?' where it cannot be read (only a label in the reports)."
    try: return git('describe', '--always', '--dirty', what='git describe', text=True).strip()
    except SystemExit: return '?'
