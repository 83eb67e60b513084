"""Module and programme files: the shipped ones are valid, broken ones are named by line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paincoach.cli import app
from paincoach.modules import load
from paincoach.modules.catalogue import MODULES_DIR
from paincoach.modules.preview import describe_module

runner = CliRunner()

GOOD = """\
id: a-module
title: A module
summary: A short module for the tests.
language: en
minutes: 5
follow_up:
  after_days: 3
  text: How did it go?
steps:
  - id: hello
    kind: message
    text: Hello.
  - id: how
    kind: question
    text: How are you?
  - id: pick
    kind: choice
    text: Which one?
    options: [One, Two]
  - id: rate
    kind: scale
    text: How confident are you?
    low: not at all
    high: completely
  - id: breathe
    kind: exercise
    exercise: paced_breathing
  - id: go-on
    kind: checkpoint
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(*paths: Path) -> list[str]:
    return [str(problem) for problem in load(list(paths)).problems]


def test_the_shipped_modules_and_programme_are_valid() -> None:
    catalogue = load([MODULES_DIR])
    assert catalogue.problems == []
    assert len(catalogue.modules) >= 9
    (programme,) = catalogue.programmes.values()
    assert len(programme.modules) == 9 and programme.every_days == 3
    for module in catalogue.modules.values():
        interactive = [s for s in module.steps if s.kind in ("question", "choice", "scale")]
        assert len(interactive) >= 2, module.id
        assert 5 <= module.minutes <= 10, module.id


def test_a_good_file_is_valid_and_previewed_as_the_patient_sees_it(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yml", GOOD)
    catalogue = load([path])
    assert catalogue.problems == []
    preview = describe_module(catalogue.modules["a-module"])
    assert "[One] [Two]" in preview and "0 = not at all, 10 = completely" in preview
    assert "Paced breathing" in preview and "[Yes, carry on] [Later]" in preview


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("    kind: message\n    text: [unclosed", "a.yml:13: not valid YAML"),
        (GOOD.replace("kind: question", "kind: quiz"), "a.yml:13: unknown step kind 'quiz'"),
        (
            GOOD.replace("    text: How are you?", "    text: How are you?\n    colour: red"),
            "a.yml:16: unknown field 'colour'",
        ),
        (GOOD.replace("id: how", "id: hello"), "a.yml:13: step id 'hello' is used twice"),
        (GOOD.replace("paced_breathing", "juggling"), "a.yml:27: no toolbox exercise 'juggling'"),
        (GOOD.replace("    options: [One, Two]\n", ""), "a.yml:16: steps.2.options: missing"),
        (
            GOOD.replace("[One, Two]", "[One]"),
            "a.yml:19: steps.2.options: a choice needs at least 2",
        ),
        (GOOD.replace("text: Hello.", "text: " + "x" * 5000), "a.yml:12: steps.0.text: too long"),
        (
            GOOD.replace("text: Hello.", "text: Hello.\n    image: missing.png"),
            "a.yml:13: image 'missing.png' is not beside the module file",
        ),
        (GOOD.replace("minutes: 5", "minutes: lots"), "a.yml:5: minutes:"),
        ("- just\n- a list\n", "a.yml:1: expected a mapping"),
    ],
)
def test_every_broken_file_is_named_with_its_line(
    tmp_path: Path, broken: str, expected: str
) -> None:
    if broken.startswith("    kind: message"):
        broken = GOOD.replace("    kind: message\n    text: Hello.\n", broken + "\n")
    path = write(tmp_path, "a.yml", broken)
    found = problems_of(path)
    assert any(problem.startswith(f"{tmp_path}/{expected}") for problem in found), found


def test_duplicate_module_ids_across_files_name_both(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD)
    write(tmp_path, "b.yml", GOOD)
    (problem,) = problems_of(tmp_path)
    assert problem.startswith(f"{tmp_path}/b.yml:1: module id 'a-module' is also in ")
    assert problem.endswith("a.yml")


def test_a_programme_naming_an_unknown_module_is_named_by_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD)
    write(
        tmp_path,
        "programmes/p.yml",
        """\
        id: p
        title: P
        summary: Two modules.
        every_days: 3
        modules:
          - a-module
          - not-there
        """,
    )
    assert problems_of(tmp_path) == [
        f"{tmp_path}/programmes/p.yml:7: no module with id 'not-there'"
    ]


def test_validate_command_prints_problems_and_fails(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD.replace("kind: question", "kind: quiz"))
    result = runner.invoke(app, ["modules", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path}/a.yml:13: unknown step kind 'quiz'" in result.output
    assert "Traceback" not in result.output
    missing = runner.invoke(app, ["modules", "validate", str(tmp_path / "nope.yml")])
    assert missing.exit_code == 1 and "no such file or folder" in missing.output


def test_list_and_show_the_shipped_modules() -> None:
    listed = runner.invoke(app, ["modules", "list"])
    assert listed.exit_code == 0 and "understanding-pain" in listed.output
    shown = runner.invoke(app, ["modules", "show", "understanding-pain"])
    assert shown.exit_code == 0 and "1. [message]" in shown.output
    programme = runner.invoke(app, ["modules", "show", "starter"])
    assert programme.exit_code == 0 and "day 24:" in programme.output
    unknown = runner.invoke(app, ["modules", "show", "no-such-module"])
    assert unknown.exit_code == 1 and "No module or programme" in unknown.output
