"""The README stays true: its two commands come first, and every command and task is documented."""

import re

import click
import pytest
from support import ROOT

from analytics.cli import cli as analytics_cli
from repairs.cli import cli as repairs_cli

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands():
    first_block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == ["make demo", "make test"]


@pytest.mark.parametrize(
    ("name", "group"), [("repairs", repairs_cli), ("analytics", analytics_cli)]
)
def test_every_cli_command_is_in_the_readme_with_help(name, group):
    for command_name, command in group.commands.items():
        assert f"{name} {command_name}" in README, f"README does not show `{name} {command_name}`"
        help_text = command.get_help(click.Context(command, info_name=command_name))
        assert "Example" in help_text, f"`{name} {command_name} --help` has no example"


def test_every_invoke_task_is_in_the_readme():
    import tasks

    names = [n.replace("_", "-") for n, v in vars(tasks).items() if hasattr(v, "body")]
    assert names, "no tasks found"
    for name in names:
        if name == "install-test-deps":  # an internal step of `invoke test`
            continue
        assert f"invoke {name}" in README, f"README does not list `invoke {name}`"
