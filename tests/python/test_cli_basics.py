import pytest

COMMANDS = ["plugins", "schema", "presets", "run"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(cli, command):
    result = cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"eulerstack {command}" in result.stdout
    assert "--lang" in result.stdout and "--plugin-dir" in result.stdout


def test_top_level_help_lists_commands_and_exit_codes(cli):
    result = cli("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert f"\n  {command} " in result.stdout
    assert "2 usage error" in result.stdout


def test_no_command_is_a_usage_error(cli):
    assert cli().returncode == 2


def test_unknown_command(cli):
    result = cli("compiel")
    assert result.returncode == 2
    assert "unknown command 'compiel'" in result.stderr


def test_unknown_option(cli):
    result = cli("plugins", "--frobnicate")
    assert result.returncode == 2
    assert result.stderr.startswith("UsageError: ")
    assert "Fix: Run 'eulerstack plugins --help' for the options." in result.stderr


@pytest.mark.parametrize("position", ["before", "after"])
def test_unsupported_language_is_a_usage_error(cli, position):
    args = ["--lang", "xx", "plugins"] if position == "before" else ["plugins", "--lang", "xx"]
    result = cli(*args)
    assert result.returncode == 2
    assert "unsupported language 'xx'" in result.stderr


def test_version(cli):
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("eulerstack 0.1.0")
