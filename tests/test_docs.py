"""Every command in README.md, docs/ and examples/ stays runnable: no documented command rots.

For each command line in a fenced code block that runs one of the project's scripts
(``tools/``, ``benchmarks/``, ``examples/``) or a ``make`` target, the test checks that

* the script, and every ``configs/...py`` the command names, exist;
* every ``--option`` it passes is an option of the script (read from the script's ``--help``;
  for ``tools/dist_*.sh`` and ``tools/slurm_train.sh``, of the Python tool they launch);
* the script is run by at least one test (its path appears in a test file) or by a ``make``
  target (the README's demo), so the command's behaviour is exercised, not just its spelling.
"""
import functools
import glob
import os.path as osp
import re
import shlex
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOC_FILES = sorted(
    [osp.join(ROOT, 'README.md')] + glob.glob(osp.join(ROOT, 'docs', '*.md')) +
    glob.glob(osp.join(ROOT, 'examples', '**', 'README.md'), recursive=True))
SCRIPT = re.compile(r'^(?:tools|benchmarks|examples)/[\w/.-]+\.(?:py|sh)$')
#: Shell launchers and the Python tool whose options they pass on.
LAUNCHED = {'tools/dist_train.sh': 'tools/train.py', 'tools/dist_test.sh': 'tools/test.py',
            'tools/slurm_train.sh': 'tools/train.py'}


def _code_blocks(text: str):
    """The contents of the fenced blocks that hold shell (no language, bash, sh, shell...)."""
    blocks, current, language = [], None, None
    for line in text.splitlines():
        fence = re.match(r'^\s*```\s*(\w*)', line)
        if fence and current is None:
            current, language = [], fence.group(1)
        elif fence:
            if language in ('', 'bash', 'sh', 'shell', 'console'):
                blocks.append('\n'.join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def _commands(path: str):
    """(file, command tokens) for each command line of the file's code blocks."""
    text = open(path, encoding='utf-8').read()
    for block in _code_blocks(text):
        for line in block.replace('\\\n', ' ').splitlines():
            line = line.split(' #')[0].strip()
            if not line or line.startswith('#'):
                continue
            try:
                tokens = shlex.split(line)
            except ValueError:
                continue
            while tokens and re.match(r'^[A-Z_]+=', tokens[0]):  # VAR=value prefixes
                tokens = tokens[1:]
            if tokens and (tokens[0].endswith('python') or tokens[0] in ('bash', 'sh')):
                tokens = tokens[1:]
            if tokens and (SCRIPT.match(tokens[0]) or tokens[0] == 'make'):
                yield osp.relpath(path, ROOT), tokens


COMMANDS = [cmd for path in DOC_FILES for cmd in _commands(path)]


def test_the_docs_document_commands():
    scripts = {tokens[0] for _, tokens in COMMANDS}
    assert {'tools/train.py', 'tools/test.py', 'tools/restore.py', 'make'} <= scripts, scripts


@functools.lru_cache(maxsize=None)
def _help(script: str) -> str:
    path = osp.join(ROOT, script)
    if script.endswith('.sh'):
        return open(path).read()
    proc = subprocess.run([sys.executable, path, '--help'], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f'{script} --help failed:\n{proc.stderr[-2000:]}'
    return proc.stdout


@functools.lru_cache(maxsize=None)
def _tests_text(folder: str = 'tests') -> str:
    """The text of every test file under ``folder`` (a script named in quotes there is run by the
    folder's tests, e.g. tests/benchmarks/ runs benchmarks/ scripts by file name)."""
    files = glob.glob(osp.join(ROOT, folder, '**', '*.py'), recursive=True)
    return '\n'.join(open(f, encoding='utf-8').read() for f in files)


@pytest.mark.parametrize('doc,tokens', COMMANDS,
                         ids=[f'{doc}:{" ".join(tokens)[:60]}' for doc, tokens in COMMANDS])
def test_documented_command_is_valid_and_exercised(doc, tokens):
    script, args = tokens[0], tokens[1:]
    if script == 'make':
        makefile = open(osp.join(ROOT, 'Makefile')).read()
        for target in args:
            assert re.search(rf'^{re.escape(target)}:', makefile, re.M), (doc, target)
        return
    assert osp.isfile(osp.join(ROOT, script)), f'{doc}: {script} does not exist'
    for arg in args:
        if re.match(r'^(?:configs|examples/[\w/]+/configs)/[\w/.-]+\.py$', arg):
            assert osp.isfile(osp.join(ROOT, arg)), f'{doc}: {arg} does not exist'
    options = [arg.split('=')[0] for arg in args if arg.startswith('--')]
    help_text = _help(LAUNCHED.get(script, script))
    for option in options:
        assert re.search(rf'{re.escape(option)}\b', help_text), \
            f'{doc}: {script} has no option {option}'
    folder, name = osp.split(script)
    exercised = (script in _tests_text() or script in open(osp.join(ROOT, 'Makefile')).read()
                 or f"'{name}'" in _tests_text(osp.join('tests', folder)))
    assert exercised, f'{doc}: {script} is run neither by a test nor by a make target'


#: A checkpoint path in the docs: the demo's, or a training run's work dir.
CHECKPOINT_PATH = re.compile(r'(?:demo_out|work_dirs)/[\w./-]+\.pth')


def _demo_checkpoint() -> str:
    """Where `make demo` leaves its model: the Makefile's DEMO_DIR, tools/demo.py's work dir in
    it, the demo config's last iteration (which the config's checkpoint hook saves)."""
    from mmengine.config import Config
    demo_dir = re.search(r'^DEMO_DIR \?= (\S+)', open(osp.join(ROOT, 'Makefile')).read(), re.M)[1]
    assert "cfg.work_dir = osp.join(out_dir, 'work_dir')" in open(
        osp.join(ROOT, 'tools', 'demo.py')).read()
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'restorekit_default_demo.py'))
    iters = cfg.train_cfg.max_iters
    assert iters % cfg.default_hooks.checkpoint.interval == 0
    return f'{demo_dir}/work_dir/iter_{iters}.pth'


def _run_checkpoint_problem(path: str, line: str) -> str:
    """Why ``path`` named on ``line`` is not a checkpoint a documented run writes ('' if it is)."""
    configs = re.findall(r'configs/([\w-]+)\.py', line)
    if path.startswith('demo_out/'):
        expected = _demo_checkpoint()
        if path != expected:
            return f'{path}: `make demo` writes {expected}'
        if configs and configs != ['restorekit_default_demo']:
            return f'{path} is a checkpoint of configs/restorekit_default_demo.py, not {configs}'
        return ''
    if path.startswith('work_dirs/pretrained/'):
        converted = {tokens[2] for _, tokens in COMMANDS
                     if tokens[0] == 'tools/convert_checkpoint.py' and len(tokens) > 2}
        return '' if path in converted else (
            f'{path}: no documented tools/convert_checkpoint.py command writes it')
    match = re.fullmatch(r'work_dirs/([\w-]+)/iter_(\d+)\.pth', path)
    if not match:
        return f'{path}: expected work_dirs/<config name>/iter_<N>.pth'
    name, step = match[1], int(match[2])
    config = osp.join(ROOT, 'configs', f'{name}.py')
    if not osp.isfile(config):
        return f'{path}: no configs/{name}.py trains into work_dirs/{name}'
    if configs and configs != [name]:
        return f'{path} is a checkpoint of configs/{name}.py, not {configs}'
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    if step > cfg.train_cfg.max_iters or step % cfg.default_hooks.checkpoint.interval:
        return (f'{path}: configs/{name}.py saves every {cfg.default_hooks.checkpoint.interval} '
                f'iterations up to {cfg.train_cfg.max_iters}')
    return ''


def test_documented_checkpoints_are_ones_a_documented_run_writes():
    """The CONFIG CHECKPOINT pair of every documented test / restore / web-app command (and of
    RestorationInferencer examples) is one a documented run writes: `make demo`'s model with its
    config, work_dirs/<config>/iter_<N>.pth of training that config, or a work_dirs/pretrained/
    file a documented tools/convert_checkpoint.py command writes. (Placeholders such as
    `model.pth` are not paths a reader would expect to exist.)"""
    pairs = [(doc, ' '.join(tokens[1:3]), tokens[2]) for doc, tokens in COMMANDS
             if tokens[0] in ('tools/test.py', 'tools/restore.py', 'tools/webui.py')
             and len(tokens) > 2 and CHECKPOINT_PATH.fullmatch(tokens[2])]
    for path in DOC_FILES:
        text = open(path, encoding='utf-8').read()
        for call in re.findall(r'RestorationInferencer\(([^)]*)\)', text):
            pairs += [(osp.relpath(path, ROOT), call, checkpoint)
                      for checkpoint in CHECKPOINT_PATH.findall(call)]
    assert len(pairs) >= 8
    problems = [f'{doc}: {problem}' for doc, line, checkpoint in pairs
                for problem in [_run_checkpoint_problem(checkpoint, line)] if problem]
    assert problems == []


@pytest.mark.parametrize('doc', ['README.md', 'docs/get_started.md'])
def test_the_demo_is_followed_by_restore_web_app_and_test_with_its_checkpoint(doc):
    demo_checkpoint = _demo_checkpoint()
    scripts = {tokens[0] for path, tokens in COMMANDS if path == doc and demo_checkpoint in tokens}
    assert {'tools/restore.py', 'tools/webui.py', 'tools/test.py'} <= scripts, scripts
