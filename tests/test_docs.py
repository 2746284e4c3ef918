"""The offline reader as a reader meets it (`pertlearn docs` on this checkout): every chapter, every committed
experiment report and the notes they link to are rendered; no link is dead; no page shows a machine or development
path, raw front matter, a kernel warning or a traceback; every chapter carries its API reference and `api.html` lists
every exported name. Then, in headless Chromium (from Debian's packages; `make test` installs it when missing), every
page loads without a script error, its search box finds pages, and its maths is typeset by MathJax in the STIX-Web fonts that ship, with no
"[Math Processing Error]". Without a browser the browser test is skipped and says why."""
import json, re, shutil, subprocess, urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip('nbconvert')

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    from pertlearn.app.docs import build_docs, docs_sources
    nbs, index = docs_sources(ROOT/'nbs')
    out = tmp_path_factory.mktemp('docs')/'_docs'
    build_docs(nbs, out, index=index, verbose=False)
    return out

def _pages(site): return sorted(p for p in site.rglob('*.html') if 'mathjax' not in p.relative_to(site).parts)

def test_every_page_rendered(site):
    from pertlearn.app.docs import chapters
    names = {p.relative_to(site).as_posix() for p in _pages(site)}
    want = {f'{p.stem}.html' for p in chapters(ROOT/'nbs')} | {'index.html', 'chapters.html', 'api.html'}
    want |= {p.relative_to(ROOT).with_suffix('.html').as_posix() for p in ROOT.glob('results/*/*.ipynb')}
    assert want <= names, sorted(want - names)
    front = (site/'index.html').read_text()
    for p in ROOT.glob('results/*/*.ipynb'):   # the front page links every committed report
        assert f'href="{p.relative_to(ROOT).with_suffix(".html").as_posix()}"' in front, p

def test_no_dead_links(site):
    from pertlearn.app.docs import check_links
    assert check_links(site) == []

BAD = {'a development path': re.compile(r'\.devdata|\.venv/'), 'a machine path': re.compile(r'/(?:home|root|work|tmp)/\w'),
       'raw front matter': re.compile(r'skip_exec'), 'a kernel warning': re.compile(r'without encryption|\[IPKernelApp\]'),
       'a traceback': re.compile(r'Traceback \(most recent call last\)')}

def _visible(page:Path)->str:
    "The text a reader can see: no style sheets or scripts, tags stripped."
    h = re.sub(r'(?s)<(style|script)\b.*?</\1>', ' ', page.read_text())
    return re.sub(r'<[^>]+>', ' ', h)

RULES = '91_app.docs.html'   # the chapter that writes these rules down: its code and tests quote what it removes

def test_nothing_a_reader_should_not_see(site):
    found = [f"{p.relative_to(site)}: {what}" for p in _pages(site) for what, rx in BAD.items()
             if rx.search(_visible(p)) and (p.name != RULES or what == 'a traceback')]
    assert found == [], found

def test_api_reference(site):
    import importlib, nbformat
    from pertlearn.app.docs import chapters, module_of
    index = (site/'api.html').read_text()
    for nb in chapters(ROOT/'nbs'):
        mod = module_of(nbformat.read(nb, as_version=4))
        if mod is None: continue
        page = (site/f'{nb.stem}.html').read_text()
        for name in importlib.import_module(mod).__all__:
            assert f'id="{name}"' in page, f"{nb.name}: no reference for {name}"
            assert f'href="{nb.stem}.html#{name}"' in index, f"api.html: no link to {name}"
    assert '# folder of the chapter notebooks' in (site/'91_app.docs.html').read_text()   # documented arguments shown

def test_navigation_and_search(site):
    idx = (site/'search-index.js').read_text()
    assert idx.startswith('window.PL_SEARCH = ') and json.loads(idx[len('window.PL_SEARCH = '):].rstrip(';\n'))
    for p in _pages(site):
        h = p.read_text()
        assert 'class="pl-side"' in h and 'id="pl-q"' in h, p
    assert 'class="pl-pn"' in (site/'07_attacks.html').read_text()

# ---- in a browser ----
PROBE = """<script>window.addEventListener('load', function () {
  function search() {   // type into the search box: the hits, and where the first one leads
    var q = document.getElementById('pl-q'); if (!q) return null;
    q.value = 'perturbation set'; q.dispatchEvent(new Event('input'));
    var a = document.querySelectorAll('#pl-res a'); return {hits: a.length, first: a.length ? a[0].href : null};
  }
  function done() {
    var fonts = []; document.fonts.forEach(function (f) { if (f.status === 'loaded') fonts.push(f.family); });
    var d = document.createElement('pre'); d.id = 'pl-probe';
    d.textContent = JSON.stringify({math: document.querySelectorAll('.MathJax, .MathJax_Display').length,
      tex: document.querySelectorAll('script[type^="math/tex"]').length, errors: document.querySelectorAll('.MathJax_Error').length,
      fonts: fonts, side: !!document.querySelector('aside.pl-side'), search: search()});
    document.body.appendChild(d);
  }
  if (window.MathJax && window.MathJax.Hub) MathJax.Hub.Queue(done); else done();
});</script>"""

def browser():
    return next((b for b in (shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome')) if b), None)

def _probe(page:Path, exe:str)->dict:
    "Open `page` (a copy with the probe added, beside it) in headless Chromium; the probe's findings and the console errors."
    copy = page.with_name('_probe_' + page.name)
    copy.write_text(page.read_text().replace('</body>', PROBE + '</body>', 1))
    try:
        r = subprocess.run([exe, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--enable-logging=stderr', '--v=0',
                            '--virtual-time-budget=30000', '--dump-dom', copy.as_uri()], capture_output=True, text=True, timeout=180)
    finally: copy.unlink()
    m = re.search(r'<pre id="pl-probe">(.*?)</pre>', r.stdout)
    res = json.loads(m[1].replace('&quot;', '"').replace('&amp;', '&')) if m else {'loaded': False}
    res['console'] = [l for l in r.stderr.splitlines() if 'CONSOLE' in l and ('Uncaught' in l or 'rror' in l)]
    return res

def test_in_a_browser(site):
    exe = browser()
    if exe is None: pytest.skip("no headless Chromium: `apt-get install chromium` (make test installs it where apt can)")
    pages = _pages(site)
    with ThreadPoolExecutor(2) as ex: found = dict(zip(pages, ex.map(lambda p: _probe(p, exe), pages)))
    problems = []
    for p, r in found.items():
        name = p.relative_to(site).as_posix()
        if 'fonts' not in r: problems.append(f"{name}: did not load"); continue
        if not r['side']: problems.append(f"{name}: no sidebar")
        if r['console']: problems.append(f"{name}: script errors {r['console'][:2]}")
        if r['errors']: problems.append(f"{name}: {r['errors']} MathJax errors")
        if r['tex'] and r['math'] < r['tex']: problems.append(f"{name}: {r['tex'] - r['math']} formulas not typeset")
        if not (r['search'] and r['search']['hits'] and Path(urllib.parse.urlparse(r['search']['first']).path).is_file()):
            problems.append(f"{name}: the search finds nothing, or leads nowhere ({r['search']})")
        if r['tex'] and not any(f.startswith('STIXMathJax') for f in r['fonts']): problems.append(f"{name}: maths not in the STIX-Web fonts ({r['fonts']})")
    assert problems == [], problems
    assert found[site/'07_attacks.html']['tex'] > 10   # the attacks chapter has formulas, and they were typeset

# ---- what is missing, said in one line ----
def _docs_without(module:str, *args, cwd:Path):
    "`pertlearn docs ARGS` in a fresh process where `module` cannot be imported (as after `pip install pertlearn` without the extra)."
    import os, sys
    code = f"import sys; sys.modules[{module!r}] = None; from pertlearn.app.cli import main; sys.exit(main(['docs', *sys.argv[1:]]))"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]))
    return subprocess.run([sys.executable, '-c', code, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)

def test_without_the_docs_extra(tmp_path):
    r = _docs_without('nbconvert', '--out', tmp_path/'site', cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.strip().count('\n') == 0 and "pip install 'pertlearn[docs]'" in r.stderr, r.stderr
    import nbformat   # nbconvert there, nbdev not: the pages are made, without an API reference, and the extra is named
    (tmp_path/'nbs').mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# A\n> a chapter'), nbformat.v4.new_code_cell('#| default_exp app.docs')])
    nbformat.write(nb, tmp_path/'nbs'/'00_a.ipynb')
    r = _docs_without('nbdev', '--nbs', tmp_path/'nbs', '--out', tmp_path/'site2', cwd=tmp_path)
    assert r.returncode == 0 and "nbdev is not installed (pip install 'pertlearn[docs]')" in r.stdout and 'Traceback' not in r.stderr, r.stdout + r.stderr
    assert (tmp_path/'site2'/'00_a.html').is_file()
