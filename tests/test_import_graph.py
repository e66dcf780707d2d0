"""No import cycle in gancore, counting imports inside functions too.

An import inside a function hides a cycle from Python (it runs later) but not from a reader:
``config -> engine -> config`` is still a knot. The graph here has an edge ``A -> B`` for every
``import``/``from ... import`` of a gancore module B written anywhere in A (module level, inside
functions and methods; ``if TYPE_CHECKING:`` blocks excepted), with

* relative imports resolved, and ``from package import name`` pointing at the submodule when
  ``name`` is one;
* the packages a module import runs: ``import gancore.engine.speed`` runs
  ``gancore/engine/__init__.py`` first, so it is an edge to ``gancore.engine`` too (except to the
  importer's own packages, which are always initialised before it).

Names that mmengine imports by string (a registry's ``locations``) are not import statements and
are not counted.
"""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]


def modules_of(root: Path, package: str) -> Dict[str, Path]:
    """``{dotted module name: file}`` of every module and package below ``root/package``."""
    out = {}
    for path in sorted((root / package).rglob('*.py')):
        parts = path.relative_to(root).with_suffix('').parts
        out['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
                getattr(node.test, 'id', None) == 'TYPE_CHECKING'
                or getattr(node.test, 'attr', None) == 'TYPE_CHECKING'):
            for child in node.body:
                skipped |= {id(n) for n in ast.walk(child)}
    return skipped


def imports_of(name: str, path: Path, modules: Dict[str, Path], package: str) -> Dict[str, int]:
    """``{imported module of package: first line}`` for the module ``name`` (see the doc above)."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = _type_checking_nodes(tree)
    base = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split('.')[:len(base.split('.')) - (node.level - 1)]
                target = '.'.join(parts + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            found.append((target, node.lineno))
            found += [(f'{target}.{alias.name}', node.lineno) for alias in node.names
                      if f'{target}.{alias.name}' in modules]
    edges: Dict[str, int] = {}
    for target, line in found:
        if target != package and not target.startswith(package + '.'):
            continue
        parts = target.split('.')
        for i in range(2, len(parts) + 1):  # the packages the import runs, then the module
            run = '.'.join(parts[:i])
            if run in modules and run != name and not name.startswith(run + '.'):
                edges.setdefault(run, line)
    return edges


def import_graph(root: Path, package: str) -> Dict[str, Dict[str, int]]:
    """``{module: {imported module: line}}`` of every module of ``root/package``."""
    modules = modules_of(root, package)
    return {name: imports_of(name, path, modules, package) for name, path in modules.items()}


def find_cycle(graph: Dict[str, Dict[str, int]]) -> Optional[List[str]]:
    """A cycle ``[a, b, ..., a]`` of ``graph``, or None (depth-first, deterministic)."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, {})):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def describe(cycle: List[str], graph: Dict[str, Dict[str, int]], root: Path) -> str:
    """One line per edge of ``cycle``: ``a -> b (a's file:line)``."""
    modules = modules_of(root, cycle[0].split('.')[0])
    return '\n'.join(f'  {a} -> {b}  ({modules[a].relative_to(root)}:{graph[a][b]})'
                     for a, b in zip(cycle, cycle[1:]))


def test_gancore_has_no_import_cycle():
    graph = import_graph(REPO, 'gancore')
    assert len(graph) >= 90 and 'gancore.engine.runner' in graph
    assert 'gancore.checkpoint' in graph['gancore.engine.runner']  # edges are really found
    cycle = find_cycle(graph)
    assert cycle is None, 'import cycle (module- or function-level imports):\n' + describe(
        cycle, graph, REPO)


def test_inference_and_the_engine_stand_on_checkpoint_not_on_each_other():
    """The layers of docs/architecture.md: checkpoint below engine and inference; config below."""
    graph = import_graph(REPO, 'gancore')

    def reaches(start: str, prefix: str) -> List[str]:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            for target in graph[node]:
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return sorted(m for m in seen if m == prefix or m.startswith(prefix + '.'))

    for name in graph:
        if name.startswith('gancore.inference'):
            assert not reaches(name, 'gancore.engine'), name
        if name.startswith(('gancore.checkpoint', 'gancore.config', 'gancore.registry')):
            for upper in ('gancore.engine', 'gancore.inference', 'gancore.cli',
                          'gancore.hooks'):
                assert not reaches(name, upper), (name, upper, reaches(name, upper))


def _write(root: Path, files: Dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_the_check_finds_cycles_hidden_in_functions_and_package_inits(tmp_path):
    """The checker itself: each of these packages has one cycle, which it must name."""
    cases = {
        # a function-level import closes the loop
        'function': {'pkg/__init__.py': '', 'pkg/a.py': 'from .b import x\n',
                     'pkg/b.py': 'def f():\n    from . import a\n    return a\nx = 1\n'},
        # importing pkg.sub.leaf runs pkg/sub/__init__.py, which imports back
        'package_init': {'pkg/__init__.py': '', 'pkg/core.py': 'import pkg.sub.leaf\n',
                         'pkg/sub/__init__.py': 'from ..core import *\n',
                         'pkg/sub/leaf.py': ''},
        # `from package import submodule`, absolute, inside a method
        'submodule': {'pkg/__init__.py': '', 'pkg/one.py': 'from pkg import two\n',
                      'pkg/two.py': 'class C:\n    def m(self):\n'
                                    '        from pkg import one\n'},
    }
    for case, files in cases.items():
        root = tmp_path / case
        _write(root, files)
        graph = import_graph(root, 'pkg')
        cycle = find_cycle(graph)
        assert cycle is not None and cycle[0] == cycle[-1], (case, graph)
        assert describe(cycle, graph, root).count('->') == len(cycle) - 1
    # no false alarm: a module importing its own package and siblings, a TYPE_CHECKING import
    root = tmp_path / 'clean'
    _write(root, {'pkg/__init__.py': 'from .a import x\n',
                  'pkg/a.py': 'from . import b\nx = 1\n',
                  'pkg/b.py': 'from typing import TYPE_CHECKING\n'
                              'if TYPE_CHECKING:\n    from .c import C\n',
                  'pkg/c.py': 'from .b import *\n'})
    assert find_cycle(import_graph(root, 'pkg')) is None
