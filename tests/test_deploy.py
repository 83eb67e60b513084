"""The systemd units under deploy/ parse, name commands that exist, run as a non-root user
with the environment file and hardening; the example environment file lists every setting."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import typer

from paincoach.cli import app
from paincoach.settings import PROJECT_ROOT, Settings

DEPLOY = PROJECT_ROOT / "deploy"
INSTALL_ROOT = "/opt/paincoach"  # where the units expect the project
ENV_FILE = "/etc/paincoach/paincoach.env"
UNITS = ("paincoach.service", "paincoach-backup.service", "paincoach-backup.timer")
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "RestrictSUIDSGID": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectControlGroups": "yes",
    "UMask": "0077",
    "ReadWritePaths": f"{INSTALL_ROOT}/var",
}


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as systemd reads it: sections of keys, a key may repeat; `#` and `;` start
    comments, a trailing backslash continues the line."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            assert line.endswith("]"), f"{path.name}:{number}: bad section header"
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}:{number}: a setting outside any section"
        key, equals, value = line.partition("=")
        assert equals and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key.strip()), (
            f"{path.name}:{number}: not a Key=value line"
        )
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    values = unit.get(section, {}).get(key)
    assert values, f"[{section}] {key}= is missing"
    return values[-1]


def command_of(exec_start: str) -> tuple[Path, list[str]]:
    """ExecStart's program, as a path inside the project, and its arguments."""
    program, *arguments = exec_start.split()
    assert program.startswith(f"{INSTALL_ROOT}/"), f"{program} is not under {INSTALL_ROOT}"
    return PROJECT_ROOT / program.removeprefix(f"{INSTALL_ROOT}/"), arguments


def paincoach_command(arguments: list[str]) -> None:
    """The `paincoach` subcommand the arguments name exists, and so does every option."""
    group = typer.main.get_command(app)
    command = getattr(group, "commands", {}).get(arguments[0])
    assert command is not None, f"paincoach has no command {arguments[0]!r}"
    options = {name for param in command.params for name in param.opts}
    for argument in arguments[1:]:
        if argument.startswith("--"):
            assert argument in options, f"paincoach {arguments[0]} has no option {argument}"


@pytest.mark.parametrize("name", ["paincoach.service", "paincoach-backup.service"])
def test_the_services_run_paincoach_as_a_user_with_the_environment_file(name: str) -> None:
    unit = parse_unit(DEPLOY / name)
    user = one(unit, "Service", "User")
    assert user not in ("root", "0", "") and one(unit, "Service", "Group") == user
    assert one(unit, "Service", "WorkingDirectory") == INSTALL_ROOT
    assert one(unit, "Service", "EnvironmentFile") == ENV_FILE
    for key, value in HARDENING.items():
        assert one(unit, "Service", key) == value, f"{name}: {key}={value} expected"
    program, arguments = command_of(one(unit, "Service", "ExecStart"))
    assert program.relative_to(PROJECT_ROOT) == Path(".venv/bin/paincoach")
    assert program.exists() or not (PROJECT_ROOT / ".venv").exists()  # `make setup` makes it
    paincoach_command(arguments)


def test_paincoach_up_is_restarted_on_failure() -> None:
    unit = parse_unit(DEPLOY / "paincoach.service")
    assert one(unit, "Service", "ExecStart") == f"{INSTALL_ROOT}/.venv/bin/paincoach up"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Service", "KillMode") == "mixed"  # `paincoach up` stops its children
    assert one(unit, "Install", "WantedBy") == "multi-user.target"
    assert (
        "paincoach" in (PROJECT_ROOT / "pyproject.toml").read_text().split("[project.scripts]")[1]
    )


def test_the_timer_starts_the_backup() -> None:
    timer = parse_unit(DEPLOY / "paincoach-backup.timer")
    assert one(timer, "Timer", "OnCalendar") and one(timer, "Timer", "Persistent") == "yes"
    assert one(timer, "Install", "WantedBy") == "timers.target"
    backup = parse_unit(DEPLOY / "paincoach-backup.service")
    assert one(backup, "Service", "Type") == "oneshot"
    assert "backup" in one(backup, "Service", "ExecStart").split()


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the units were parsed by the tests above")
    if not (PROJECT_ROOT / ".venv" / "bin" / "paincoach").exists():
        pytest.skip("no .venv/bin/paincoach to point the units at; run `make setup`")
    (tmp_path / "paincoach.env").write_text("")
    for name in UNITS:  # the project where it is, so systemd can check the programs exist
        text = (DEPLOY / name).read_text().replace(INSTALL_ROOT, str(PROJECT_ROOT))
        (tmp_path / name).write_text(text.replace(ENV_FILE, str(tmp_path / "paincoach.env")))
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    ours = [line for line in result.stderr.splitlines() if any(n in line for n in UNITS)]
    assert result.returncode == 0 and not ours, result.stderr


def test_the_example_environment_file_lists_every_setting_and_no_secret() -> None:
    lines = (DEPLOY / "paincoach.env.example").read_text().splitlines()
    named = {}
    for line in lines:
        found = re.fullmatch(r"#?([A-Z][A-Z0-9_]*)=(.*)", line)
        if found:
            named[found.group(1)] = (found.group(2), line.startswith("#"))
    settings = {name.upper() for name in Settings.model_fields}
    assert settings - set(named) == set(), "settings missing from the example"
    assert set(named) - settings == set(), "names in the example that are no settings"
    for name, (value, commented) in named.items():
        if any(word in name for word in ("TOKEN", "SECRET", "KEY", "PASSWORD")):
            assert value == "", f"{name} has a value in the example"
        assert commented or name not in ("TELEGRAM_BOT_TOKEN",)
