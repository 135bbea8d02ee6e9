"""`lazyqueue completions bash|zsh|fish` prints a script the shell takes."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from .helpers import lq, ok


def complete(script: str, *words: str) -> list[str]:
    """What bash offers for the last of `words` after sourcing `script`."""
    line = " ".join(["lazyqueue", *words])
    program = (f'source /dev/stdin <<"LQ_SCRIPT"\n{script}LQ_SCRIPT\n'
               f"COMP_WORDS=(lazyqueue {' '.join(repr(w) for w in words)}); COMP_CWORD={len(words)}; COMP_LINE={line!r}\n"
               "_lazyqueue; printf '%s\\n' \"${COMPREPLY[@]}\"")
    proc = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return [w for w in proc.stdout.splitlines() if w]


def test_bash_completion_is_registered_and_completes_commands_options_and_choices(cli_env):
    script = ok(cli_env, "completions", "bash").stdout
    proc = subprocess.run(["bash", "-c", f"source /dev/stdin <<'LQ_SCRIPT'\n{script}LQ_SCRIPT\ncomplete -p lazyqueue"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.strip() == "complete -o default -F _lazyqueue lazyqueue"
    assert complete(script, "ad") == ["add"]
    assert set(complete(script, "")) >= {"add", "ls", "rm", "edit", "completions", "worker"} and "--home" in complete(script, "--")
    assert complete(script, "add", "shell", "--pri") == ["--priority"]
    assert complete(script, "--home", "/tmp/x", "ls", "--status", "fa") == ["failed"]
    assert complete(script, "worker", "st") == ["start", "stop", "status"]
    assert complete(script, "completions", "") == ["bash", "zsh", "fish"]
    assert complete(script, "add", "shell", "--from", "") == []  # a file name: bash's own (-o default)


def test_zsh_and_fish_scripts_name_every_command(cli_env):
    zsh = ok(cli_env, "completions", "zsh").stdout
    assert zsh.startswith("#compdef lazyqueue\n") and "bashcompinit" in zsh and "complete -o default -F _lazyqueue lazyqueue" in zsh
    fish = ok(cli_env, "completions", "fish").stdout
    for name in ("add", "ls", "rm", "edit", "worker", "completions"):
        assert f"-n __fish_use_subcommand -a {name} " in fish
    assert "-n '__fish_seen_subcommand_from ls' -l status -x -a 'queued running completed failed cancelled expired'" in fish
    for shell, text in (("zsh", zsh), ("fish", fish)):
        if shutil.which(shell):
            check = ["zsh", "-n"] if shell == "zsh" else ["fish", "--no-execute"]
            proc = subprocess.run(check, input=text, capture_output=True, text=True, timeout=30)
            assert proc.returncode == 0, proc.stderr


def test_an_unknown_shell_is_a_usage_error(cli_env):
    proc = lq(cli_env, "completions", "tcsh")
    assert proc.returncode == 2 and "invalid choice: 'tcsh'" in proc.stderr and proc.stderr.count("\n") == 1
