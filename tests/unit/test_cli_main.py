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


# ------------------------------------------------------------- the guard in main
def _app_raising(exc: BaseException) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise exc

    @app.command()
    def other() -> None:
        pass

    return app


def _run_main(monkeypatch, capsys, exc):
    monkeypatch.setattr(cli, "app", _app_raising(exc))
    monkeypatch.setattr("sys.argv", ["tmesim", "boom"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    return info.value.code, err[0]


def test_a_bug_exits_1_naming_a_log_with_the_traceback(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("TMESIM_LOG_DIR", str(tmp_path))
    code, line = _run_main(monkeypatch, capsys, ZeroDivisionError("float division by zero"))
    assert code == cli.EXIT_BUG == 1
    assert "bug" in line and "ZeroDivisionError: float division by zero" in line
    (log,) = tmp_path.glob("tmesim-crash-*.log")
    assert str(log) in line
    text = log.read_text()
    assert "Traceback" in text and "ZeroDivisionError" in text and "command: tmesim boom" in text


def test_a_bug_without_a_writable_log_folder_still_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli, "crash_log_dirs", lambda: [tmp_path / "file" / "sub"])
    (tmp_path / "file").write_text("")
    code, line = _run_main(monkeypatch, capsys, KeyError("x"))
    assert code == 1 and "please report it" in line


@pytest.mark.parametrize(("exc", "code", "text"), [
    (__import__("tmesim.errors", fromlist=["InputError"]).InputError("days", "must be > 0", "e.g. 30"), 2,
     "days: must be > 0 (e.g. 30)"),
    (__import__("tmesim.errors", fromlist=["SimulationError"]).SimulationError("integration failed in 1 of 4 runs"), 3,
     "integration failed"),
    (MemoryError(), 3, "out of memory"),
    (PermissionError(13, "Permission denied", "/root/x"), 2, "/root/x: Permission denied"),
    (IsADirectoryError(21, "Is a directory", "/tmp"), 2, "/tmp: Is a directory"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_main_maps_each_error_to_its_exit_code(monkeypatch, capsys, exc, code, text):
    got, line = _run_main(monkeypatch, capsys, exc)
    assert got == code and text in line


def test_warnings_print_as_one_line(monkeypatch, capsys):
    import warnings

    app = typer.Typer()

    @app.command()
    def warn() -> None:
        warnings.warn("something odd\n  in two lines", UserWarning)

    @app.command()
    def other() -> None:
        pass

    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr("sys.argv", ["tmesim", "warn"])
    cli.main()
    assert capsys.readouterr().err == "warning: something odd in two lines\n"


def test_summary_table_names_death_modes_in_words(run_dataset):
    import pandas as pd

    from tmesim.analysis.summary import summarize

    table = summarize(run_dataset)
    table["deaths_ifng_apoptosis_cells"] = 1.0
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(cli.summary_table(table))
    text = console.export_text()
    assert "IFN-gamma-induced apoptosis" in text and "killed by immune cells" in text
    assert "ifng_apoptosis" not in text and "deaths by" not in text
    assert isinstance(table, pd.DataFrame)


def test_compiling_is_shown_only_when_numba_has_no_cached_solver(monkeypatch):
    from tmesim.wellmixed import solver

    class Cache:
        def __init__(self, index):
            self._cache_file = type("F", (), {"_load_index": lambda self: index})()

    class Kernel:
        pass

    kernel = Kernel()
    monkeypatch.setattr(solver, "integrate", kernel)
    kernel._cache = Cache({})
    assert cli.numba_cache_is_cold()
    kernel._cache = Cache({("sig",): "entry"})
    assert not cli.numba_cache_is_cold()


def test_run_display_stages():
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(file=open("/dev/null", "w"))) as bar:
        display = cli.RunDisplay(bar, cold=True)
        (task,) = bar.tasks
        assert task.description == "compiling (first run only)" and task.total is None
        display.simulating(0.5)
        assert (task.description, task.total, task.completed) == ("simulating", 1.0, 0.5)
        display.stage("drawing figures", 3, 7)
        assert (task.description, task.total, task.completed) == ("drawing figures", 7, 3)
    quiet = cli.RunDisplay()
    quiet.simulating(0.3)
    quiet.stage("x")
