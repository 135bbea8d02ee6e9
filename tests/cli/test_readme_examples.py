"""Every example in README.md runs as written.

The README's fenced blocks are read in order:
- ```sh blocks: each line is run with bash in the scratch directory of its
  block and must exit 0 without a traceback. A line that sets a variable
  (`TOKEN=$(…)`) hands it to the lines after it. A line whose comment says
  `until Ctrl-C` runs until stopped: it is started, seen to be up (it printed
  something, or it is listed in `workers/` as a worker), then sent Ctrl-C
  (SIGINT) and must end cleanly.
- ```python blocks run as a script and must exit 0 with nothing on stderr.
- ```toml blocks are loaded as the config (`lazyqueue kinds`) and must load.
- a ``` block whose lines start with `$ ` is a transcript: its commands run,
  and what they print must read as shown (a pid may be any number).

A block that cannot run unattended has, on the line before it,
`<!-- readme-test: skip — REASON -->` (it installs packages, opens the TUI,
needs a PostgreSQL server). Keep those few: MAX_SKIPPED holds the count.

Each block gets its own state directory (so task ids start at 1, as the
README's ids assume), HOME, and autostart on (as a user has it); every
background worker it started is stopped afterwards. Stand-ins, so nothing
leaves the machine and no real program is needed:
- `lazyqueue` on PATH runs this checkout;
- ffmpeg, make and restic are small scripts that print what they were given;
  jobs.txt, publish.sh and encode.sh are in the scratch directory;
- $EDITOR is `true` (it opens the file and leaves it as it was);
- https://example.org and https://api.example.org are a local HTTP server
  (a file to download, a remote job that answers ready);
- 127.0.0.1:8765 is a `lazyqueue serve` the test starts on a free port.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ..conftest import ROOT, wait_until
from .helpers import pid_gone

README = ROOT / "README.md"
MAX_SKIPPED = 3  # the quick start (pip install, the TUI), the cluster (PostgreSQL), development (pip, the suite)
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*[—:-]\s*(\S.*?)\s*-->")
LINE_TIMEOUT = 90


class Block:
    def __init__(self, lang: str, start: int, lines: list[str], skip: str | None):
        self.lang, self.start, self.lines, self.skip = lang, start, lines, skip

    @property
    def name(self) -> str:
        return f"README.md:{self.start} ({self.lang or 'transcript'})"


def readme_blocks() -> list[Block]:
    blocks, lines = [], README.read_text().splitlines()
    n = 0
    while n < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[n])
        if not fence:
            n += 1
            continue
        start, body = n + 1, []
        n += 1
        while n < len(lines) and not lines[n].startswith("```"):
            body.append(lines[n])
            n += 1
        before = next((lines[k] for k in range(start - 2, -1, -1) if lines[k].strip()), "")
        skip = SKIP.search(before)
        blocks.append(Block(fence.group(1), start, body, skip.group(1) if skip else None))
        n += 1
    return blocks


def runnable(block: Block) -> bool:
    if block.lang in ("sh", "python", "toml"):
        return True
    return block.lang == "" and any(line.startswith("$ ") for line in block.lines)


BLOCKS = [b for b in readme_blocks() if runnable(b)]


def test_the_readme_has_examples_and_skips_few():
    langs = [b.lang for b in BLOCKS if b.skip is None]
    assert langs.count("sh") >= 2 and "python" in langs and "toml" in langs and "" in langs, langs
    skipped = [b.name for b in BLOCKS if b.skip is not None]
    assert len(skipped) <= MAX_SKIPPED, f"more README blocks skipped than before: {skipped}"


# ---------------------------------------------------------------- stand-ins
STUB = """#!/bin/sh
echo "$(basename "$0") $*"
"""


class Remote(http.server.BaseHTTPRequestHandler):
    """example.org: /big.iso is a file; api.example.org: /jobs/42 is a remote job that is ready."""

    BODY = b"x" * 4096

    def do_GET(self):
        if self.path.endswith(".iso"):
            self._answer(200, self.BODY, "application/octet-stream")
        elif self.path.startswith("/jobs/"):
            base = f"http://{self.headers['Host']}"
            self._answer(200, json.dumps({"state": "ready", "download_url": f"{base}/big.iso"}).encode())
        else:
            self._answer(404, b"{}")

    def do_POST(self):
        self._answer(200, b"{}")

    def _answer(self, code: int, body: bytes, kind: str = "application/json"):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def remote():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Remote)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Scratch:
    """One block's world: a directory, a state dir, HOME, the stand-ins, the environment."""

    def __init__(self, root: Path, remote: str):
        self.dir = root / "work"
        self.home = root / "state"
        self.user_home = root / "user"
        bin_dir = root / "bin"
        for path in (self.dir, self.user_home / "docs", bin_dir):
            path.mkdir(parents=True)
        (bin_dir / "lazyqueue").write_text(f'#!/bin/sh\nexec {sys.executable} -m lazyqueue "$@"\n')
        for name in ("ffmpeg", "make", "restic"):
            (bin_dir / name).write_text(STUB)
        for name in ("publish.sh", "encode.sh"):
            (self.dir / name).write_text(STUB)
        for path in [*bin_dir.iterdir(), self.dir / "publish.sh", self.dir / "encode.sh"]:
            path.chmod(0o755)
        (self.dir / "jobs.txt").write_text("echo first\necho second\n")
        (root / "config.toml").write_text("")
        self.remote = remote
        self.serve_url: str | None = None
        self.env = dict(os.environ)
        for name in ("LAZYQUEUE_BACKEND", "VISUAL"):
            self.env.pop(name, None)
        self.env.update(
            LAZYQUEUE_HOME=str(self.home), LAZYQUEUE_CONFIG=str(root / "config.toml"), LAZYQUEUE_AUTOSTART="1",
            HOME=str(self.user_home), EDITOR="true", PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", NO_COLOR="1",
            PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        )
        self.started: list[subprocess.Popen] = []

    def local(self, line: str) -> str:
        """The line with its URLs pointed at the stand-ins."""
        line = line.replace("https://api.example.org", self.remote).replace("https://example.org", self.remote)
        if self.serve_url is not None:
            line = line.replace("http://127.0.0.1:8765", self.serve_url)
        return line

    def bash(self, line: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", line], cwd=self.dir, env=self.env, capture_output=True, text=True,
                              timeout=LINE_TIMEOUT, **kw)

    def serve(self) -> None:
        """A `lazyqueue serve` on a free port, for the examples that talk to 127.0.0.1:8765."""
        out = self.dir.parent / "serve.out"
        with open(out, "w") as fh:
            proc = subprocess.Popen([sys.executable, "-m", "lazyqueue", "serve", "--port", "0"], cwd=self.dir,
                                    env=self.env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(proc)
        found = wait_until(lambda: re.search(r"on (http://127\.0\.0\.1:\d+)", out.read_text()) or proc.poll() is not None,
                           timeout=30, message="lazyqueue serve to listen")
        assert proc.poll() is None, out.read_text()
        self.serve_url = found.group(1)

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        subprocess.run([sys.executable, "-m", "lazyqueue", "worker", "stop"], env=self.env, capture_output=True,
                       timeout=60)
        for record in (self.home / "workers").glob("*.json") if (self.home / "workers").is_dir() else ():
            try:
                pid = json.loads(record.read_text())["pid"]
            except (ValueError, KeyError, OSError):
                continue
            if not pid_gone(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def scratch(tmp_path, remote):
    world = Scratch(tmp_path, remote)
    yield world
    world.close()


# ---------------------------------------------------------------- running the blocks
def _commands(block: Block) -> list[tuple[int, str]]:
    """(README line number, command) for each line that is not blank or a comment; a line ending in
    a backslash goes on on the next one."""
    commands: list[tuple[int, str]] = []
    going_on = False
    for k, line in enumerate(block.lines):
        if going_on:
            commands[-1] = (commands[-1][0], commands[-1][1] + "\n" + line)
        elif line.strip() and not line.lstrip().startswith("#"):
            commands.append((block.start + 1 + k, line))
        else:
            continue
        going_on = line.rstrip().endswith("\\")
    return commands


def _clean(proc, what: str) -> None:
    assert proc.returncode == 0, f"{what} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr + proc.stdout, f"{what} printed a traceback\n{proc.stderr}"


def _until_stopped(scratch: Scratch, line: str, what: str) -> None:
    """Start the line, see it up, Ctrl-C it: it must stop cleanly."""
    out = scratch.dir.parent / "until-stopped.out"
    with open(out, "w") as fh:
        proc = subprocess.Popen(["bash", "-c", f"exec {line}"], cwd=scratch.dir, env=scratch.env, stdout=fh,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    scratch.started.append(proc)

    def listed() -> bool:
        folder = scratch.home / "workers"
        return folder.is_dir() and any(json.loads(p.read_text()).get("pid") == proc.pid for p in folder.glob("*.json"))

    wait_until(lambda: out.stat().st_size > 0 or listed() or proc.poll() is not None, timeout=30,
               message=f"{what} to be up")
    assert proc.poll() is None, f"{what} ended by itself ({proc.returncode}): {proc.stderr.read()}"
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    stderr = proc.stderr.read()
    assert proc.returncode in (0, 130, -signal.SIGINT), f"{what} ended {proc.returncode} on Ctrl-C\n{stderr}"
    assert "Traceback" not in stderr, f"{what} printed a traceback\n{stderr}"


def run_shell(block: Block, scratch: Scratch) -> None:
    if any("127.0.0.1:8765" in line for line in block.lines):
        scratch.serve()
    for number, line in _commands(block):
        what = f"README.md:{number} `{line.strip()}`"
        command = scratch.local(line)
        if "until Ctrl-C" in line:
            _until_stopped(scratch, command, what)
            continue
        assignment = re.match(r"^\s*([A-Za-z_]\w*)=", command)
        if assignment:
            name = assignment.group(1)
            proc = scratch.bash(f'{command}\nprintf %s "${name}"')
            _clean(proc, what)
            scratch.env[name] = proc.stdout
            continue
        _clean(scratch.bash(command), what)


def run_python(block: Block, scratch: Scratch) -> None:
    script = scratch.dir / "example.py"
    script.write_text("\n".join(block.lines) + "\n")
    proc = subprocess.run([sys.executable, str(script)], cwd=scratch.dir, env=scratch.env, capture_output=True,
                          text=True, timeout=LINE_TIMEOUT)
    _clean(proc, block.name)
    assert proc.stderr == "", f"{block.name} wrote to stderr:\n{proc.stderr}"


def run_toml(block: Block, scratch: Scratch) -> None:
    config = Path(scratch.env["LAZYQUEUE_CONFIG"])
    config.write_text("\n".join(block.lines) + "\n")
    proc = scratch.bash("lazyqueue kinds")
    _clean(proc, f"{block.name} loaded as the config")


def run_transcript(block: Block, scratch: Scratch) -> None:
    """`$ command` lines are run; the lines after each are what it must print (stdout then stderr)."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.lines:
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
    for command, expected in steps:
        proc = scratch.bash(scratch.local(command))
        _clean(proc, f"{block.name} `{command}`")
        printed = (proc.stdout + proc.stderr).splitlines()
        patterns = [re.escape(text).replace(r"pid\ 4242", r"pid\ \d+") for text in expected]
        assert len(printed) == len(patterns) and all(re.fullmatch(p, got) for p, got in zip(patterns, printed)), (
            f"{block.name} `{command}` printed\n" + "\n".join(printed) + "\nbut the README shows\n" + "\n".join(expected))


RUNNERS = {"sh": run_shell, "python": run_python, "toml": run_toml, "": run_transcript}


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_a_readme_example_runs_as_written(block, scratch):
    if block.skip is not None:
        pytest.skip(f"{block.name}: {block.skip}")
    RUNNERS[block.lang](block, scratch)
