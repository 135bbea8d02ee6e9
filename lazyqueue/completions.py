"""`lazyqueue completions bash|zsh|fish`: a completion script made from the parser itself.

    source <(lazyqueue completions bash)             # ~/.bashrc
    lazyqueue completions zsh > "${fpath[1]}/_lazyqueue"
    lazyqueue completions fish > ~/.config/fish/completions/lazyqueue.fish

Commands, their options and the options' fixed choices (ls --status,
worker start|stop|status …) are completed; other words fall back to file names.
"""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "fish")


def _commands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, argparse.ArgumentParser]]:
    """name -> (help, its parser), in --help order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return {name: (helps.get(name, ""), sub) for name, sub in action.choices.items()}
    return {}


def _options(parser: argparse.ArgumentParser) -> list[tuple[list[str], str, list[str], bool]]:
    """(option strings, help, choices, takes a value) of each option a parser knows."""
    found = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        choices = [str(c) for c in action.choices] if action.choices else []
        found.append((list(action.option_strings), action.help or "", choices, action.nargs != 0))
    return found


def _positional_choices(parser: argparse.ArgumentParser) -> list[str]:
    words: list[str] = []
    for action in parser._actions:
        if not action.option_strings and action.choices and not isinstance(action, argparse._SubParsersAction):
            words += [str(c) for c in action.choices]
    return words


def bash(parser: argparse.ArgumentParser) -> str:
    commands = _commands(parser)
    top = [o for opts, _, _, _ in _options(parser) for o in opts]
    valued = sorted({o for _, sub in commands.values() for opts, _, _, takes in _options(sub) if takes for o in opts}
                    | {o for opts, _, _, takes in _options(parser) if takes for o in opts})
    cases, choice_cases = [], []
    for name, (_, sub) in commands.items():
        options = [o for opts, _, _, _ in _options(sub) for o in opts]
        cases.append(f"        {name}) options={_bash_words(options)}; words={_bash_words(_positional_choices(sub))} ;;")
        for opts, _, choices, _ in _options(sub):
            if choices:
                pattern = "|".join(f'"{name}:{o}"' for o in opts)
                choice_cases.append(f"        {pattern}) COMPREPLY=($(compgen -W {_bash_words(choices)} -- \"$cur\")); return ;;")
    return f"""# lazyqueue completion for bash: source <(lazyqueue completions bash)
_lazyqueue() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}} cmd="" i words options
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${{COMP_WORDS[i]}} in
            --) return ;;
            --home|--config|--backend) ((i++)) ;;
            -*) ;;
            *) cmd=${{COMP_WORDS[i]}}; break ;;
        esac
    done
    case "$cmd:$prev" in
{chr(10).join(choice_cases)}
    esac
    case " {' '.join(valued)} " in
        *" $prev "*) return ;;  # a value: file names (-o default)
    esac
    case $cmd in
        "") options={_bash_words(top)}; words={_bash_words(list(commands))} ;;
{chr(10).join(cases)}
        *) return ;;
    esac
    [[ $cur == -* ]] && words=$options  # options once a word starts with -, else commands and choices
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F _lazyqueue lazyqueue
"""


def _bash_words(words: list[str]) -> str:
    return '"' + " ".join(words) + '"'


def zsh(parser: argparse.ArgumentParser) -> str:
    return "#compdef lazyqueue\n# lazyqueue completion for zsh (through bash's, which zsh runs)\n" \
           "autoload -U +X bashcompinit && bashcompinit\n" + bash(parser).split("\n", 1)[1]


def fish(parser: argparse.ArgumentParser) -> str:
    commands = _commands(parser)
    lines = ["# lazyqueue completion for fish: lazyqueue completions fish > ~/.config/fish/completions/lazyqueue.fish",
             "complete -c lazyqueue -f"]
    for name, (text, _) in commands.items():
        lines.append(f"complete -c lazyqueue -n __fish_use_subcommand -a {name} -d {_fish_quote(text)}")
    for opts, text, choices, takes in _options(parser):
        lines.append(f"complete -c lazyqueue -n __fish_use_subcommand {_fish_option(opts, text, choices, takes)}")
    for name, (_, sub) in commands.items():
        seen = f"-n '__fish_seen_subcommand_from {name}'"
        for opts, text, choices, takes in _options(sub):
            lines.append(f"complete -c lazyqueue {seen} {_fish_option(opts, text, choices, takes)}")
        for word in _positional_choices(sub):
            lines.append(f"complete -c lazyqueue {seen} -a {word}")
    return "\n".join(lines) + "\n"


def _fish_option(opts: list[str], text: str, choices: list[str], takes: bool) -> str:
    parts = []
    for o in opts:
        parts.append(f"-l {o[2:]}" if o.startswith("--") else f"-s {o[1:]}")
    if choices:
        parts.append(f"-x -a {_fish_quote(' '.join(choices))}")
    elif takes:
        parts.append("-r -F")
    return " ".join(parts) + f" -d {_fish_quote(text)}"


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def script(shell: str) -> str:
    from .cli import build_parser

    parser = build_parser()
    return {"bash": bash, "zsh": zsh, "fish": fish}[shell](parser)
