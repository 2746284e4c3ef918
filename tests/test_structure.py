"""The package's structure: modules import only from earlier chapters, nothing outside the app wing (`pertlearn.app`) imports
it, and committed files carry no machine paths."""
import ast, json, re, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT/'pertlearn'

def chapter_order()->dict:
    "Module name -> position of its notebook in reading order (notebook file names, sorted)."
    order = {}
    for i, nb in enumerate(sorted((ROOT/'nbs').glob('*.ipynb'))):
        for c in json.loads(nb.read_text())['cells']:
            m = re.search(r'^#\|\s*default_exp\s+(\S+)', ''.join(c['source']), re.M)
            if c['cell_type'] == 'code' and m: order[f"pertlearn.{m.group(1)}"] = (i, nb.name); break
    return order

def module_name(path:Path)->str:
    parts = path.relative_to(ROOT).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)

def resolve(level:int, name:str|None, path:Path)->str:
    "Absolute name of a (possibly relative) import in the module at `path`."
    if not level: return name or ''
    pkg = module_name(path).split('.')
    if path.name != '__init__.py': pkg = pkg[:-1]
    base = pkg[:len(pkg) - level + 1]
    return '.'.join(base + ([name] if name else []))

def imports(path:Path, text:str|None=None)->list[tuple[int, str]]:
    "(line, module) of every pertlearn import in a file: import statements anywhere, and importlib calls with a literal name."
    out = []
    for node in ast.walk(ast.parse(path.read_text() if text is None else text)):
        if isinstance(node, ast.Import): out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node.level, node.module, path)
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]   # `from pkg import submodule`
        elif isinstance(node, ast.Call):
            f = node.func; fname = f.attr if isinstance(f, ast.Attribute) else getattr(f, 'id', '')
            if fname in ('import_module', '__import__') and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                name = node.args[0].value
                if name.startswith('.'):
                    lvl = len(name) - len(name.lstrip('.'))
                    name = resolve(lvl, name.lstrip('.') or None, path)
                out.append((node.lineno, name))
    return [(l, m) for l, m in out if m == 'pertlearn' or m.startswith('pertlearn.')]

def chapter_of(mod:str, order:dict):
    "Chapter position of `mod`: its notebook's, or for a package the latest of its modules (importing it imports them)."
    if mod in order: return order[mod]
    inside = [v for k, v in order.items() if k.startswith(mod + '.')]
    return max(inside) if inside and mod != 'pertlearn' else None

def violations()->list[str]:
    order, bad = chapter_order(), []
    for path in sorted(PKG.rglob('*.py')):
        me = module_name(path)
        if path.name == '_modidx.py' or me not in order: continue   # package __init__ files are tables of contents, not chapters
        for line, mod in imports(path):
            ch = chapter_of(mod, order)
            if ch is not None and ch > order[me]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {me} ({order[me][1]}) imports {mod} ({ch[1]}), a later chapter")
    return bad

def test_every_module_has_a_chapter():
    order = chapter_order()
    mods = {module_name(p) for p in PKG.rglob('*.py') if p.name not in ('__init__.py', '_modidx.py')}
    assert mods <= set(order), f"modules without a notebook: {sorted(mods - set(order))}"

def test_imports_follow_chapter_order():
    bad = violations()
    assert not bad, 'imports against the reading order:\n' + '\n'.join(bad)

def test_the_import_check_can_fail():
    "A module that imports a later chapter (statement, function-level import or importlib call) is reported."
    order = chapter_order()
    first = min(order, key=order.get)
    src = "import importlib\nfrom . import cvae\ndef f():\n    from pertlearn.app.cli import main\n    importlib.import_module('pertlearn.app.runner')\n"
    found = [m for _, m in imports(PKG/(first.split('.')[-1] + '.py'), src)]
    assert {'pertlearn.app.cli', 'pertlearn.app.runner', 'pertlearn.cvae'} <= set(found), found
    assert chapter_of('pertlearn.app.cli', order) > order[first] and chapter_of('pertlearn.models', order) > order['pertlearn.cvae']

# The one exception: the docs reader imports the module of each chapter it renders, to write its API reference with
# nbdev's show_doc (chapter 91). That is reading the package, not depending on it, and nothing imports the reader.
READERS = {('pertlearn/app/docs.py', 'add_api_docs')}

def test_no_import_by_computed_name():
    "Every arrow shows in an import statement: no chapter imports a module by a name computed at run time (importlib), but the docs reader."
    order, bad = chapter_order(), []
    for path in sorted(PKG.rglob('*.py')):
        if module_name(path) not in order: continue
        tree = ast.parse(path.read_text())
        allowed = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and (path.relative_to(ROOT).as_posix(), f.name) in READERS for n in ast.walk(f)}
        for node in ast.walk(tree):
            f = getattr(node, 'func', None)
            if isinstance(node, ast.Call) and (getattr(f, 'attr', None) or getattr(f, 'id', None)) in ('import_module', '__import__') and id(node) not in allowed:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bad, 'imports by computed name:\n' + '\n'.join(bad)

def test_module_docstrings_point_to_what_exists():
    "Module docstrings link to no documentation site (there is none); the notebook each module names as its source exists."
    bad = []
    for path in sorted(PKG.rglob('*.py')):
        text = path.read_text()
        doc = ast.get_docstring(ast.parse(text)) or ''
        if re.search(r'https?://', doc): bad.append(f"{path.relative_to(ROOT)}: a URL in its docstring")
        m = re.search(r'^# AUTOGENERATED! DO NOT EDIT! File to edit: (\S+)\.$', text, re.M)
        if m and not (path.parent/m.group(1)).resolve().is_file(): bad.append(f"{path.relative_to(ROOT)}: no notebook {m.group(1)}")
    assert not bad, '\n'.join(bad)

APP = 'pertlearn.app'

def app_imports()->list[str]:
    "Imports of the app wing (command line, run registry, docs reader) by modules outside it."
    bad = []
    for path in sorted(PKG.rglob('*.py')):
        me = module_name(path)
        if path.name == '_modidx.py' or me == APP or me.startswith(APP + '.'): continue
        bad += [f"{path.relative_to(ROOT)}:{line}: {me} imports {mod}" for line, mod in imports(path) if mod == APP or mod.startswith(APP + '.')]
    return bad

def test_nothing_outside_the_app_wing_imports_it():
    "The science knows no command line: `pertlearn.app` sits above every other module, which never imports it."
    bad = app_imports()
    assert not bad, 'the app wing imported from below:\n' + '\n'.join(bad)

def test_app_wing_is_the_last_chapters():
    order = chapter_order()
    app = [v for k, v in order.items() if k.startswith(APP + '.')]
    assert app and min(app) > max(v for k, v in order.items() if not k.startswith(APP + '.')), sorted(order.values())

def test_the_app_check_can_fail():
    src = "def f():\n    from .app.runner import EXPERIMENTS\n    import pertlearn.app.cli\n"
    found = {m for _, m in imports(PKG/'from_pairs.py', src)}
    assert {'pertlearn.app.runner', 'pertlearn.app.cli'} <= found, found

# Absolute paths of the machine that produced a file: home folders, temporary folders, this checkout.
def _path_patterns()->list[str]:
    pats = [r'/home/[A-Za-z0-9_.-]+/', r'/Users/[A-Za-z0-9_.-]+/', r'/root/', r'/tmp/[A-Za-z0-9_.-]', r'/private/var/folders/',
            r'/var/folders/', r'[A-Za-z]:\\\\Users\\\\', r'/work/[A-Za-z0-9_.-]+/']
    pats.append(re.escape(str(ROOT)))
    return pats

def committed_files()->list[Path]:
    try: out = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError): pytest.skip('not a git checkout')
    return [ROOT/f for f in out.decode().split('\0') if f]

def path_hits(text:str)->list[str]:
    rx = re.compile('|'.join(f'(?:{p})' for p in _path_patterns()))
    return [m.group(0) for m in rx.finditer(text)]

def test_path_patterns_can_fail():
    assert path_hits('see ' + '/ho' + 'me/alice/run/params.json') and path_hits('{"out_dir": "' + str(ROOT) + '/_runs/x"}')
    assert path_hits('C:' + '\\\\Users\\\\bob\\\\x') and path_hits('/tm' + 'p/tmpab12/x.png')
    assert not path_hits('pertlearn/pretrained/mnist-rts/set.json') and not path_hits('https://github.com/x/y')

def test_no_machine_paths_in_committed_files():
    bad = []
    for f in committed_files():
        if f == Path(__file__).resolve() or not f.is_file() or f.suffix in ('.safetensors', '.png', '.pkl', '.gz', '.npz'): continue
        try: text = f.read_text()
        except UnicodeDecodeError: continue
        for i, line in enumerate(text.splitlines(), 1):
            hits = path_hits(line)
            if hits: bad.append(f"{f.relative_to(ROOT)}:{i}: {hits[0]}")
    assert not bad, 'absolute paths of a machine in committed files:\n' + '\n'.join(bad[:30])

# Every default is declared once: an experiment's in its notebook's parameters cell, which its profiles only change.
def profile_repeats()->list[str]:
    "Profile values of `EXPERIMENTS` equal to the notebook's own default (same value and type): a default said twice."
    from pertlearn.app.runner import EXPERIMENTS, PROFILES, notebook_parameters, experiments_dir
    bad = []
    for name, e in EXPERIMENTS.items():
        defaults = notebook_parameters(experiments_dir()/e['notebook'])
        for prof in PROFILES:
            bad += [f"{name} {prof}: {k}={v!r} is the notebook's default" for k, v in e.get(prof, {}).items()
                    if k in defaults and type(defaults[k]) is type(v) and defaults[k] == v]
    return bad

def test_profiles_state_only_what_they_change():
    bad = profile_repeats()
    assert not bad, 'profiles that repeat a notebook default:\n' + '\n'.join(bad)

def test_the_profile_check_can_fail(monkeypatch):
    from pertlearn.app import runner
    from pertlearn.app.runner import notebook_parameters, experiments_dir
    epochs = notebook_parameters(experiments_dir()/runner.EXPERIMENTS['mnist-rts']['notebook'])['epochs']
    monkeypatch.setitem(runner.EXPERIMENTS, 'mnist-rts', {**runner.EXPERIMENTS['mnist-rts'], 'full': dict(epochs=epochs)})
    assert profile_repeats() == [f"mnist-rts full: epochs={epochs!r} is the notebook's default"]
