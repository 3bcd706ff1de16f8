"""The import contracts the code states, checked on every `make test` by reading imports
(every import statement, lazy ones included) with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("outreach", "flows", "outreach_cli"):
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str, at_import_time: bool = False) -> set[str]:
    """Every module ``module`` imports, resolved to our modules where it names one; with
    ``at_import_time``, only those imported when the module loads (not inside a function or
    under ``TYPE_CHECKING``)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    names: set[str] = set()
    nodes = tree.body if at_import_time else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.add(full if full in MODULES else node.module)
    return names


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _offenders(importer: str, imported: str, allowed: set[str] = frozenset()) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module in MODULES
        if _within(module, importer) and module not in allowed
        for name in _imports(module)
        if _within(name, imported)
    )


def test_the_core_never_imports_prefect_or_the_flows() -> None:
    for banned in ("prefect", "flows"):
        assert _offenders("outreach", banned) == []


def test_the_cli_sits_above_the_flows_and_nothing_imports_it() -> None:
    assert _offenders("outreach", "outreach_cli") == []
    assert _offenders("flows", "outreach_cli") == []


def test_channels_and_platforms_never_import_each_other() -> None:
    assert _offenders("outreach.channels", "outreach.platforms") == []
    assert _offenders("outreach.platforms", "outreach.channels") == []


def test_press_and_podcast_never_import_channels() -> None:
    assert _offenders("outreach.press", "outreach.channels") == []
    assert _offenders("outreach.podcast", "outreach.channels") == []


def test_no_channel_imports_another_channel() -> None:
    shared = {"outreach.channels", "outreach.channels.base"}
    channels = [m for m in MODULES if _within(m, "outreach.channels") and m not in shared]
    problems = [
        f"{module} imports {name}"
        for module in channels
        for name in _imports(module)
        if name in channels and name != module
    ]
    assert problems == []


def test_no_channel_asks_which_other_channels_are_on() -> None:
    """A channel learns what the site offers from the URL map (``site.urls.hosts``), never by
    reading the configured channels or comparing with another channel's name."""
    from outreach.channels import available_channels

    names = set(available_channels())
    shared = {"outreach.channels", "outreach.channels.base"}
    problems = []
    for module in sorted(m for m in MODULES if _within(m, "outreach.channels")):
        if module in shared:
            continue
        own = module.rsplit(".", 1)[-1]
        for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "channels":
                problems.append(f"{module}:{node.lineno} reads .channels")
            elif isinstance(node, ast.Compare):
                literals = {
                    operand.value
                    for operand in (node.left, *node.comparators)
                    if isinstance(operand, ast.Constant) and isinstance(operand.value, str)
                }
                for name in sorted((literals & names) - {own}):
                    problems.append(f"{module}:{node.lineno} compares with '{name}'")
    assert problems == []


def test_the_import_graph_has_no_cycle() -> None:
    """Import-time cycles. (Two deferrals are left, both inside a function: the
    configuration's check of channel names imports the channel registry, which imports the
    configuration; and ``Site.urls`` asks the registry what the configured channels host.)"""
    graph = {m: {n for n in _imports(m, True) if n in MODULES and n != m} for m in MODULES}
    state: dict[str, int] = {}
    path: list[str] = []
    cycles: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for name in sorted(graph[module]):
            if state.get(name) == 1:
                cycles.append(" -> ".join([*path[path.index(name) :], name]))
            elif name not in state:
                visit(name)
        path.pop()
        state[module] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module)
    assert cycles == []


def test_the_release_sequence_names_no_channel_or_platform() -> None:
    from outreach.channels import available_channels
    from outreach.config import PLATFORM_NAMES

    names = set(available_channels()) | set(PLATFORM_NAMES)
    for module in ("outreach.release", "flows.release"):
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        literals = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        # A channel's own flow (the podcast feed rebuild) may name it, as a flow's argument.
        own_flow = {"podcast"} if module == "flows.release" else set()
        assert literals & names <= own_flow, module
