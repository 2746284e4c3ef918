"The README is generated from index.ipynb and keeps its two set-up commands true."
import re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_in_step_with_index():
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'make_readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_has_exactly_two_setup_commands_that_exist():
    readme = (ROOT / 'README.md').read_text()
    block = re.search(r'```sh\n(.*?)```', readme, re.S).group(1)
    cmds = [l.split('#')[0].strip() for l in block.splitlines() if l.strip()]
    assert cmds == ['make quick', 'make test'], cmds
    mk = (ROOT / 'Makefile').read_text()
    assert re.search(r'^quick:', mk, re.M) and re.search(r'^test:', mk, re.M)
    assert 'make test' in (ROOT / '.ci' / 'run').read_text()
    # the main job is the quick MNIST-RTS run
    assert 'pertlearn run mnist-rts --quick' in mk
