"""``tmesim.cli.main``: exit codes of the console entry point."""

from __future__ import annotations

import pytest
import typer

from tmesim import cli


def _app_exiting_with(code: int) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def check() -> None:
        raise typer.Exit(code=code)

    @app.command()
    def other() -> None:
        pass

    return app


@pytest.mark.parametrize("code", [0, 1])
def test_main_passes_a_command_exit_code_through(monkeypatch, code):
    monkeypatch.setattr(cli, "app", _app_exiting_with(code))
    monkeypatch.setattr("sys.argv", ["tmesim", "check"])
    if code == 0:
        cli.main()
    else:
        with pytest.raises(SystemExit) as exc:
            cli.main()
        assert exc.value.code == code


def test_main_turns_a_usage_error_into_one_line(monkeypatch, capsys):
    monkeypatch.setattr(cli, "app", _app_exiting_with(0))
    monkeypatch.setattr("sys.argv", ["tmesim", "check", "--nope"])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "--nope" in err[0]


def test_reproduce_default_draws_are_the_runners():
    import inspect

    from tmesim.cli import reproduce
    from tmesim.reproduce.runner import DEFAULT_DRAWS

    assert inspect.signature(reproduce).parameters["draws"].default == DEFAULT_DRAWS
