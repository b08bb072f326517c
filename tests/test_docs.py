"""README.md and docs/*.md stay in step with the code: every CLI command and flag they show exists in the real
argument parser, every benchmark script and flag in the script's own parser, every Make target in the Makefile,
and every relative link (and its #anchor) resolves."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from utal_core.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
CLI_CALL = re.compile(r"(?:python -m utal_core|(?<![\w/.-])utal)\s+([a-z][\w|-]*)(.*)")
BENCHMARK_CALL = re.compile(r"benchmarks/([\w-]+\.(?:py|sh))\b(.*)")
MAKE_CALL = re.compile(r"(?<![\w-])make ([a-z][\w-]*)")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def code_lines(text: str) -> list[str]:
    """The page's code: each fenced block's commands (continuation lines joined, comments cut) and inline spans."""
    lines: list[str] = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s#.*$", "", line).rstrip()
            if lines and re.match(r"\s+(\[|--)", line):  # a synopsis wrapped onto the next line
                lines[-1] += line
            elif line.strip():
                lines.append(line)
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return lines + re.findall(r"`([^`\n]+)`", prose)


@cache
def cli_parsers() -> dict[str, object]:
    """Subcommand (and ``library <action>``) -> its argparse parser, from the CLI's real parser."""
    parser = build_parser()
    commands = next(a for a in parser._actions if a.choices and a.dest == "command").choices
    found = dict(commands)
    for name, sub in commands.items():
        for action in sub._actions:
            if action.choices and isinstance(action.choices, dict):  # nested subcommands: library add|search|...
                found |= {f"{name} {inner}": parser for inner, parser in action.choices.items()}
    return found


def options(parser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def cli_problems(call: str) -> list[str]:
    match = CLI_CALL.search(call)
    if not match:
        return []
    commands, rest = match.group(1).split("|"), match.group(2)
    parsers = cli_parsers()
    problems = [f"no command {name!r} in `{call}`" for name in commands if name not in parsers]
    for name in commands:
        if name not in parsers:
            continue
        actions = re.match(r"\s+([a-z][\w|-]*)", rest)
        nested = [f"{name} {inner}" for inner in actions.group(1).split("|")] if actions else []
        nested = [key for key in nested if key in parsers] or [name]
        if name == "library" and nested == [name] and "--library" in rest:
            problems.append(f"`{call}` names no library action")
        for key in nested:
            known = options(parsers[key]) | options(parsers[name])
            problems += [f"{flag} is not an option of `{key}` (`{call}`)" for flag in FLAG.findall(rest)
                         if flag not in known]
    return problems


@cache
def benchmark_flags(script: str) -> set[str]:
    """The option strings the script's argparse parser declares (its ``add_argument`` calls)."""
    tree = ast.parse((ROOT / "benchmarks" / script).read_text())
    return {arg.value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument"
            for arg in node.args if isinstance(arg, ast.Constant) and str(arg.value).startswith("-")}


def benchmark_problems(call: str) -> list[str]:
    problems = []
    for script, rest in BENCHMARK_CALL.findall(call):
        if not (ROOT / "benchmarks" / script).is_file():
            problems.append(f"no benchmarks/{script} (`{call}`)")
        elif script.endswith(".py"):
            rest = rest.split("benchmarks/")[0].split("|")[0]
            problems += [f"{flag} is not an option of benchmarks/{script} (`{call}`)" for flag in FLAG.findall(rest)
                         if flag not in benchmark_flags(script)]
    return problems


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", (ROOT / "Makefile").read_text(), flags=re.M))


def anchors(page: Path) -> set[str]:
    """GitHub's ids of the page's headings."""
    headings = re.findall(r"^#{1,6} (.+)$", re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def link_problems(page: Path) -> list[str]:
    problems = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            problems.append(f"{page.name}: {target} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{page.name}: {target}: no heading #{anchor}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_command_flag_script_target_and_link_on_the_page_exists(page):
    text = page.read_text()
    problems = link_problems(page)
    for call in code_lines(text):
        problems += cli_problems(call) + benchmark_problems(call)
        problems += [f"no make target {target!r} (`{call}`)" for target in MAKE_CALL.findall(call)
                     if target not in make_targets()]
    assert not problems, "\n".join(problems)


def test_the_checks_catch_a_renamed_flag_a_missing_command_script_and_a_dead_link(tmp_path):
    """The checks above are not vacuous: each kind of drift is reported."""
    assert cli_problems("python -m utal_core analyze VIDEO --out DIR") == []
    assert cli_problems("python -m utal_core analyze VIDEO --output DIR")
    assert cli_problems("utal analyse VIDEO")
    assert cli_problems("python -m utal_core library search q --library DIR -k 3") == []
    assert cli_problems("python -m utal_core library search q --libary DIR")
    assert benchmark_problems("benchmarks/first_visit.py --runs 3") == []
    assert benchmark_problems("benchmarks/first_visit.py --repeats 3")
    assert benchmark_problems("benchmarks/no_such_script.py")
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) [bad anchor](#nowhere)\n")
    assert len(link_problems(page)) == 2
    assert code_lines("```bash\nutal analyze V \\\n    --out D   # a comment --x\n```\n") == ["utal analyze V      --out D"]
