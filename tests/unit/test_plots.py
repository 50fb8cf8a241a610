"""Figures: which exist, what they show (numbers, labels, colours), and that the PNGs are valid."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from tmesim.analysis import plots
from tmesim.results import mask_empty_pool

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_plot_run_writes_every_figure_as_png(run_dataset, tmp_path):
    written = plots.plot_run(run_dataset, tmp_path / "figures")
    assert [p.stem for p in written] == list(plots.FIGURES)
    for path in written:
        assert path.read_bytes()[:8] == PNG_MAGIC
        height, width, _ = matplotlib.image.imread(path).shape
        assert height > 100 and width > 100


def test_absent_variables_skip_their_figures(run_dataset, tmp_path):
    cytokines = plots.group_variables(run_dataset, "cytokines")
    ds = run_dataset.drop_vars(cytokines + ["macrophage_m1", "macrophage_m2"])
    assert plots.figure_cytokines(ds, plots.arm_colours(ds)) is None
    assert plots.figure_macrophages(ds, plots.arm_colours(ds)) is None
    written = plots.plot_run(ds.drop_vars(plots.group_variables(ds, "exhaustion_axis")), tmp_path)
    assert {p.stem for p in written} == set(plots.FIGURES) - {"cytokines", "macrophages", "exhaustion_axis"}


def test_tumor_burden_is_log_scale_with_labels_and_arm_legend(run_dataset):
    fig = plots.figure_tumor_burden(run_dataset, plots.arm_colours(run_dataset))
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "time (day)"
    assert ax.get_ylabel() == "live tumour cells (cell)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["control", "anti-PD-1"]
    assert fig.get_suptitle() == "Tumour burden"
    np.testing.assert_allclose(_lines_by_label(ax)["control"].get_ydata(), 1e6 + 1e5 * np.arange(11.0))


def test_tumor_burden_axis_stops_below_one_cell(run_dataset):
    ds = run_dataset.copy(deep=True)
    ds["tumor_live"].loc[{"arm": "anti-PD-1"}] = np.geomspace(1e6, 1e-80, ds.sizes["time"])[None, :]
    (ax,) = plots.figure_tumor_burden(ds, plots.arm_colours(ds)).axes
    assert ax.get_ylim()[0] == pytest.approx(plots.CELL_AXIS_FLOOR)
    # the top follows the data (~1.1e6 cells), not the 80 decades cut off below the floor
    assert 1.1e6 < ax.get_ylim()[1] < 1e7
    # a tumour that never goes below one cell keeps matplotlib's limits
    (ax,) = plots.figure_tumor_burden(run_dataset, plots.arm_colours(run_dataset)).axes
    assert ax.get_ylim()[0] > 1e5


def test_each_arm_keeps_its_colour_across_figures(run_dataset):
    colours = plots.arm_colours(run_dataset)
    assert colours["control"] != colours["anti-PD-1"]
    for build in (plots.figure_tumor_burden, plots.figure_death_modes, plots.figure_cytokines):
        lines = _lines_by_label(build(run_dataset, colours).axes[0])
        assert lines["control"].get_color() == colours["control"]
        assert lines["anti-PD-1"].get_color() == colours["anti-PD-1"]


def test_cohort_draws_median_line_and_interquartile_band(cohort_dataset):
    fig = plots.figure_tumor_burden(cohort_dataset, plots.arm_colours(cohort_dataset))
    (ax,) = fig.axes
    # patients scale the tumour by 1, 2, 3: median scale 2, quartiles 1.5 and 2.5
    np.testing.assert_allclose(_lines_by_label(ax)["control"].get_ydata(), 2 * (1e6 + 1e5 * np.arange(11.0)))
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    band_y = bands[0].get_paths()[0].vertices[:, 1]
    assert band_y.min() == pytest.approx(1.5e6) and band_y.max() == pytest.approx(2.5 * 2e6)


def test_single_patient_has_no_band(run_dataset):
    fig = plots.figure_tumor_burden(run_dataset, plots.arm_colours(run_dataset))
    assert not [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]


def test_groups_choose_panels_and_axes_carry_units(run_dataset):
    fig = plots.figure_ferroptosis_axis(run_dataset, plots.arm_colours(run_dataset))
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == [
        "tumour SLC7A11 expression",
        "tumour cystine uptake",
        "tumour glutathione",
        "tumour GPX4 activity",
        "tumour lipid peroxides",
    ]
    # the panel title names the variable, the y axis carries its unit
    assert fig.axes[2].get_ylabel() == "mM"
    assert fig.axes[0].get_ylabel() == "relative"  # dimensionless


def test_t_cell_states_one_panel_per_state_with_lineage_styles(run_dataset):
    fig = plots.figure_t_cell_states(run_dataset, plots.arm_colours(run_dataset))
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [
        "effector", "progenitor exhausted", "terminal exhausted", "anergic", "senescent"
    ]
    terminal = panels[2]
    # CD8, CD4 and CAR CD8 terminal-exhausted lines for each of two arms
    assert sorted(line.get_linestyle() for line in terminal.get_lines()) == sorted(["-", "--", ":"] * 2)
    legend = [t.get_text() for t in panels[0].get_legend().get_texts()]
    assert legend == ["control", "anti-PD-1", "CD8", "CD4", "CAR CD8"]


def test_m1_fraction(run_dataset):
    fraction = plots.m1_fraction(run_dataset)
    np.testing.assert_allclose(fraction.values, 0.3)
    run_dataset["macrophage_m1"] *= 0.0
    run_dataset["macrophage_m2"] *= 0.0
    assert np.isnan(plots.m1_fraction(run_dataset).values).all()


def test_car_axis_panels_only_where_car_t_cells_exist(run_dataset):
    ds = run_dataset.copy(deep=True)
    ds["car_t_bach2"] = ds["t_cell_bach2"].copy()
    ds["car_t_bach2"].attrs["long_name"] = "CAR T cell BACH2 activity"
    titles = lambda d: [ax.get_title() for ax in plots.figure_exhaustion_axis(d, plots.arm_colours(d)).axes
                        if ax.get_visible()]
    # CAR T cells present (500 cells) in every arm: the panel is drawn with the values unchanged
    assert "CAR T cell BACH2 activity" in titles(ds)
    np.testing.assert_array_equal(mask_empty_pool(ds, ds["car_t_bach2"]).values, ds["car_t_bach2"].values)
    # below one CAR T cell the pool's mean state is not data; with none anywhere the panel goes
    empty = ds.copy(deep=True)
    empty["t_cells"].loc[{"t_pool": ["car_cd8_effector", "car_cd8_terminal_exhausted"]}] = 0.0
    assert bool(mask_empty_pool(empty, empty["car_t_bach2"]).isnull().all())
    assert "CAR T cell BACH2 activity" not in titles(empty)
    assert "T cell BACH2 activity" in titles(empty)  # host axis unaffected
    # after an infusion (pool from zero to 0.5 and then 600 cells) only the populated times are drawn
    half = ds.copy(deep=True)
    half["t_cells"].loc[{"t_pool": "car_cd8_terminal_exhausted"}] = 0.0
    half["t_cells"].loc[{"t_pool": "car_cd8_effector", "time": half.time[:3]}] = 0.5
    masked = mask_empty_pool(half, half["car_t_bach2"])
    assert bool(masked[..., :3].isnull().all()) and bool(masked[..., 3:].notnull().all())


def test_tumour_state_is_not_drawn_after_the_tumour_is_gone(run_dataset):
    ds = run_dataset.copy(deep=True)
    ds["tumor_live"].loc[{"arm": "anti-PD-1"}] = np.where(np.arange(ds.sizes["time"]) < 4, 1e6, 0.0)[None, :]
    masked = mask_empty_pool(ds, ds["tumor_gsh"])
    treated, control = masked.sel(arm="anti-PD-1"), masked.sel(arm="control")
    assert bool(treated[..., :4].notnull().all()) and bool(treated[..., 4:].isnull().all())
    np.testing.assert_array_equal(control.values, ds["tumor_gsh"].sel(arm="control").values)
    # counts and non-pool variables are never masked
    np.testing.assert_array_equal(mask_empty_pool(ds, ds["tumor_live"]).values, ds["tumor_live"].values)
    fig = plots.figure_ferroptosis_axis(ds, plots.arm_colours(ds))
    gsh = _lines_by_label(fig.axes[2])["anti-PD-1"].get_ydata()
    assert np.isfinite(gsh[:4]).all() and np.isnan(gsh[4:]).all()


# ------------------------------------------------------------ issue 20: readable figures
def test_counts_are_on_log_axes_and_other_axes_have_no_offset(run_dataset):
    colours = plots.arm_colours(run_dataset)
    for build in (plots.figure_death_modes, plots.figure_t_cell_states):
        fig = build(run_dataset, colours)
        assert all(ax.get_yscale() == "log" for ax in fig.axes if ax.get_visible()), build.__name__
    fig = plots.figure_macrophages(run_dataset, colours)
    scales = [ax.get_yscale() for ax in fig.axes if ax.get_visible()]
    assert scales == ["log", "log", "linear"]  # M1, M2 cells; the M1 fraction
    fig.canvas.draw()
    fraction_axis = [ax for ax in fig.axes if ax.get_visible()][2]
    assert fraction_axis.yaxis.get_offset_text().get_text() == ""
    fig = plots.figure_cytokines(run_dataset.assign(ifng=run_dataset["ifng"] * 1e6 + 3e9), colours)
    fig.canvas.draw()
    for ax in fig.axes:
        if ax.get_visible():
            assert ax.yaxis.get_offset_text().get_text() == ""
    assert plots._tick_label(2.5e9) == "2.5e9" and plots._tick_label(0.35) == "0.35"


def test_pools_and_death_modes_never_reaching_a_cell_are_left_out(run_dataset):
    ds = run_dataset.copy(deep=True)
    ds["t_cells"].loc[{"t_pool": ["car_cd8_effector", "car_cd8_terminal_exhausted"]}] = 0.0
    ds["t_cells"].loc[{"t_pool": "cd8_anergic"}] = 0.5  # under one cell throughout
    ds["deaths_necrosis"] = ds["deaths_necrosis"] * 0.0
    colours = plots.arm_colours(ds)
    fig = plots.figure_t_cell_states(ds, colours)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["effector", "progenitor exhausted", "terminal exhausted", "senescent"]
    assert ":" not in {line.get_linestyle() for ax in panels for line in ax.get_lines() if line.get_label()[0] != "_"}
    assert all(line.get_linestyle() != ":" for ax in panels for line in ax.get_lines())
    legend = [t.get_text() for t in panels[0].get_legend().get_texts()]
    assert "CAR CD8" not in legend and legend[-2:] == ["CD8", "CD4"]
    titles = [ax.get_title() for ax in plots.figure_death_modes(ds, colours).axes if ax.get_visible()]
    assert len(titles) == 2 and not any("necrosis" in t for t in titles)
    ds["t_cells"][:] = 0.0
    assert plots.figure_t_cell_states(ds, colours) is None


def test_cohort_bands_are_named_in_the_legend_and_drawn_once_per_panel(cohort_dataset):
    colours = plots.arm_colours(cohort_dataset)
    fig = plots.figure_tumor_burden(cohort_dataset, colours)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["control", "anti-PD-1", "interquartile range\n(3 patients)"]
    fig = plots.figure_t_cell_states(cohort_dataset, colours)
    terminal = [ax for ax in fig.axes if ax.get_title().startswith("terminal exhausted")][0]
    # three lineages, two arms: one band per arm (the first lineage's), not six
    assert len([c for c in terminal.collections if isinstance(c, PolyCollection)]) == 2
    assert terminal.get_title() == "terminal exhausted (band: CD8)"
    assert "interquartile range\n(3 patients)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_single_patient_legends_have_no_band_entry(run_dataset):
    fig = plots.figure_tumor_burden(run_dataset, plots.arm_colours(run_dataset))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["control", "anti-PD-1"]


def test_plot_run_reports_progress(run_dataset, tmp_path):
    calls = []
    plots.plot_run(run_dataset, tmp_path, progress=lambda done, total: calls.append((done, total)))
    n = len(plots.FIGURES)
    assert calls == [(k, n) for k in range(n + 1)]
