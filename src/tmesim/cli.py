"""Command-line interface: a thin layer over the Python API.

Heavy modules (the engine, xarray, matplotlib) are imported inside the
commands so ``tmesim --help`` stays fast. Errors raised on purpose are turned
into one line on stderr in :func:`main`, the only place that handles them.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from tmesim.errors import InputError, SimulationError

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

FLAGSHIP_SCENARIO = "b16_icb_ferroptosis"
FLAGSHIP_PARAMETER_SET = "mouse_b16_icb_ferroptosis"
EXIT_INPUT_ERROR = 2
EXIT_SIMULATION_ERROR = 3

app = typer.Typer(
    name="tmesim",
    help="Simulate the tumour-immune microenvironment under immunotherapy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Performance benchmarks.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

stdout = Console()
stderr = Console(stderr=True)


def parse_overrides(items: list[str]) -> dict[str, str]:
    """Parse ``--set NAME=VALUE`` flags into a parameter mapping.

    Parameters
    ----------
    items
        Raw flag values, e.g. ``["tumor_growth_rate=0.3 1/day"]``.

    Returns
    -------
    dict
        Parameter name -> value text (value and optional unit), split on the
        first ``=``, both sides stripped.

    Raises
    ------
    InputError
        If an item has no ``=`` or an empty name.
    """
    overrides = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            fix = "e.g. --set 'tumor_growth_rate=0.3 1/day'"
            raise InputError("--set", f"expected NAME=VALUE, got {item!r}", fix)
        overrides[name.strip()] = value.strip()
    return overrides


def check_solver_status(ds: xr.Dataset) -> None:
    """Refuse a run in which any integration failed.

    Raises
    ------
    SimulationError
        Naming the first failed arm and patient, the solver's message and how
        many of the integrations failed.
    """
    from tmesim.results import failure_summary

    line = failure_summary(ds)
    if line is not None:
        raise SimulationError(f"{line}; nothing written")


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[float], None] | None]:
    """A rich progress bar on stderr, yielding the ``progress(fraction)`` callback (None when disabled).

    Parameters
    ----------
    enabled
        Whether to show the bar (off with ``--quiet`` and when stderr is not a terminal).
    """
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    columns = (TextColumn("simulating"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task("simulate", total=1.0)
        yield lambda fraction: bar.update(task, completed=min(max(fraction, 0.0), 1.0))


def _format_value(value: Any, spec: str = ".4g") -> str:
    """Floats formatted with ``spec`` (NaN as ``-``), anything else with ``str``."""
    if isinstance(value, float):
        return "-" if math.isnan(value) else format(value, spec)
    return str(value)


def summary_table(summary: pd.DataFrame) -> Table:
    """Rich table of the per-arm summary printed after ``tmesim run``: one row per metric, one column per arm.

    Parameters
    ----------
    summary
        Output of :func:`tmesim.analysis.summary.summarize`.

    Returns
    -------
    rich.table.Table
        Final tumour cells, % change, AUC, cumulative deaths by mode and the
        terminally exhausted fraction of T cells (medians across patients).
    """
    metrics = {
        "tumor_final_cells": ("final tumour (cells)", ".3g"),
        "tumor_change_pct": ("tumour change (%)", "+.3g"),
        "tumor_auc_cell_days": ("tumour AUC (cell·day)", ".3g"),
    }
    for column in summary.columns:
        if column.startswith("deaths_"):
            mode = column.removeprefix("deaths_").removesuffix("_cells")
            metrics[column] = (f"deaths by {mode} (cells)", ".3g")
    metrics["terminal_exhaustion_fraction"] = ("terminal exhausted T (fraction)", ".2f")
    cohort = " (median across patients)" if summary["n_patients"].max() > 1 else ""
    table = Table(title=f"Per-arm summary{cohort}", box=box.SIMPLE_HEAD)
    table.add_column("", ratio=1, min_width=16)
    for arm in summary.index:
        table.add_column(str(arm), justify="right", header_style="bold", no_wrap=True)
    for column, (label, spec) in metrics.items():
        table.add_row(label, *(_format_value(value, spec) for value in summary[column]))
    return table


def mapping_table(title: str, rows: Mapping[str, Any], headers: tuple[str, str]) -> Table:
    """Two-column rich table of a mapping (floats shown to 4 significant digits)."""
    table = Table(title=title)
    table.add_column(headers[0], style="bold")
    table.add_column(headers[1])
    for key, value in rows.items():
        table.add_row(str(key), _format_value(value))
    return table


@app.command()
def run(
    scenario: Annotated[
        str,
        typer.Argument(
            metavar="SCENARIO", help="Shipped scenario name (see `tmesim scenarios`) or path to a scenario YAML."
        ),
    ] = FLAGSHIP_SCENARIO,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output directory (default runs/<scenario>-<time>).")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="NAME=VALUE", help="Override a parameter, e.g. --set 'tumor_growth_rate=0.3 1/day'."
        ),
    ] = None,
    days: Annotated[float | None, typer.Option(help="Simulated duration in days (default: the scenario's).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the scenario's).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the output directory.")] = False,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", metavar="DIR",
                     help="Continue a stopped spatial run whose output folder was DIR, from its last checkpoint."),
    ] = None,
) -> None:
    """Run a scenario, write its outputs and print a per-arm summary.

    A spatial run writes into DIR.partial (snapshots, pictures and checkpoints as it goes) and renames it to
    DIR when it ends; if it is stopped, `--resume DIR` continues it and ends as the uninterrupted run would."""
    from tmesim.scenario import load_scenario

    if resume is not None:
        given = [name for name, v in (("--set", overrides), ("--days", days), ("--seed", seed), ("--out", out)) if v]
        if given or scenario != FLAGSHIP_SCENARIO:
            raise InputError("--resume", f"given with {', '.join(given) or 'a scenario'}",
                             "resume takes the run folder only: the scenario is the one saved in it")
        from tmesim.io.outputs import SCENARIO_FILE, find_resumable

        partial = find_resumable(resume)
        scn = load_scenario(partial / SCENARIO_FILE)
        out = resume
    else:
        scn = load_scenario(scenario).with_overrides(parameters=parse_overrides(overrides or []), days=days, seed=seed)
    # the engine, xarray and matplotlib load only once the input is known to be valid
    from tmesim.analysis import summarize, write_analysis
    from tmesim.io.outputs import check_output_dir, default_run_dir, finish_resumable, start_resumable, write_run
    from tmesim.simulation import Simulation

    out_dir = out or default_run_dir(scn.name)
    check_output_dir(out_dir)
    if scn.scale == "spatial":
        from tmesim.spatial.outputs import Recorder

        if resume is None:
            partial = start_resumable(out_dir, scn.to_yaml())
        with progress_bar(not quiet and stderr.is_terminal) as progress:
            ds = Simulation(scn).run(progress, recorder=Recorder(partial))
        try:
            check_solver_status(ds)
        except SimulationError as exc:
            raise SimulationError(f"{exc}; the snapshots up to the failure are in {partial}") from None
        out_dir = finish_resumable(ds, scn.to_yaml(), partial, out_dir,
                                   extra=lambda folder: write_analysis(ds, folder))
    else:
        if resume is not None:
            raise InputError("--resume", f"scenario {scn.name!r} is well-mixed", "only spatial runs resume")
        with progress_bar(not quiet and stderr.is_terminal) as progress:
            ds = Simulation(scn).run(progress)
        check_solver_status(ds)
        out_dir = write_run(ds, scn.to_yaml(), out_dir, extra=lambda folder: write_analysis(ds, folder))
    if quiet:
        print(out_dir)
        return
    stdout.print(summary_table(summarize(ds)))
    stdout.print(f"outputs written to [bold]{out_dir}[/bold]")


@app.command()
def params(
    set_name: Annotated[
        str, typer.Argument(metavar="SET", help="Parameter set name or YAML path.")
    ] = FLAGSHIP_PARAMETER_SET,
    as_csv: Annotated[bool, typer.Option("--csv", help="Write CSV to stdout instead of a table.")] = False,
    list_sets: Annotated[bool, typer.Option("--list", help="List the shipped parameter sets.")] = False,
) -> None:
    """Print a parameter set: value, unit, source, what the value rests on (its kind: measured,
    derived, direction, assumption or fitted, with the reproduce checks a fitted value was
    calibrated on) and description of every parameter, how a value was derived from its source
    where the set says (its ``note``), and the number of values of each kind."""
    from tmesim.params import list_parameter_sets, load_parameter_set

    if list_sets:
        stdout.print(mapping_table("Parameter sets", dict(list_parameter_sets()), ("name", "description")))
        return
    from rich.markup import escape

    parameter_set = load_parameter_set(set_name)
    records = list(parameter_set.records())
    fields = ("name", "value", "unit", "source", "description")
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(fields + ("note", "source_kind", "calibrated_on"))
        writer.writerows([getattr(record, field) for field in fields + ("note", "source_kind")]
                         + [";".join(record.calibrated_on)] for record in records)
        return
    table = Table(title=f"Parameter set {set_name}", box=box.SIMPLE_HEAD, expand=True)
    table.add_column("name", overflow="fold", ratio=3)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("unit", no_wrap=True)
    table.add_column("source", overflow="fold", ratio=2)
    table.add_column("kind", overflow="fold", ratio=1)
    table.add_column("description", ratio=3)
    for record in records:
        cells = [escape(_format_value(getattr(record, field), ".6g")) for field in fields]
        if record.note:
            label = "derivation" if record.source_kind == "derived" else "note"
            cells[-1] += f"\n[dim]{label}: {escape(record.note)}[/dim]"
        kind = escape(record.source_kind)
        if record.calibrated_on:
            kind += f"\n[dim]on {escape(', '.join(record.calibrated_on))}[/dim]"
        table.add_row(*cells[:4], kind, cells[4])
    stdout.print(table)
    counts = parameter_set.kind_counts()
    stdout.print(", ".join(f"{kind} {n}" for kind, n in counts.items()), highlight=False)


@app.command()
def scenarios() -> None:
    """List the shipped scenarios."""
    from tmesim.scenario import list_scenarios

    stdout.print(mapping_table("Scenarios", dict(list_scenarios()), ("name", "description")))


def _reproduce_table(results: list[Any], draws: int) -> Table:
    """Rich table of ``tmesim reproduce``: one row per check (finding and comparison, effect and unit,
    share of draws in which the direction holds, verdict)."""
    from rich.markup import escape

    from tmesim.reproduce.findings import REQUIRED_FRACTION

    table = Table(title=f"Findings: {draws} robustness draws per scenario; a check holds if its direction is "
                        f"right in >= {REQUIRED_FRACTION:.0%} of them", box=box.SIMPLE_HEAD)
    table.add_column("ID", style="bold", no_wrap=True)
    table.add_column("finding / comparison", overflow="fold", ratio=3)
    table.add_column("effect: median [10-90%]", overflow="fold", ratio=2)
    table.add_column("holds in (95% CI)", justify="right")
    table.add_column("result")
    for r in results:
        finding = escape(r.title) + "\n[dim]" + escape(r.comparison + (f"; {r.note}" if r.note else "")) + "[/dim]"
        if r.status != "ok":
            effect, share = "-", "-"
            verdict = f"[dim]{escape(r.status)}[/dim]" if r.informational else f"[red]{escape(r.status)}[/red]"
        else:
            effect = escape(f"{_format_value(r.effect, '.3g')} [{_format_value(r.lo, '.3g')}, "
                            f"{_format_value(r.hi, '.3g')}]")
            if r.p_value is not None:
                effect += f", p {_format_value(r.p_value, '.2g')}"
            effect += f"\n[dim]{escape(r.unit)}[/dim]"
            share = f"{round(r.fraction * r.n_draws)}/{r.n_draws}"
            if r.required_fraction < 1.0 and math.isfinite(r.fraction_lo):
                share += f"\n[dim]{100 * r.fraction_lo:.0f}-{100 * r.fraction_hi:.0f}%[/dim]"
            share += f"\n[dim]{r.criterion}[/dim]"
            word = "holds" if r.holds else "fails"
            verdict = f"[dim]{word} (info)[/dim]" if r.informational else (
                "[green]holds[/green]" if r.holds else "[red]fails[/red]")
        table.add_row(r.id, finding, effect, share, verdict)
    return table


@app.command()
def reproduce(
    ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="ID",
            help="Checks to run: an id (2c), a finding number (2) or a scenario name; all by default.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for one figure per finding (default runs/reproduce-<time>)."),
    ] = None,
    draws: Annotated[
        int, typer.Option(help="Robustness draws per scenario (each parameter x log-normal ~ +/-25%).")
    ] = 200,  # = reproduce.runner.DEFAULT_DRAWS (not imported here: it pulls in matplotlib)
    json_path: Annotated[
        Path | None, typer.Option("--json", metavar="FILE", help="Also write the results as a JSON list to FILE.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Offset added to every scenario's seed.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Check the findings the model must reproduce; exit 1 if any required check fails."""
    from tmesim.reproduce import findings as reproduce_findings
    from tmesim.reproduce.runner import check_draws, run_findings, write_json

    check_draws(draws)
    reproduce_findings.select(ids)  # reject unknown ids before simulating anything
    from tmesim.io.outputs import default_run_dir

    out_dir = out or default_run_dir("reproduce")
    if quiet or not stderr.is_terminal:
        results = run_findings(ids, draws=draws, seed=seed, out=out_dir)
    else:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
        with Progress(*columns, console=stderr, transient=True) as bar:
            task = bar.add_task("simulating", total=1.0)
            results = run_findings(ids, draws=draws, seed=seed, out=out_dir,
                                   progress=lambda what, done: bar.update(task, description=what,
                                                                          completed=min(max(done, 0.0), 1.0)))
    stdout.print(_reproduce_table(results, draws))
    if json_path is not None:
        write_json(results, json_path)
    required = [r for r in results if not r.informational]
    failed = [r for r in required if not r.passed]
    stdout.print(f"{len(required) - len(failed)} of {len(required)} required checks hold"
                 + (f"; failing: {', '.join(r.id for r in failed)}" if failed else "")
                 + f". Figures in [bold]{out_dir}[/bold]"
                 + (f"; JSON in [bold]{json_path}[/bold]" if json_path else ""))
    unsettled = [r.id for r in required if r.uncertain]
    if unsettled:
        which = ", ".join(unsettled) if len(unsettled) <= 8 else f"{len(unsettled)} of {len(required)}"
        stdout.print(f"[dim]Not settled by {draws} draws (the 95% interval of the share contains the required "
                     f"share): {which}; more --draws would settle them.[/dim]")
    if failed:
        raise typer.Exit(code=1)


@bench_app.command("wellmixed")
def bench_wellmixed(
    quick: Annotated[bool, typer.Option("--quick", help="Small, fast configuration (smoke test).")] = False,
    patients: Annotated[int | None, typer.Option(help="Virtual patients (default: 10,000; 1,000 with --quick).")] = None,
    days: Annotated[float | None, typer.Option(help="Simulated days (default: 365).")] = None,
    reference: Annotated[int | None, typer.Option(help="Patients integrated one at a time with solve_ivp (default: 20; 3 with --quick).")] = None,
    threads: Annotated[int | None, typer.Option(help="numba threads for the engine (default: all cores).")] = None,
    rtol: Annotated[float | None, typer.Option(help="Relative tolerance of engine and reference (default: the engine's).")] = None,
    jac_every: Annotated[int | None, typer.Option(help="Accepted steps between Jacobian refreshes (default: the engine's).")] = None,
    method: Annotated[str | None, typer.Option(help="Rosenbrock-W method: ros34pw2 or ros2 (default: the engine's).")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the measurements to this JSON file.")] = None,
) -> None:
    """Time the batched well-mixed engine against solve_ivp and print the measurements."""
    from tmesim.bench import bench_wellmixed as measure

    for name, value in (("patients", patients), ("reference", reference), ("threads", threads), ("jac-every", jac_every)):
        if value is not None and value < 1:
            raise InputError(f"--{name}", f"got {value}", "give a positive integer")
    for name, value in (("days", days), ("rtol", rtol)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(f"--{name}", f"got {value}", "give a positive number")
    from tmesim.simulation import METHODS, SolverOptions

    if method is not None and method not in METHODS:
        raise InputError("--method", f"got {method!r}", f"give one of {', '.join(sorted(METHODS))}")
    options: dict[str, Any] = {}
    if method is not None:
        options["method"] = method
    if rtol is not None:
        options["rtol"] = rtol
    if jac_every is not None:
        options["jacobian_every"] = jac_every
    result = measure(n_patients=patients, days=days, quick=quick, n_reference=reference, threads=threads,
                     solver=SolverOptions(**options))
    stdout.print(mapping_table("Well-mixed engine benchmark", result, ("metric", "value")))
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2) + "\n")


@bench_app.command("spatial")
def bench_spatial(
    quick: Annotated[bool, typer.Option("--quick", help="Smaller grids (200^2, 40^3) and tumours (1e4, 1e5 cells).")] = False,
    physicell: Annotated[bool, typer.Option("--physicell", help="Also time the physicell_cancer_immune_3d scenario per simulated minute, and PhysiCell beside it when shared/tools/physicell/bench.sh is at hand.")] = False,
    cells: Annotated[list[int] | None, typer.Option("--cells", help="Engine tumour sizes, cells (repeatable; default 1e5 and 1e6, or 1e4 and 1e5 with --quick).")] = None,
    steps: Annotated[int | None, typer.Option(help="Timed engine steps per size (default 3).")] = None,
    minutes: Annotated[float, typer.Option("--physicell-minutes", help="Simulated minutes of the PhysiCell comparison (whole 6-min steps).")] = 12.0,
    threads: Annotated[int | None, typer.Option(help="numba threads for tmesim (default: all cores).")] = None,
    physicell_threads: Annotated[int, typer.Option("--physicell-threads", help="OpenMP threads for PhysiCell.")] = 2,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the measurements to this JSON file.")] = None,
) -> None:
    """Time the spatial engine (diffusion, cell-steps, memory per cell) against plain numpy, and optionally PhysiCell."""
    from tmesim.spatial import bench_engine

    for name, value in (("cells", min(cells) if cells else None), ("steps", steps), ("threads", threads),
                        ("physicell-threads", physicell_threads)):
        if value is not None and value < 1:
            raise InputError(f"--{name}", f"got {value}", "give a positive integer")
    if not (math.isfinite(minutes) and minutes > 0):
        raise InputError("--physicell-minutes", f"got {minutes}", "give a positive number of minutes")
    result = bench_engine.bench_spatial(quick=quick, physicell=physicell, threads=threads,
                                        cells=tuple(cells) if cells else None, steps=steps, physicell_minutes=minutes,
                                        physicell_threads=physicell_threads,
                                        say=lambda msg: stderr.print(f"[dim]{msg}[/dim]"))
    for line in bench_engine.format_report(result):
        print(line)
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2, default=float) + "\n")

# ---- tmesim rules: hypothesis rules (PhysiCell's rules CSV); see docs/rules.md ----
rules_app = typer.Typer(help="Hypothesis rules (PhysiCell's rules CSV) over tmesim's cell programs.",
                        no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("vocabulary")
def rules_vocabulary() -> None:
    """Print the cell types, signals and behaviours rules may name (units, meanings) and the PhysiCell names that map to nothing."""
    from tmesim.rules.vocabulary import format_vocabulary

    print(format_vocabulary())


@rules_app.command("check")
def rules_check(
    path: Annotated[Path, typer.Argument(help="Rules file (CSV, PhysiCell's CBHG format).")],
    version: Annotated[str | None, typer.Option("--version", help="Format version 0, 1, 2 or 3 (default: from the column count).")] = None,
    accept_unmapped: Annotated[bool, typer.Option("--accept-unmapped", help="Skip rules naming PhysiCell signals or behaviours that map to nothing in tmesim, with a warning each.")] = False,
) -> None:
    """Validate a rules file and print its rules as English sentences."""
    import warnings

    from tmesim.rules.reader import RulesWarning, read_rules

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RulesWarning)  # printed below from the rule set
        rules = read_rules(path, version=version, accept_unmapped=accept_unmapped)
    for message in rules.warnings:
        print(f"warning: {message}", file=sys.stderr)
    n, k = len(rules), len(rules.cell_types)
    what = f"{n} rule{'s' * (n != 1)} for {k} cell type{'s' * (k != 1)}" if n else "no rules"
    print(f"{path}: {what}" + (f" (format version {rules.version})" if rules.version is not None else "")
          + ("; header row skipped" if rules.header else "") + (f"; {len(rules.unmapped)} skipped" if rules.unmapped else ""))
    for sentence in rules.sentences():
        print(sentence)
    if len(rules):
        print("<base> is the behaviour's value from the cell's program at run time.")


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with ``code``."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(code)


def _is_usage_error(exc: BaseException) -> bool:
    """A command-line usage error (unknown option or command, unparsable value).

    Recognised by shape, because typer raises click's ``UsageError`` or, from
    0.2x on, that of its vendored copy of click.
    """
    return getattr(exc, "exit_code", None) == 2 and callable(getattr(exc, "format_message", None))


def main() -> None:
    """Console entry point (``tmesim``): run the app, turning expected errors into one line and an exit code.

    Exit codes: 0 success, 2 bad input (:class:`~tmesim.errors.InputError`, a
    missing file, or a usage error such as an unknown option; always one
    ``error:`` line), 3 failed simulation
    (:class:`~tmesim.errors.SimulationError`).
    """
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        fail("aborted", EXIT_INPUT_ERROR)
    except InputError as exc:
        fail(str(exc), EXIT_INPUT_ERROR)
    except FileNotFoundError as exc:
        fail(f"no such file: {exc.filename or exc}", EXIT_INPUT_ERROR)
    except SimulationError as exc:
        fail(str(exc), EXIT_SIMULATION_ERROR)
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        ctx = getattr(exc, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        fail(f"{exc.format_message()}{where}", EXIT_INPUT_ERROR)
    if isinstance(code, int) and code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
