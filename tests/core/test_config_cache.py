"""The parsed copy of config.toml in the state dir: used while the file is unchanged, never after."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from lazyqueue.core import config_cache
from lazyqueue.core.config import load_config
from lazyqueue.core.errors import ConfigError

GOOD = '[worker]\nconcurrency = 3\n[kinds.encode]\ncommand = ["echo", "{input}"]\n'


def write_old(path, text, age=3600):
    """Write the config and date it back, as a file edited a while ago."""
    path.write_text(text)
    then = time.time() - age
    os.utime(path, (then, then))


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch, request):
    """The files here were just written (their ctime is now): treat them as settled unless a test says not."""
    if "racy" not in request.node.name:
        monkeypatch.setattr(config_cache, "RACY_S", 0.0)


@pytest.fixture
def state(tmp_path):
    home = tmp_path / "state"
    home.mkdir(mode=0o700)
    return home


def test_second_load_comes_from_the_copy(tmp_path, state):
    cfg = tmp_path / "c.toml"
    write_old(cfg, GOOD)
    assert load_config(cfg, cache_dir=state).concurrency == 3
    assert (state / config_cache.NAME).stat().st_mode & 0o777 == 0o600
    data, _key = config_cache.cached(cfg, state)
    assert data == {"worker": {"concurrency": 3}, "kinds": {"encode": {"command": ["echo", "{input}"]}}}
    assert load_config(cfg, cache_dir=state).kinds["encode"]


def test_an_edit_of_the_same_size_and_mtime_is_seen(tmp_path, state):
    cfg = tmp_path / "c.toml"
    write_old(cfg, GOOD)
    load_config(cfg, cache_dir=state)
    st = cfg.stat()
    cfg.write_text(GOOD.replace("3", "4"))  # same size
    os.utime(cfg, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime; ctime moves anyway
    assert load_config(cfg, cache_dir=state).concurrency == 4


def test_a_broken_edit_is_reported_not_hidden_by_the_copy(tmp_path, state):
    cfg = tmp_path / "c.toml"
    write_old(cfg, GOOD)
    load_config(cfg, cache_dir=state)
    write_old(cfg, GOOD + "[worker.oops\n", age=7200)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(cfg, cache_dir=state)


def test_a_just_written_file_is_not_copied_racy(tmp_path, state):
    cfg = tmp_path / "c.toml"
    cfg.write_text(GOOD)
    load_config(cfg, cache_dir=state)
    assert not (state / config_cache.NAME).exists()


def test_a_copy_others_could_write_is_ignored(tmp_path, state):
    cfg = tmp_path / "c.toml"
    write_old(cfg, GOOD)
    load_config(cfg, cache_dir=state)
    copy = state / config_cache.NAME
    planted = copy.read_text().replace('"concurrency": 3', '"concurrency": 9')
    copy.write_text(planted)
    copy.chmod(0o666)
    assert load_config(cfg, cache_dir=state).concurrency == 3


def test_add_with_a_config_does_not_import_the_toml_parser_once_copied(tmp_path, cli_env):
    cfg = tmp_path / "config.toml"
    write_old(cfg, GOOD)
    load_config(cfg, cache_dir=tmp_path / "home")  # the state dir does not exist yet: nothing copied
    (tmp_path / "home").mkdir(mode=0o700)
    load_config(cfg, cache_dir=tmp_path / "home")  # as an earlier add would have
    probe = ("import sys\nfrom lazyqueue.cli import main\nrc = main(['add', 'encode', 'input=x'])\n"
             "print('parsed' if 'tomllib' in sys.modules else 'copied', rc)")
    runs = [subprocess.run([sys.executable, "-c", probe], env=cli_env, capture_output=True, text=True)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr
    assert [r.stdout.split()[-2:] for r in runs] == [["copied", "0"]] * 2
    listing = subprocess.run([sys.executable, "-m", "lazyqueue", "ls", "--json"], env=cli_env,
                             capture_output=True, text=True, check=True).stdout
    assert listing.count('"encode"') == 2
