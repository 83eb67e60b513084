"""Reading the module and programme files, and every problem in them as `file:line: why`.

`load` reads a folder (modules in `*.yml`, programmes in `programmes/*.yml`) or given
files, checks each against the schema and all of them against each other (unique ids,
known exercises and modules, images beside the file), and returns what is valid with a
list of problems. Nothing here raises on a bad file: a clinician gets every problem at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from paincoach import content
from paincoach.modules.schema import STEP_KINDS, ExerciseStep, MessageStep, Module, Programme
from paincoach.settings import PROJECT_ROOT

MODULES_DIR = PROJECT_ROOT / "modules"
PROGRAMMES = "programmes"


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class Catalogue:
    """The valid modules and programmes, where each came from, and what was wrong."""

    modules: dict[str, Module] = field(default_factory=dict)
    programmes: dict[str, Programme] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _line(node: yaml.Node | None, location: Sequence[int | str]) -> int:
    """The 1-based line of the YAML node at `location` (keys and list indexes), or the
    nearest enclosing node that exists."""
    if node is None:
        return 1
    for key in location:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == key), None)
            if child is None:  # an unknown or missing key: point at its mapping
                return node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            child = node.value[key] if key < len(node.value) else None
        if child is None:
            break
        node = child
    return node.start_mark.line + 1


def _key_line(node: yaml.Node | None, location: Sequence[int | str]) -> int:
    """The line of the key named last in `location` (for unknown fields)."""
    *parent, key = location
    container = node
    for part in parent:
        if isinstance(container, yaml.MappingNode):
            container = next((v for k, v in container.value if k.value == part), None)
        elif isinstance(container, yaml.SequenceNode) and isinstance(part, int):
            container = container.value[part] if part < len(container.value) else None
    if isinstance(container, yaml.MappingNode):
        for k, _ in container.value:
            if k.value == key:
                return int(k.start_mark.line) + 1
    return _line(node, parent)


def _without_step_kinds(location: Sequence[int | str]) -> list[int | str]:
    """pydantic names the kind of a step in an error's location ("steps", 2, "choice",
    "options"); the file has no such key."""
    return [
        part
        for index, part in enumerate(location)
        if not (part in STEP_KINDS and index and isinstance(location[index - 1], int))
    ]


def _explain(error: Mapping[str, Any]) -> str:
    """One clinician-readable sentence for a pydantic error."""
    where = ".".join(str(part) for part in _without_step_kinds(error["loc"]))
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown field '{error['loc'][-1]}'"
    if kind == "union_tag_invalid":
        found = error.get("input", {}).get("kind") if isinstance(error.get("input"), dict) else ""
        return f"unknown step kind '{found}' (use one of: {', '.join(STEP_KINDS)})"
    if kind == "union_tag_not_found":
        return f"{where}: a step needs a kind (one of: {', '.join(STEP_KINDS)})"
    if kind == "missing":
        return f"{where}: missing (required)"
    if kind == "too_short" and where.endswith("options"):
        return f"{where}: a choice needs at least 2 options"
    if kind == "string_too_long":
        limit = error.get("ctx", {}).get("max_length")
        return f"{where}: too long ({len(str(error.get('input', '')))} characters, at most {limit})"
    if kind == "string_pattern_mismatch":
        return f"{where}: '{error.get('input')}' must be lowercase letters, digits and hyphens"
    return f"{where}: {error['msg']}"


def _validate(path: Path, model: type[Module] | type[Programme], problems: list[Problem]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.append(Problem(path, 1, f"cannot read the file: {error}"))
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problems.append(Problem(path, line, f"not valid YAML: {getattr(error, 'problem', error)}"))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(path, 1, "expected a mapping of fields (id, title, ...)"))
        return None
    try:
        parsed = model.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            location = _without_step_kinds(item["loc"])
            line = (_key_line if item["type"] == "extra_forbidden" else _line)(node, location)
            problems.append(Problem(path, line, _explain(item)))
        return None
    parsed_node = node
    return parsed, parsed_node


def _module_files(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    modules: list[Path] = []
    programmes: list[Path] = []
    for path in paths:
        if path.is_dir():
            modules += sorted(path.glob("*.yml"))
            programmes += sorted((path / PROGRAMMES).glob("*.yml"))
        elif path.parent.name == PROGRAMMES:
            programmes.append(path)
        else:
            modules.append(path)
    return modules, programmes


def load(paths: Sequence[Path] = (MODULES_DIR,)) -> Catalogue:
    """Every module and programme in `paths` (folders or files), checked."""
    catalogue = Catalogue()
    module_files, programme_files = _module_files(paths)
    for path in paths:
        if not path.exists():
            catalogue.problems.append(Problem(path, 1, "no such file or folder"))
    exercises = set(content.exercises())
    for path in module_files:
        found = _validate(path, Module, catalogue.problems)
        if found is None:
            continue
        module, node = found
        before = len(catalogue.problems)
        _check_module(path, node, module, exercises, catalogue)
        if module.id in catalogue.modules:
            first = catalogue.sources[module.id]
            catalogue.problems.append(
                Problem(path, _line(node, ["id"]), f"module id '{module.id}' is also in {first}")
            )
        elif len(catalogue.problems) == before:
            catalogue.modules[module.id] = module
            catalogue.sources[module.id] = path
    for path in programme_files:
        found = _validate(path, Programme, catalogue.problems)
        if found is None:
            continue
        programme, node = found
        unknown = [i for i, m in enumerate(programme.modules) if m not in catalogue.modules]
        for index in unknown:
            catalogue.problems.append(
                Problem(
                    path,
                    _line(node, ["modules", index]),
                    f"no module with id '{programme.modules[index]}'",
                )
            )
        if programme.id in catalogue.programmes:
            catalogue.problems.append(
                Problem(path, _line(node, ["id"]), f"programme id '{programme.id}' is used twice")
            )
        elif not unknown:
            catalogue.programmes[programme.id] = programme
            catalogue.sources[f"programme:{programme.id}"] = path
    return catalogue


def _check_module(
    path: Path, node: yaml.Node, module: Module, exercises: set[str], catalogue: Catalogue
) -> None:
    seen: dict[str, int] = {}
    for index, step in enumerate(module.steps):
        if step.id in seen:
            catalogue.problems.append(
                Problem(
                    path,
                    _line(node, ["steps", index, "id"]),
                    f"step id '{step.id}' is used twice in this module "
                    f"(first at step {seen[step.id] + 1})",
                )
            )
        seen.setdefault(step.id, index)
        if isinstance(step, ExerciseStep) and step.exercise not in exercises:
            catalogue.problems.append(
                Problem(
                    path,
                    _line(node, ["steps", index, "exercise"]),
                    f"no toolbox exercise '{step.exercise}' "
                    f"(there are: {', '.join(sorted(exercises))})",
                )
            )
        if (
            isinstance(step, MessageStep)
            and step.image
            and not (path.parent / step.image).is_file()
        ):
            catalogue.problems.append(
                Problem(
                    path,
                    _line(node, ["steps", index, "image"]),
                    f"image '{step.image}' is not beside the module file",
                )
            )
