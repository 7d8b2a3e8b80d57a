"""The README and the commands agree (issue 16: "`benchmarks.run --help` and the README agree").

Checked, with the parsers the commands really build (captured from each command's `main`, so a
subcommand's and a hidden old spelling's options count too):
- every long option of `benchmarks.run` appears in the README's harness section;
- every `--option` the README gives a command is one that command accepts: options on a command
  line (`python -m MODULE …`, `torchrun … -m MODULE …`, `ttsr-bench NAME …`, in code blocks and in
  inline code), and a bare `` `--option` `` in prose, which belongs to the last command named in its
  sentence, else to the command its section is about (`## … `python -m MODULE``), else to none;
- the `ttsr-bench` commands the README names are `benchmarks.cli.COMMANDS`, and its list of them is
  that table, in order.
"""
from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
MODULES = {module for module, _ in COMMANDS.values()}
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
#: `python -m MODULE`, `torchrun … -m MODULE`, `ttsr-bench NAME`, `python -m benchmarks.cli NAME`
INVOCATION = re.compile(r"(?:-m\s+benchmarks\.cli|ttsr-bench)\s+(?P<name>[\w<>-]+)|-m\s+(?P<module>[\w.]+)")
HARNESS_HEADING = "## The benchmark harness: `python -m benchmarks.run`"


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser


def command_parser(module: str, monkeypatch) -> argparse.ArgumentParser:
    """The parser `module.main([])` builds, caught as it starts parsing (nothing runs)."""
    def capture(self, args=None, namespace=None):
        raise _Captured(self)

    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_known_args", capture)
        patch.setattr(argparse.ArgumentParser, "parse_known_intermixed_args", capture, raising=False)
        try:
            importlib.import_module(module).main([])
        except _Captured as caught:
            return caught.parser
    raise AssertionError(f"{module}.main([]) finished without parsing its arguments")


def long_options(parser: argparse.ArgumentParser, words: list[str] = ()) -> set[str]:
    """`--options` of `parser`, plus those of the subcommand named first in `words` (if any)."""
    options = {s for s in parser._option_string_actions if s.startswith("--")}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub = next((w for w in words if w in action.choices), None)
            if sub is not None:
                options |= long_options(action.choices[sub], words[words.index(sub) + 1:])
    return options


def sections(text: str) -> list[tuple[str, str]]:
    """(heading line, body) for each `## ` section; `### ` subsections stay in their section."""
    parts = re.split(r"(?m)^(## .*)$", text)
    return [(parts[i].strip(), parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def without_fences(text: str) -> tuple[str, list[str]]:
    """(text with fenced blocks blanked, the fenced blocks' lines)."""
    fenced: list[str] = []

    def keep(match):
        fenced.extend(match.group(1).splitlines())
        return "\n"

    return re.sub(r"(?ms)^\s*```[^\n]*\n(.*?)^\s*```[^\n]*$", keep, text), fenced


def command_lines(body: str) -> list[str]:
    """Lines of code blocks (fenced, or indented by four) that run something; `\\` continues a line."""
    plain, fenced = without_fences(body)
    indented = [line for line in plain.splitlines() if line.startswith("    ") and "`" not in line]
    joined = "\n".join(fenced + indented).replace("\\\n", " ")
    return [line.split(" #", 1)[0] for line in joined.splitlines() if INVOCATION.search(line)]


def invoked(text: str) -> tuple[str | None, str] | None:
    """(module or None, the options part) of the first command `text` runs, or None."""
    match = INVOCATION.search(text)
    if match is None:
        return None
    if match.group("name"):
        name = match.group("name")
        return (COMMANDS[name][0] if name in COMMANDS else None), text[match.end():]
    module = match.group("module")
    return (module if module in MODULES else None), text[match.end():]


def claims() -> list[tuple[str, str, str]]:
    """(module, option, where) for every `--option` the README gives one of the suite's commands."""
    found = []
    for heading, body in sections(README):
        default = next((m for m in re.findall(r"`python -m ([\w.]+)`", heading) if m in MODULES), None)
        for line in command_lines(body):
            module, rest = invoked(line)
            if module:
                found += [(module, option, line.strip()) for option in OPTION.findall(rest) if option != "--help"]
        plain, _ = without_fences(body)
        current = default
        for piece in re.finditer(r"`([^`]+)`|[.;!?](?=\s|$)|\n\s*\n", plain):
            span = piece.group(1)
            if span is None:  # a sentence ends: a bare option is the section's command's again
                current = default
                continue
            span = " ".join(span.split())
            if (call := invoked(span)) is not None:
                current, rest = call
            elif span.startswith("--") and current:
                rest = span
            else:
                continue
            if current:
                found += [(current, option, span) for option in OPTION.findall(rest) if option != "--help"]
    return found


def test_the_claims_are_found():
    """The parser of the README is not vacuous: it sees the harness's options and other commands'."""
    modules = {module for module, _, _ in claims()}
    assert {"benchmarks.run", "benchmarks.reproduce", "ttsr.sr", "benchmarks.train"} <= modules
    run_options = {option for module, option, _ in claims() if module == "benchmarks.run"}
    assert {"--protocol", "--methods", "--save-images", "--max-memory", "--limit"} <= run_options


def test_every_run_option_is_in_the_harness_section(monkeypatch):
    section = dict(sections(README)).get(HARNESS_HEADING)
    assert section is not None, f"README has no section {HARNESS_HEADING!r}"
    parser = command_parser("benchmarks.run", monkeypatch)
    documented = set(OPTION.findall(section))
    missing = sorted(long_options(parser) - {"--help"} - documented)
    assert not missing, f"benchmarks.run options missing from the README's harness section: {missing}"


def test_every_option_the_readme_gives_a_command_exists(monkeypatch):
    parsers = {module: command_parser(module, monkeypatch) for module in MODULES}
    wrong = []
    for module, option, where in claims():
        words = [w for w in where.split() if not w.startswith("-")]
        if option not in long_options(parsers[module], words):
            wrong.append(f"{module} has no {option} (README: `{where}`)")
    assert not wrong, "\n".join(wrong)


def test_readme_commands_are_the_cli_commands():
    named = set(re.findall(r"ttsr-bench\s+([a-z][\w-]*)", README))
    assert named <= set(COMMANDS), f"README names ttsr-bench commands that do not exist: {sorted(named - set(COMMANDS))}"
    start = README.index("`ttsr-bench <command>`:")
    listing = README[start:README.index("(`ttsr-bench --help`", start)]
    listed = re.findall(r"`([a-z][\w-]*)`", listing)
    assert listed == list(COMMANDS), f"README lists {listed}, benchmarks.cli.COMMANDS is {list(COMMANDS)}"


@pytest.mark.parametrize("text, expected", [
    ("    python -m benchmarks.run --protocol demo --save-images     # SR images", ("benchmarks.run", ["--protocol", "--save-images"])),
    ("    torchrun --nproc_per_node 4 -m benchmarks.run --protocol table4", ("benchmarks.run", ["--protocol"])),
    ("    ttsr-bench sr --lr A.png --ref B.png", ("ttsr.sr", ["--lr", "--ref"])),
    ("    python -m benchmarks.cli reproduce table1 --strict", ("benchmarks.reproduce", ["--strict"])),
])
def test_command_lines_are_read(text, expected):
    (line,) = command_lines(text)
    module, rest = invoked(line)
    assert (module, OPTION.findall(rest)) == expected


def test_a_wrong_option_would_be_caught(monkeypatch):
    """A made-up option on a documented command line is reported, so the check can fail."""
    parser = command_parser("benchmarks.run", monkeypatch)
    module, rest = invoked(command_lines("    python -m benchmarks.run --protocol demo --no-such-option")[0])
    assert module == "benchmarks.run"
    assert [o for o in OPTION.findall(rest) if o not in long_options(parser)] == ["--no-such-option"]


def test_tox_envs_share_one_installation():
    """tox.ini's envs install the same thing, so they live in one folder, with the runner that keeps
    tox 4 from recreating it when the env name changes (`tox config` reads the file; nothing is built)."""
    tox = pytest.importorskip("tox")
    pytest.importorskip("tox_ignore_env_name_mismatch")
    out = subprocess.run([sys.executable, "-m", "tox", "config", "-c", str(REPO / "tox.ini"), "-e", "ALL",
                          "-k", "env_dir", "runner", "extras", "package"],
                         capture_output=True, text=True, timeout=120, cwd=REPO, check=True).stdout
    envs = {name: dict(re.findall(r"(?m)^(\w+) = (.*)$", body))
            for name, body in re.findall(r"(?ms)^\[testenv:([^\]]+)\]\n(.*?)(?=^\[|\Z)", out)}
    runs = {name: conf for name, conf in envs.items() if not name.startswith(".")}
    assert {"test", "demo", "reproduce-table1", "reproduce-table4"} <= set(runs), (tox.__version__, out)
    assert {conf["env_dir"] for conf in runs.values()} == {str(REPO / ".tox" / "ttsr-bench")}
    assert {(conf["runner"], conf["extras"], conf["package"]) for conf in runs.values()} == {
        ("ignore_env_name_mismatch", "test", "editable")}
