"""Command-line interface: a thin layer over the Python API.

Heavy modules (the engine, xarray, matplotlib) are imported inside the
commands so ``tmesim --help`` stays fast. Every error is turned into one line
on stderr in :func:`main`, the only place that handles them: exit 2 for bad
input, 3 for a failed simulation, 1 for a bug (its traceback written to a log
file that the line names).
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
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
EXIT_BUG = 1
EXIT_INPUT_ERROR = 2
EXIT_SIMULATION_ERROR = 3
EXIT_INTERRUPTED = 130

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


def _flags_without_placeholder() -> None:
    """Show on/off flags in ``--help`` without typer's ``<bool>`` type placeholder (a flag takes no value)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "_tmesim", False):
        return

    def display_type_rich(self, ctx):
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        return shown(self, ctx)

    display_type_rich._tmesim = True
    TyperOption.display_type_rich = display_type_rich


_flags_without_placeholder()


def _version(value: bool) -> None:
    if value:
        from tmesim import __version__

        print(f"tmesim {__version__}")
        raise typer.Exit()


@app.callback()
def _app_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Simulate the tumour-immune microenvironment under immunotherapy."""


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


def numba_cache_is_cold() -> bool:
    """Whether the engine's compiled solver is missing from numba's on-disk cache, so the first run
    compiles it (about a minute). Read from numba's own cache index of the solver (the index numba
    loads, with its source stamp check); when that cannot be read, from the presence of the file."""
    from tmesim.wellmixed import solver

    kernel = solver.integrate
    try:
        return not kernel._cache._cache_file._load_index()
    except Exception:  # noqa: BLE001 -- numba internals changed: fall back to the file
        from tmesim import _jitcache

        return not any(any(d.glob("solver.integrate-*.nbi")) for d in _jitcache._cache_dirs())


class RunDisplay:
    """What ``tmesim run`` shows on stderr while it works: a spinner while numba compiles ("compiling
    (first run only)") or the run starts, a bar while it simulates, then the outputs and figures
    written. Silent when disabled (``--quiet``, stderr not a terminal)."""

    def __init__(self, bar=None, cold: bool = False):
        self.bar = bar
        self.task = None
        if bar is not None:
            first = "compiling (first run only)" if cold else "simulating"
            self.task = bar.add_task(first, total=None)

    def simulating(self, fraction: float) -> None:
        """Progress callback of the simulation (fraction done)."""
        if self.bar is not None:
            self.bar.update(self.task, description="simulating", total=1.0, completed=min(max(fraction, 0.0), 1.0))

    def stage(self, what: str, done: int | None = None, total: int | None = None) -> None:
        """A step after the simulation, e.g. ``stage("drawing figures", 2, 7)``."""
        if self.bar is not None:
            self.bar.update(self.task, description=what, total=total, completed=done or 0)


@contextmanager
def run_display(enabled: bool, cold: bool = False) -> Iterator[RunDisplay]:
    """A :class:`RunDisplay` on stderr (silent when not ``enabled``)."""
    if not enabled:
        yield RunDisplay()
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as bar:
        yield RunDisplay(bar, cold)


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


#: Death modes of the summary (``deaths_<mode>``) in words.
DEATH_MODE_LABELS = {
    "killing": "killed by immune cells",
    "ifng_apoptosis": "IFN-gamma-induced apoptosis",
    "ferroptosis": "ferroptotic deaths",
    "necrosis": "necrotic deaths",
}


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
            metrics[column] = (f"{DEATH_MODE_LABELS.get(mode, 'deaths: ' + mode.replace('_', ' '))} (cells)", ".3g")
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
        Path | None, typer.Option("--out", "-o", metavar="DIR",
                                  help="Output directory (default runs/<scenario>-<time>, made unique).")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="NAME=VALUE", help="Override a parameter, e.g. --set 'tumor_growth_rate=0.3 1/day' "
                                                "(a bare number is read in the unit the parameter set states)."
        ),
    ] = None,
    days: Annotated[float | None, typer.Option(metavar="N", help="Simulated duration in days (default: the scenario's).")] = None,
    seed: Annotated[int | None, typer.Option(metavar="N", help="Random seed, 0 to 2^63-1 (default: the scenario's).")] = None,
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
    if resume is not None:
        given = [name for name, v in (("--set", overrides), ("--days", days), ("--seed", seed), ("--out", out))
                 if v is not None and v != []]
        if given or scenario != FLAGSHIP_SCENARIO:
            raise InputError("--resume", f"given with {', '.join(given) or 'a scenario'}",
                             "resume takes the run folder only: the scenario is the one saved in it")
        from tmesim.io.outputs import SCENARIO_FILE, find_resumable

        partial = find_resumable(resume)
        sim = _prepare_run(str(partial / SCENARIO_FILE), None, None, None, None)[0]
        if sim.scenario.scale != "spatial":
            raise InputError("--resume", f"scenario {sim.scenario.name!r} is well-mixed", "only spatial runs resume")
        out_dir = resume
    else:
        sim, out_dir = _prepare_run(scenario, overrides, days, seed, out)
    # the engine, xarray and matplotlib load only once the input is known to be valid
    from tmesim.analysis import summarize, write_analysis
    from tmesim.io.outputs import StagedDir, default_run_dir, finish_resumable, start_resumable, write_run
    from tmesim.simulation import SimulationWarning

    show = not quiet and stderr.is_terminal
    if sim.scenario.scale == "spatial":
        from tmesim.spatial.outputs import Recorder

        out_dir = out_dir or default_run_dir(sim.scenario.name)
        if resume is None:
            partial = start_resumable(out_dir, sim.scenario.to_yaml())
        with run_display(show, show and numba_cache_is_cold()) as display:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SimulationWarning)  # a failed row is an error below
                ds = sim.run(display.simulating, recorder=Recorder(partial))
            try:
                check_solver_status(ds)
            except SimulationError as exc:
                raise SimulationError(f"{exc}; the snapshots up to the failure are in {partial}") from None
            display.stage("writing timeseries.nc")

            def analysis(folder: Path) -> None:
                write_analysis(ds, folder, progress=lambda done, total: display.stage("drawing figures", done, total))

            out_dir = finish_resumable(ds, sim.scenario.to_yaml(), partial, out_dir, extra=analysis)
    else:
        staged = StagedDir(out_dir or default_run_dir(sim.scenario.name), unique=out_dir is None, what="--out")
        try:
            with run_display(show, show and numba_cache_is_cold()) as display:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", SimulationWarning)  # a failed row is an error below
                    ds = sim.run(display.simulating)
                check_solver_status(ds)
                display.stage("writing timeseries.nc")

                def analysis(folder: Path) -> None:
                    write_analysis(ds, folder,
                                   progress=lambda done, total: display.stage("drawing figures", done, total))

                out_dir = write_run(ds, sim.scenario.to_yaml(), staged, extra=analysis)
        finally:
            staged.discard()  # a no-op once committed
    if quiet:
        print(out_dir)
        return
    stdout.print(summary_table(summarize(ds)))
    stdout.print(f"outputs written to [bold]{out_dir}[/bold]")


def _prepare_run(scenario: str, overrides: list[str] | None, days: float | None, seed: int | None,
                 out: Path | None):
    """Everything ``tmesim run`` and ``tmesim check`` validate before a run: the scenario with its
    overrides, the seed, the size against memory (:class:`~tmesim.simulation.Simulation`), the output
    directory. Returns ``(simulation, out)``."""
    from tmesim.scenario import MAX_SEED, load_scenario

    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise InputError("--seed", f"must be between 0 and 2^63-1, got {seed}",
                         "timeseries.nc stores the seed as a 64-bit integer")
    if days is not None and not (math.isfinite(days) and 0 < days <= 3650):
        raise InputError("--days", f"must be a number of days in (0, 3650], got {days:g}")
    scn = load_scenario(scenario).with_overrides(parameters=parse_overrides(overrides or []), days=days, seed=seed)
    if out is not None:
        from tmesim.io.outputs import check_output_dir

        check_output_dir(out, "--out")
    from tmesim.simulation import Simulation

    return Simulation(scn), out


@app.command()
def check(
    scenario: Annotated[
        str,
        typer.Argument(metavar="SCENARIO", help="Shipped scenario name or path to a scenario YAML."),
    ] = FLAGSHIP_SCENARIO,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="NAME=VALUE", help="Override a parameter, as for `tmesim run`."),
    ] = None,
    days: Annotated[float | None, typer.Option(metavar="N", help="Simulated duration in days.")] = None,
    seed: Annotated[int | None, typer.Option(metavar="N", help="Random seed.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="DIR", help="Output directory to check.")] = None,
) -> None:
    """Validate a scenario as `tmesim run` would, without running it, and summarise it."""
    sim, _ = _prepare_run(scenario, overrides, days, seed, out)
    print(check_summary(sim))


def check_summary(sim) -> str:
    """One paragraph describing a validated :class:`~tmesim.simulation.Simulation`."""
    scn = sim.scenario
    n_doses = sum(d.count for arm in scn.arms for d in arm.doses)
    n_products = sum(len(arm.products) for arm in scn.arms)
    changed = sum(len(arm.knobs) + len(arm.parameters) for arm in scn.arms)
    est = sim.memory_bytes()
    arms = ", ".join(a.name for a in scn.arms)
    cohort = (f"a cohort of {scn.cohort.size} virtual patients" if scn.cohort.size > 1 else "one patient")
    parts = [
        f"{scn.name}: valid. {len(scn.arms)} arm{'s' * (len(scn.arms) != 1)} ({arms}), {cohort}, "
        f"{scn.days:g} days with outputs every {scn.output_interval_hours:g} h ({sim.output_days().size} time points),",
        f"parameter set {scn.parameter_set} with {len(scn.parameters)} scenario override"
        f"{'s' * (len(scn.parameters) != 1)} and {changed} arm knob or parameter change{'s' * (changed != 1)},",
        f"{n_doses} dose{'s' * (n_doses != 1)} and {n_products} CAR T infusion{'s' * (n_products != 1)}, seed {scn.seed};",
        f"about {est['outputs'] / 3 / 2**20:.3g} MiB of results.",
    ]
    from tmesim.scenario import late_doses

    late = late_doses(scn)
    if late:
        parts.append(f"{len(late)} schedule{'s' * (len(late) != 1)} reach{'es' * (len(late) == 1)} past the end "
                     "of the run (see the warnings).")
    return " ".join(parts)


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
        # value and unit are the engine's (internal) ones, as in timeseries.nc; given_* as the set states them
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(fields + ("note", "source_kind", "calibrated_on", "given_value", "given_unit"))
        writer.writerows([getattr(record, field) for field in fields + ("note", "source_kind")]
                         + [";".join(record.calibrated_on), record.given_value, record.given_unit] for record in records)
        return
    table = Table(title=f"Parameter set {set_name} (values in the units the set states)", box=box.SIMPLE_HEAD,
                  expand=True)
    table.add_column("name", overflow="fold", ratio=3)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("unit", no_wrap=True)
    table.add_column("source", overflow="fold", ratio=2)
    table.add_column("kind", overflow="fold", ratio=1)
    table.add_column("description", ratio=3)
    shown = {"value": "given_value", "unit": "given_unit"}  # as the set states them, not the engine's units
    for record in records:
        cells = [escape(_format_value(getattr(record, shown.get(field, field)), ".6g")) for field in fields]
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


def _reproduce_table(results: list[Any], draws: int, what: str = "robustness draws per scenario") -> Table:
    """Rich table of ``tmesim reproduce``: one row per check (finding and comparison, effect and unit,
    share of draws in which the direction holds, verdict, kind with the draws that still hold with the
    check's mechanism cut, and fitted or predicted; under the effect, how it compares with the literature's
    value: "data: 1.8x (within band)" or "direction only"). ``what`` names the ``draws`` in the title
    (``"replicates per arm, spatial scale"`` for ``--scale spatial``)."""
    from rich.markup import escape

    from tmesim.reproduce.effects import label as effect_label
    from tmesim.reproduce.findings import REQUIRED_FRACTION

    table = Table(title=f"Findings: {draws} {what}; a check holds if its direction is "
                        f"right in >= {REQUIRED_FRACTION:.0%} of them; it is mechanistic if it then holds in "
                        "<= 50% of the same draws with its mechanism cut", box=box.SIMPLE_HEAD)
    table.add_column("ID", style="bold", no_wrap=True)
    table.add_column("finding / comparison", overflow="fold", ratio=3)
    table.add_column("effect: median [10-90%]; vs data", overflow="fold", ratio=2)
    table.add_column("holds in (95% CI)", justify="right")
    table.add_column("result")
    table.caption = ("result: verdict; kind (draws that still hold with the mechanism cut / draws); fitted (number "
                     "of values and choices calibrated on the check, listed in the JSON) or predicted. vs data: "
                     "model median / the literature's value for the effect, and whether that value lies in the "
                     "model's 10-90% band; 'direction only' where the sources give no comparable number "
                     "(informational, never a verdict)")
    colours = {"mechanistic": "green", "not earned": "yellow", "structural": "cyan", "fails": "red",
               "not controlled": "yellow"}
    for r in results:
        finding = escape(r.title) + "\n[dim]" + escape(r.comparison + (f"; {r.note}" if r.note else "")) + "[/dim]"
        if r.mechanism_label:
            finding += f"\n[dim]mechanism (its control cuts it): {escape(r.mechanism_label)}[/dim]"
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
        if not r.informational and r.kind and r.kind != "fails":
            verdict += f"\n[{colours.get(r.kind, 'default')}]{escape(r.kind)}[/]"
        if r.n_cut:
            verdict += f" ({round(r.fraction_cut * r.n_cut)}/{r.n_cut})"
        if not r.informational:
            verdict += "\n[dim]" + (f"fitted ({len(r.calibrated_on)})" if r.fitted else "predicted") + "[/dim]"
        vs_data = effect_label(getattr(r, "effect_kind", ""), getattr(r, "ratio_to_data", math.nan),
                               getattr(r, "within_band", None))
        if vs_data:
            effect += f"\n[italic]{escape(vs_data)}[/italic]"
        if getattr(r, "effect_data", None):
            effect += f"\n[dim]{escape(r.effect_data['source'])}, {escape(r.effect_data['where'])}[/dim]"
        table.add_row(r.id, finding, effect, share, verdict)
    return table


def _rejection_table(results: list[Any]) -> Table | None:
    """Rich table of the spontaneous-rejection share per scenario of ``tmesim reproduce`` (a model metric:
    untreated tumours that reject themselves, never draws left out), or None when no check was evaluated."""
    rows: dict[str, Any] = {}
    for r in results:
        if r.status == "ok" and getattr(r, "n_rejection_draws", 0) and r.scenario not in rows:
            rows[r.scenario] = r
    if not rows:
        return None
    table = Table(title="Spontaneous rejection (model metric): draws whose tumour is rejected untreated "
                        "(below 1% of its initial size); every draw is evaluated, none left out",
                  box=box.SIMPLE_HEAD)
    table.add_column("scenario", style="bold", no_wrap=True)
    table.add_column("checks", overflow="fold")
    table.add_column("rejected / draws", justify="right")
    table.add_column("share (95% CI)", justify="right", overflow="fold")
    for name, r in rows.items():
        share = "-" if not math.isfinite(r.spontaneous_rejection) else (
            f"{100 * r.spontaneous_rejection:.1f}% ({100 * r.spontaneous_rejection_lo:.1f}-"
            f"{100 * r.spontaneous_rejection_hi:.1f}%)")
        ids = [x.id for x in results if x.scenario == name]
        checks = ids[0] if len(ids) == 1 else f"{ids[0]}-{ids[-1]}"
        table.add_row(name, checks, f"{r.n_rejected_untreated}/{r.n_rejection_draws}", share)
    table.caption = ("Established lines take in nearly every untreated mouse (B16 does): each rejection is a model "
                     "failure. A draw rejected in every arm before any treatment shows no direction and counts "
                     "as not holding.")
    return table


def _reproduce_headline(results: list[Any], controls: bool, skipped: str = "--no-controls") -> str:
    """The closing count of ``tmesim reproduce``: required checks that hold and are earned (mechanistic and
    predicted) first, then those fitted, not earned, structural, without a control, and failing (``skipped``:
    why the controls did not run, when they did not)."""
    required = [r for r in results if not r.informational]
    by_kind = {kind: [r for r in required if r.kind == kind] for kind in
               ("mechanistic", "not earned", "structural", "not controlled", "fails")}
    earned = [r for r in by_kind["mechanistic"] if not r.fitted]
    fitted = [r for r in by_kind["mechanistic"] if r.fitted]
    n = len(required)
    if not controls:
        held = n - len(by_kind["fails"])
        return (f"{held} of {n} required checks hold; mechanism controls skipped ({skipped}), so none is "
                f"counted as earned ({len(by_kind['structural'])} of them are structural sanity checks)")
    parts = [f"{len(earned)} of {n} required checks hold and are earned (mechanistic, predicted)",
             f"{len(fitted)} more hold and are mechanistic but were fitted",
             f"{len(by_kind['not earned'])} hold but are not earned (they still hold with their mechanism cut)",
             f"{len(by_kind['structural'])} are structural sanity checks, not findings"]
    if by_kind["not controlled"]:
        parts.append(f"{len(by_kind['not controlled'])} hold without a control run "
                     f"({', '.join(r.id for r in by_kind['not controlled'])})")
    parts.append(f"{len(by_kind['fails'])} fail" + (f" ({', '.join(r.id for r in by_kind['fails'])})"
                                                     if by_kind["fails"] else ""))
    return "; ".join(parts)


def _effects_line(results: list[Any]) -> str:
    """The effect-size line of ``tmesim reproduce``: how many required checks have a magnitude from the
    literature, how many of those values lie in the model's 10-90% band, and how many are direction only."""
    required = [r for r in results if not r.informational]
    magnitude = [r for r in required if getattr(r, "effect_kind", "") == "magnitude"]
    within = [r for r in magnitude if getattr(r, "within_band", None)]
    direction = [r for r in required if getattr(r, "effect_kind", "") == "direction only"]
    return (f"Effect sizes against data (informational): {len(magnitude)} of {len(required)} required checks "
            f"have a magnitude from the literature ({len(within)} within the model's 10-90% band); "
            f"{len(direction)} are direction only.")


#: = reproduce.runner.DEFAULT_DRAWS (not imported here: it pulls in matplotlib).
_DEFAULT_DRAWS = 200


def _reproduce_spatial(ids: list[str] | None, out: Path | None, json_path: Path | None, seed: int, quiet: bool,
                       no_controls: bool, replicates: int | None, controls: bool, draws: int) -> None:
    """``tmesim reproduce --scale spatial``: findings 1, 2 and 5 on spatial twins of their scenarios
    (:mod:`tmesim.reproduce.spatial`), the same table, figures and JSON (with ``scale`` and ``replicates``)."""
    from tmesim.reproduce import spatial as S
    from tmesim.reproduce.runner import check_seed

    if draws != _DEFAULT_DRAWS:  # robustness draws vary parameters; spatial replicates vary only the seed
        raise InputError("--draws", "applies to --scale wellmixed only", "give --replicates at --scale spatial")
    if controls and no_controls:
        raise InputError("--controls", "contradicts --no-controls", "give one of them")
    replicates = S.DEFAULT_REPLICATES if replicates is None else replicates
    S.check_replicates(replicates)
    check_seed(seed)
    S.select(ids)  # reject unknown ids and findings without a twin before simulating anything
    from tmesim.reproduce.effects import effects

    effects()
    from tmesim.io.outputs import StagedDir, check_output_file, default_run_dir

    if json_path is not None:
        check_output_file(json_path, "--json")
    staged = StagedDir(out or default_run_dir("reproduce-spatial"), unique=out is None, what="--out")
    try:
        if quiet or not stderr.is_terminal:
            results = S.run_spatial_findings(ids, replicates=replicates, seed=seed, out=staged.tmp, controls=controls)
        else:
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
            with Progress(*columns, console=stderr, transient=True) as bar:
                task = bar.add_task("simulating", total=1.0)
                results = S.run_spatial_findings(
                    ids, replicates=replicates, seed=seed, out=staged.tmp, controls=controls,
                    progress=lambda what, done: bar.update(task, description=what, completed=min(max(done, 0.0), 1.0)))
        if json_path is not None:
            S.write_json(results, json_path, replicates)
        out_dir = staged.commit()
    finally:
        staged.discard()
    stdout.print(_reproduce_table(results, replicates, "replicates per arm, scale: spatial"))
    required = [r for r in results if not r.informational]
    failed = [r for r in required if not r.passed]
    stdout.print(f"scale: spatial. {len(required) - len(failed)} of {len(required)} required checks hold in "
                 f">= 90% of {replicates} replicates"
                 + (f"; failing: {', '.join(r.id for r in failed)}" if failed else "")
                 + f". Figures in [bold]{out_dir}[/bold]" + (f"; JSON in [bold]{json_path}[/bold]" if json_path else ""))
    missing = [f"{r.id} ({r.status})" for r in results if r.status.startswith("missing data")]
    if missing:
        stdout.print(f"Not readable from the spatial run: {'; '.join(missing)}.", highlight=False)
    stdout.print("[bold]" + _reproduce_headline(results, controls, "not run at the spatial scale unless --controls: "
                                                "one more run of each twin per mechanism") + ".[/bold]", highlight=False)
    if failed:
        raise typer.Exit(code=1)


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
        typer.Option("--out", "-o", metavar="DIR",
                     help="Folder for one figure per finding (default runs/reproduce-<time>, made unique)."),
    ] = None,
    draws: Annotated[
        int, typer.Option(metavar="N", help="Robustness draws per scenario (each parameter x log-normal ~ +/-25%; "
                                            "well-mixed scale).")
    ] = _DEFAULT_DRAWS,
    json_path: Annotated[
        Path | None, typer.Option("--json", metavar="FILE", help="Also write the results as a JSON list to FILE.")
    ] = None,
    seed: Annotated[int, typer.Option(metavar="N", help="Offset added to every scenario's seed (>= 0).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    no_controls: Annotated[
        bool, typer.Option("--no-controls", help="Skip the mechanism controls (each check's draws rerun with "
                                                 "its mechanism cut): quicker, but no check is counted as earned.")
    ] = False,
    scale: Annotated[
        str, typer.Option(metavar="SCALE", help="wellmixed, or spatial: findings 1, 2 and 5 on spatial twins of "
                                                "their scenarios, replicates in place of draws (docs/findings.md).")
    ] = "wellmixed",
    replicates: Annotated[
        int | None, typer.Option(metavar="N", help="Replicates per arm at --scale spatial (default 3).")
    ] = None,
    controls: Annotated[
        bool, typer.Option("--controls", help="At --scale spatial, also run the mechanism controls (off there by "
                                              "default: each is one more run of the whole twin).")
    ] = False,
) -> None:
    """Check the findings the model must reproduce, each against its mechanism control, with what was
    calibrated on it; exit 1 if any required check fails."""
    if scale not in ("wellmixed", "spatial"):
        raise InputError("--scale", f"unknown scale {scale!r}", "one of wellmixed, spatial")
    if scale == "spatial":
        _reproduce_spatial(ids, out, json_path, seed, quiet, no_controls, replicates, controls, draws)
        return
    if replicates is not None or controls:
        raise InputError("--replicates" if replicates is not None else "--controls", "applies to --scale spatial only",
                         "well-mixed checks run robustness draws (--draws) and their controls by default")
    from tmesim.reproduce import findings as reproduce_findings
    from tmesim.reproduce.runner import check_draws, run_findings, write_json

    check_draws(draws)
    from tmesim.reproduce.runner import check_seed

    check_seed(seed)
    reproduce_findings.select(ids)  # reject unknown ids before simulating anything
    from tmesim.reproduce.effects import effects

    effects()  # and bad effect-size data (effects.yaml)
    from tmesim.io.outputs import StagedDir, check_output_file, default_run_dir

    if json_path is not None:
        check_output_file(json_path, "--json")
    # figures go into a hidden temporary folder renamed into place at the end, as for `tmesim run`
    staged = StagedDir(out or default_run_dir("reproduce"), unique=out is None, what="--out")
    try:
        if quiet or not stderr.is_terminal:
            results = run_findings(ids, draws=draws, seed=seed, out=staged.tmp, controls=not no_controls)
        else:
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
            with Progress(*columns, console=stderr, transient=True) as bar:
                task = bar.add_task("simulating", total=1.0)
                results = run_findings(ids, draws=draws, seed=seed, out=staged.tmp, controls=not no_controls,
                                       progress=lambda what, done: bar.update(task, description=what,
                                                                              completed=min(max(done, 0.0), 1.0)))
        if json_path is not None:
            write_json(results, json_path)
        out_dir = staged.commit()
    finally:
        staged.discard()
    stdout.print(_reproduce_table(results, draws))
    rejection = _rejection_table(results)
    if rejection is not None:
        stdout.print(rejection)
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
    stdout.print("[bold]" + _reproduce_headline(results, not no_controls) + ".[/bold]", highlight=False)
    stdout.print(_effects_line(results), highlight=False)
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
    field_rtol: Annotated[float, typer.Option("--field-rtol", help="The PhysiCell scenario's field error control (spatial.field_rtol, in (0, 1)); 0: its fixed field steps.")] = 0.01,
    field_scheme: Annotated[str, typer.Option("--field-scheme", help="'implicit': also time the PhysiCell scenario with spatial.field_scheme implicit (every field at --implicit-field-dt, no error control) and check its fields against the same reference; 'lod' (default): only the run above.")] = "lod",
    implicit_field_dt: Annotated[float, typer.Option("--implicit-field-dt", help="With --field-scheme implicit: the field step of that run, min (oxygen too).")] = 1.0,
    skip_physicell_run: Annotated[bool, typer.Option("--skip-physicell-run", help="With --physicell: time tmesim on the scenario but do not run PhysiCell itself.")] = False,
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
    if not (math.isfinite(field_rtol) and 0 <= field_rtol < 1):
        raise InputError("--field-rtol", f"got {field_rtol}", "give a relative tolerance in (0, 1), or 0 for fixed steps")
    if field_scheme not in ("lod", "implicit"):
        raise InputError("--field-scheme", f"got {field_scheme!r}", "give 'lod' or 'implicit'")
    if not (math.isfinite(implicit_field_dt) and 0 < implicit_field_dt <= 6):
        raise InputError("--implicit-field-dt", f"got {implicit_field_dt}", "give a step in (0, 6] minutes")
    result = bench_engine.bench_spatial(quick=quick, physicell=physicell, threads=threads,
                                        cells=tuple(cells) if cells else None, steps=steps, physicell_minutes=minutes,
                                        physicell_threads=physicell_threads, field_rtol=field_rtol or None,
                                        field_scheme=field_scheme if field_scheme == "implicit" else None,
                                        implicit_field_dt=implicit_field_dt, physicell_run=not skip_physicell_run,
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


# ---- tmesim analyze: analyses of a finished run folder; see docs/spatial.md ----
analyze_app = typer.Typer(help="Analyses of a finished run folder.", no_args_is_help=True)
app.add_typer(analyze_app, name="analyze")


@analyze_app.command("bystander")
def analyze_bystander(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A spatial run folder with cell and field snapshots (tmesim run --out).")],
    day: Annotated[float | None, typer.Option(help="Snapshot day (default: the last day every arm and replicate has).")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the tables and figures (default: RUN_DIR).")] = None,
) -> None:
    """SLC7A11 of antigen-negative tumour cells against the distance to the nearest IFN-gamma producer, per arm:
    write bystander_reach.csv (per arm and replicate), bystander_summary.csv (per arm), bystander_profiles.csv
    (per arm, replicate and distance bin: SLC7A11 loss, IFN-gamma in pM, lipid peroxide), bystander_profiles.png
    and bystander_ifng.png, and print the reach (um) per arm."""
    from tmesim.analysis.bystander import analyse_run, plot_fields, plot_profiles, reach_summary

    if not run_dir.is_dir():
        raise InputError("RUN_DIR", f"{run_dir} is not a folder", "give the folder tmesim run wrote")
    if day is not None and not (math.isfinite(day) and day >= 0):
        raise InputError("--day", f"got {day:g}", "give a snapshot day >= 0")
    result = analyse_run(run_dir, day=day)
    out = run_dir if out is None else out
    out.mkdir(parents=True, exist_ok=True)
    arms = list(dict.fromkeys(result.reaches["arm"]))
    result.reaches.to_csv(out / "bystander_reach.csv", index=False)
    summary = reach_summary(result.reaches, arms)
    summary.to_csv(out / "bystander_summary.csv", index=False)
    result.profiles.to_csv(out / "bystander_profiles.csv", index=False)
    plot_profiles(result, out / "bystander_profiles.png", arms)
    if result.fields:
        plot_fields(result, out / "bystander_ifng.png", arms)

    def pm(row, col, fmt):
        v, se = row[col], row.get(f"{col}_se", math.nan)
        if not math.isfinite(v):
            return "-"
        return format(v, fmt) + (f" +/- {format(se, fmt)}" if math.isfinite(se) else "")

    table = Table(title=f"Bystander SLC7A11 at day {result.day:g} (mean +/- SE over replicates)", box=box.SIMPLE_HEAD)
    for name in ("arm", "replicates", "producers", "loss next to producers (%)", "reach (um)",
                 "IFN-gamma e-fold (um)"):
        table.add_column(name, justify="left" if name == "arm" else "right")
    for _, r in summary.iterrows():
        reach = pm(r, "reach_um", ".0f")
        if not math.isfinite(r["reach_um"]):
            reach = f"censored ({int(r['censored'])})" if r["censored"] else "none"
        table.add_row(str(r["arm"]), str(r["replicates"]), f"{r['producers']:.0f}",
                      pm({**r, "near_loss": 100 * r["near_loss"], "near_loss_se": 100 * r["near_loss_se"]},
                         "near_loss", ".2f"), reach, pm(r, "ifng_efold_um", ".0f"))
    stdout.print(table)
    stdout.print(f"wrote bystander_reach.csv, bystander_summary.csv, bystander_profiles.csv and figures to {out}")


# ---- tmesim trial / cohorts / sensitivity / calibrate / bench trial: virtual trials; see docs/trials.md ----
@contextmanager
def _patient_bar(enabled: bool, what: str = "patients") -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar over patients on stderr, yielding ``progress(done, total)`` (None when disabled)."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(what, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _trial_table(arms: pd.DataFrame, kind: str) -> Table:
    """Rich table of a trial's arms (one column per arm): patients, failures, response rates and the
    survival median with 95% intervals, and the comparison with the reference arm."""
    def rate(row, name):
        value = row[f"{name}_rate"]
        return "-" if not math.isfinite(value) else \
            f"{100 * value:.1f}% ({100 * row[f'{name}_lo']:.1f}-{100 * row[f'{name}_hi']:.1f})"

    def days(value):
        return "not reached" if value == math.inf else _format_value(float(value), ".3g")

    survival = "pfs" if kind == "solid" else "efs"
    names = ("objective_response", "disease_control") if kind == "solid" else ("remission", "mrd_negative", "relapse")
    metrics = {"patients": lambda r: str(r["patients"]), "failed integrations": lambda r: str(r["failed"])}
    for name in names:
        metrics[name.replace("_", " ") + " rate"] = lambda r, n=name: rate(r, n)
    def median(r):
        m, lo, hi = (r[f"median_{survival}_{k}"] for k in ("days", "lo", "hi"))
        return "not reached" if m == lo == hi == math.inf else f"{days(m)} ({days(lo)}-{days(hi)})"

    metrics[f"median {survival.upper()} (days)"] = median
    metrics["HR vs reference"] = lambda r: "-" if not math.isfinite(r["hr_lo"]) else \
        f"{r['hazard_ratio']:.2f} ({r['hr_lo']:.2f}-{r['hr_hi']:.2f})"
    metrics["log-rank p vs reference"] = lambda r: _format_value(float(r["logrank_p"]), ".2g")
    table = Table(title="Trial arms (95% intervals)", box=box.SIMPLE_HEAD)
    table.add_column("", ratio=1, min_width=16)
    for arm in arms["arm"]:
        table.add_column(str(arm), justify="right", header_style="bold")
    rows = [r for _, r in arms.iterrows()]
    for label, cell in metrics.items():
        table.add_row(label, *(cell(r) for r in rows))
    return table


@app.command()
def trial(
    cohort: Annotated[str, typer.Argument(metavar="COHORT", help="Cohort YAML file or a shipped cohort (see `tmesim cohorts`).")],
    patients: Annotated[int | None, typer.Option(help="Virtual patients (default: the cohort's).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default runs/trial-<cohort>-<time>); rerun into it to resume.")] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes (default: one per core).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Address of an existing Dask scheduler to run on, e.g. tcp://host:8786.")] = None,
    dask_local: Annotated[int | None, typer.Option("--dask-local", metavar="N", help="Start a local Dask cluster of N worker processes.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the patients' draws (default: the cohort's).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Patients per task (default: the cohort's; 250, or 1 for a spatial cohort).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the output folder.")] = False,
) -> None:
    """Run a virtual trial: draw the cohort, run every arm, write patients.parquet, arms.csv, figures and report.html."""
    from tmesim.trials import load_cohort, make_executor

    if workers is not None and (scheduler is not None or dask_local is not None):
        raise InputError("--workers", "applies to local processes, not to Dask", "drop --workers, or drop --scheduler/--dask-local")
    spec = load_cohort(cohort, patients=patients, seed=seed, batch_size=batch_size)
    executor = make_executor(workers, scheduler, dask_local)
    from tmesim.io.outputs import default_run_dir
    from tmesim.trials import run_trial

    out_dir = out or default_run_dir(f"trial-{spec.name}")
    from tmesim.trials.runner import check_names
    from tmesim.trials.store import TrialStore

    TrialStore(out_dir, spec).open()  # refuse another trial's folder before starting anything
    check_names(spec)  # loads the engine, which forked workers then inherit
    with executor, _patient_bar(not quiet and stderr.is_terminal) as progress:  # workers start before the bar's thread
        result = run_trial(spec, out_dir, executor, progress)
    if quiet:
        print(out_dir)
        return
    stdout.print(_trial_table(result.arms, spec.endpoints.type))
    failed = int((result.patients["status"] != 0).sum())
    stdout.print(f"{spec.n_patients} patients x {len(spec.arms)} arms: {result.n_run} run now, {result.n_skipped} "
                 f"already recorded, {failed} runs failed to integrate (kept with their messages). "
                 f"Outputs in [bold]{out_dir}[/bold] (report.html, patients.parquet, arms.csv).")


@app.command()
def cohorts() -> None:
    """List the shipped trial cohorts."""
    from tmesim.trials import list_cohorts

    stdout.print(mapping_table("Cohorts", dict(list_cohorts()), ("name", "description")))


def _split_names(items: list[str] | None) -> list[str]:
    """``--params a,b --params c`` -> ``[a, b, c]`` (commas or repeats)."""
    return [n.strip() for item in (items or []) for n in item.split(",") if n.strip()]


@app.command()
def sensitivity(
    cohort: Annotated[str, typer.Argument(metavar="COHORT", help="Cohort YAML file or a shipped cohort.")],
    endpoint: Annotated[str, typer.Option(help="Per-patient endpoint to analyse, e.g. best_change_pct, pfs_days, log10_burden_mean.")],
    params: Annotated[list[str] | None, typer.Option("--params", help="Drawn parameters to vary, comma-separated (default: all the cohort draws).")] = None,
    method: Annotated[str, typer.Option(help="sobol (first-order and total indices) or morris (screening).")] = "sobol",
    samples: Annotated[int, typer.Option(help="Sobol base samples (a power of 2; runs = samples x (k + 2)) or Morris trajectories (runs = samples x (k + 1)).")] = 64,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default runs/sensitivity-<cohort>-<time>).")] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes (default: one per core).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Address of an existing Dask scheduler.")] = None,
    dask_local: Annotated[int | None, typer.Option("--dask-local", metavar="N", help="Start a local Dask cluster of N workers.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the SALib sample (default: the cohort's).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Global sensitivity of a trial endpoint to the cohort's parameters (SALib Sobol or Morris), per arm."""
    from tmesim.analysis.sensitivity import check_request
    from tmesim.trials import load_cohort, make_executor

    spec = load_cohort(cohort)
    check_request(spec, _split_names(params), endpoint, method, samples)
    executor = make_executor(workers, scheduler, dask_local)
    from tmesim.analysis.sensitivity import run_sensitivity, write_sensitivity
    from tmesim.io.outputs import default_run_dir

    out_dir = out or default_run_dir(f"sensitivity-{spec.name}")
    with _patient_bar(not quiet and stderr.is_terminal, "runs") as progress:
        result = run_sensitivity(spec, _split_names(params), endpoint, method, samples, executor, progress, seed)
    files = write_sensitivity(result, out_dir)
    table = Table(title=f"{method.capitalize()} sensitivity of {endpoint} (95% intervals)", box=box.SIMPLE_HEAD)
    columns = ("S1", "S1_conf", "ST", "ST_conf") if method == "sobol" else ("mu_star", "mu_star_conf", "sigma")
    for column in ("arm", "parameter", *columns):
        table.add_column(column, justify="left" if column in ("arm", "parameter") else "right")
    for _, row in result.table.iterrows():
        table.add_row(str(row["arm"]), str(row["parameter"]), *(_format_value(float(row[c]), ".3g") for c in columns))
    stdout.print(table)
    stdout.print(f"{len(result.runs)} runs; written: {', '.join(str(f) for f in files)}")


@app.command()
def calibrate(
    data: Annotated[Path, typer.Argument(metavar="DATA.csv", help="CSV of tumour sizes: columns arm, day, size (cells unless --cells-per-unit).")],
    params: Annotated[list[str], typer.Option("--params", help="Parameters to fit, comma-separated.")],
    scenario: Annotated[str, typer.Option(help="Scenario whose arms the data's arm names refer to.")] = FLAGSHIP_SCENARIO,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Parameter-set YAML to write (default <DATA>_fitted.yaml beside the data).")] = None,
    size_variable: Annotated[str, typer.Option(help="Model variable the sizes measure.")] = "tumor_live",
    cells_per_unit: Annotated[float, typer.Option(help="Cells per unit of the size column (e.g. 1e6 for mm3).")] = 1.0,
    name: Annotated[str | None, typer.Option(help="Name of the fitted parameter set.")] = None,
    method: Annotated[str, typer.Option(
        help="lsq (least squares, approximate intervals) or abc (ABC-SMC with pyabc, credible intervals; "
             "needs the extra: pip install 'tmesim[abc]').")] = "lsq",
    population: Annotated[int, typer.Option(help="abc: particles per generation.")] = 100,
    generations: Annotated[int, typer.Option(help="abc: most generations (it stops earlier when acceptance "
                                                  "falls below 2%).")] = 8,
    prior_fold: Annotated[float, typer.Option(help="abc: prior uniform in log space from the scenario's value "
                                                   "divided by this to multiplied by it.")] = 10.0,
    seed: Annotated[int, typer.Option(help="abc: seed of the sampler (>= 0).")] = 0,
) -> None:
    """Fit parameters to measured tumour sizes per arm (log10 size; least squares or ABC-SMC); write a parameter set."""
    from tmesim.analysis.calibration import (calibration_scenario, check_abc_settings, check_parameters,
                                             read_observations)
    from tmesim.scenario import load_scenario

    if method not in ("lsq", "abc"):
        raise InputError("--method", f"got {method!r}", "give lsq or abc")
    if method == "abc":
        check_abc_settings(population, generations, prior_fold)
        if not 0 <= seed < 2**32:
            raise InputError("--seed", f"got {seed}", "give an integer from 0 to 2^32-1")
    names = _split_names(params)
    scn = load_scenario(scenario)
    check_parameters(scn, names)
    observations = read_observations(data, cells_per_unit)
    calibration_scenario(scn, observations)  # arm names checked before the fit
    out_file = out or data.with_name(f"{data.stem}_fitted.yaml")
    if out_file.suffix not in (".yaml", ".yml"):
        raise InputError("--out", f"{out_file} does not end in .yaml", "parameter sets are YAML files")
    from tmesim.analysis.calibration import calibrate as fit, calibrate_abc, write_parameter_set
    from tmesim.units import conversion_factor

    if method == "abc":
        result = calibrate_abc(scn, observations, names, size_variable, population=population,
                               generations=generations, prior_fold=prior_fold, seed=seed)
    else:
        result = fit(scn, observations, names, size_variable)
    ps = scn.base_parameters
    factors = {p: (ps.by_name[p].given_unit, conversion_factor(ps.by_name[p].given_unit, ps.by_name[p].unit, p))
               for p in result.names}
    posterior_path = None
    if result.posterior is not None:
        from tmesim.trials.store import write_text_atomic

        table_si = result.posterior.copy()
        for p, (_, f) in factors.items():
            table_si[p] = table_si[p] / f
        table_si = table_si.rename(columns={p: f"{p} ({u})" for p, (u, _) in factors.items()})
        posterior_path = write_text_atomic(out_file.with_name(f"{out_file.stem}_posterior.csv"),
                                           table_si.to_csv(index=False))
    path = write_parameter_set(result, scn, data, out_file, name)
    interval = "95% interval" if result.method == "least squares" else "95% credible"
    table = Table(title=f"{result.method} fit to {data.name} ({result.n_points} points, residual sd "
                        f"{result.residual_sd:.3g} log10)", box=box.SIMPLE_HEAD)
    for column in ("parameter", "start", "fitted" if result.method == "least squares" else "median", interval, "unit"):
        table.add_column(column, justify="left" if column in ("parameter", "unit") else "right")
    for j, pname in enumerate(result.names):
        unit, f = factors[pname]
        table.add_row(pname, f"{result.start[j] / f:.4g}", f"{result.values[j] / f:.4g}",
                      f"{result.lower[j] / f:.4g}-{result.upper[j] / f:.4g}", unit)
    stdout.print(table)
    if result.method != "least squares":
        stdout.print(f"[dim]{result.message}[/dim]")
    if result.at_prior_edge:
        stdout.print(f"[yellow]the prior, not the data, bounds {', '.join(result.at_prior_edge)}: its credible "
                     f"interval reaches the prior's edge (widen --prior-fold)[/yellow]")
    if not result.success:
        what = "the optimiser stopped without converging" if result.method == "least squares" else "ABC-SMC stopped early"
        stdout.print(f"[yellow]{what}: {result.message}[/yellow]")
    if posterior_path is not None:
        stdout.print(f"posterior particles and weights written to [bold]{posterior_path}[/bold]")
    stdout.print(f"parameter set written to [bold]{path}[/bold] (use it with `parameter_set: {path}` in a scenario)")


@bench_app.command("trial")
def bench_trial(
    quick: Annotated[bool, typer.Option("--quick", help="1,000 patients instead of 10,000.")] = False,
    patients: Annotated[int | None, typer.Option(help="Virtual patients (default: 10,000; 1,000 with --quick).")] = None,
    days: Annotated[float | None, typer.Option(help="Simulated days (default: 365).")] = None,
    batch_size: Annotated[int, typer.Option(help="Patients per task.")] = 250,
    no_dask: Annotated[bool, typer.Option("--no-dask", help="Skip the Dask measurement.")] = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the measurements to this JSON file.")] = None,
) -> None:
    """Time a whole virtual trial (1 and 2 local workers, Dask) against the engine's time for the same patients."""
    for name, value in (("patients", patients), ("batch-size", batch_size)):
        if value is not None and value < 1:
            raise InputError(f"--{name}", f"got {value}", "give a positive integer")
    if days is not None and not (math.isfinite(days) and days > 0):
        raise InputError("--days", f"got {days}", "give a positive number")
    from tmesim.bench import bench_trial as measure

    result = measure(n_patients=patients, days=days, quick=quick, batch_size=batch_size, dask=not no_dask,
                     verbose=True)
    flat = {k: v for k, v in result.items() if not isinstance(v, (dict, list))}
    stdout.print(mapping_table("Virtual trial benchmark", flat, ("metric", "value")))
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2) + "\n")


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with ``code``."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    raise SystemExit(code)


def _is_usage_error(exc: BaseException) -> bool:
    """A command-line usage error (unknown option or command, unparsable value).

    Recognised by shape, because typer raises click's ``UsageError`` or, from
    0.2x on, that of its vendored copy of click.
    """
    return getattr(exc, "exit_code", None) == 2 and callable(getattr(exc, "format_message", None))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one ``warning: <message>`` line on stderr each (no source line, no traceback)."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


def crash_log_dirs() -> list[Path]:
    """Where a bug's traceback is written, first that works: ``$TMESIM_LOG_DIR``, the user's cache
    folder (``$XDG_CACHE_HOME/tmesim`` or ``~/.cache/tmesim``), the temporary folder."""
    import tempfile

    dirs = []
    if os.environ.get("TMESIM_LOG_DIR"):
        dirs.append(Path(os.environ["TMESIM_LOG_DIR"]))
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    dirs += [Path(cache) / "tmesim", Path(tempfile.gettempdir())]
    return dirs


def write_crash_log(exc: BaseException) -> Path | None:
    """Write the traceback of ``exc`` with the command line and versions; returns the file (None if
    no folder could be written)."""
    import platform
    import shlex
    import traceback

    from tmesim import __version__

    text = (f"tmesim {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
            f"command: {shlex.join(['tmesim', *sys.argv[1:]])}\n"
            f"time: {datetime.now().isoformat(timespec='seconds')}\n\n"
            + "".join(traceback.format_exception(exc)))
    name = f"tmesim-crash-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
    for folder in crash_log_dirs():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def main() -> None:
    """Console entry point (``tmesim``): run the app; every error becomes one line and an exit code.

    Exit codes: 0 success (and plain ``tmesim``, which prints the help), 2 bad
    input (:class:`~tmesim.errors.InputError`, a file that cannot be read or
    written, a usage error such as an unknown option), 3 failed simulation
    (:class:`~tmesim.errors.SimulationError`, out of memory), 130 interrupted
    (Ctrl-C), 1 a bug: anything else, its traceback written to a log file the
    line names (:func:`write_crash_log`). ``tmesim reproduce`` also exits 1
    when a required check fails (it says so above). Warnings print as one
    ``warning:`` line each.
    """
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            code = app(standalone_mode=False)
        except typer.Abort:
            fail("aborted", EXIT_INPUT_ERROR)
        except KeyboardInterrupt:
            fail("interrupted; nothing written", EXIT_INTERRUPTED)
        except InputError as exc:
            fail(str(exc), EXIT_INPUT_ERROR)
        except SimulationError as exc:
            fail(str(exc), EXIT_SIMULATION_ERROR)
        except MemoryError:
            fail("out of memory; nothing written (store outputs less often, or run fewer days, arms or patients)",
                 EXIT_SIMULATION_ERROR)
        except OSError as exc:
            where = exc.filename or ""
            fail(f"{where}: {exc.strerror or exc}" if where else str(exc), EXIT_INPUT_ERROR)
        except Exception as exc:
            if _is_usage_error(exc):
                if type(exc).__name__ == "NoArgsIsHelpError" or not exc.format_message().strip():
                    return  # plain `tmesim` (or a group without its command): the help was printed
                ctx = getattr(exc, "ctx", None)
                where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                fail(f"{exc.format_message()}{where}", EXIT_INPUT_ERROR)
            path = write_crash_log(exc)
            what = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
            fail(f"internal error ({what}); this is a bug in tmesim: "
                 + (f"the traceback is in {path}, please report it" if path else "please report it with the command"),
                 EXIT_BUG)
    if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into a silent exit 130
        fail("interrupted; nothing written", EXIT_INTERRUPTED)
    if isinstance(code, int) and code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
