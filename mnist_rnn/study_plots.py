"""The plots of a ``tune`` study: Optuna's own (matplotlib), with the history and the learning curves made
readable at a glance."""

from __future__ import annotations

import logging
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from mnist_rnn.errors import first_few, first_line
from mnist_rnn.tune import METRIC

MIN_TRIALS_FOR_IMPORTANCES = 5


def write_plots(study: Any, folder: Path, parameters: int) -> list[str]:
    """Optuna's optimisation history, parameter importances (with 2 or more ``parameters`` and complete
    trials), parallel coordinates and intermediate values of ``study`` as PNGs in ``folder``, made readable
    (:func:`tidy`); the names of the files written."""
    import matplotlib

    matplotlib.use("Agg")
    # A stale font cache (~/.cache/matplotlib built without matplotlib's own fonts) made each plot print a
    # "findfont: ... Falling back to DejaVu Sans" line per mathtext font, twenty lines between tune's own.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if not any(t.state.name in ("COMPLETE", "PRUNED") for t in trials):  # Optuna drew empty axes, announced
        print("tune: no plots yet: no trial has finished")
        return []
    folder.mkdir(exist_ok=True)
    wanted = {
        "optimization_history": plots.plot_optimization_history,
        "param_importances": plots.plot_param_importances,
        "parallel_coordinate": plots.plot_parallel_coordinate,
        "intermediate_values": plots.plot_intermediate_values,
    }
    written = []
    for name, plot in wanted.items():
        if name == "param_importances" and (len(complete) < MIN_TRIALS_FOR_IMPORTANCES or parameters < 2):
            if parameters >= 2:  # fANOVA's forest over fewer trials gives numbers that mean nothing
                print(f"tune: no {name} plot yet: it needs {MIN_TRIALS_FOR_IMPORTANCES} complete trials")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
            try:
                axes = plot(study)
            except (ValueError, RuntimeError) as error:
                print(f"tune: no {name} plot: {first_line(error)}")
                continue
        try:
            tidy(name, axes, study)
        except Exception as error:  # a plot as Optuna draws it is better than no best.yaml
            print(f"tune: {name} plot left as Optuna draws it: {first_line(error)}")
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
        figure.savefig(folder / f"{name}.png", dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(f"{name}.png")
    return written


# Optuna's history and intermediate values plots, made readable. Their y axis spans every value, so one
# trial that failed to learn (52% among trials of 99.4-99.6%) squashed the trials worth comparing into a
# flat line at the top, and the intermediate values had one legend entry per trial (taller than the
# figure with 35 trials, and tab20's colours repeat after 20). So the y axis is zoomed to the trials worth
# comparing, in percent, with a note on the figure naming what lies below it (nothing is hidden
# silently); the learning curves are coloured by the trial's state with the best trial drawn bold.


def tidy(name: str, axes: Any, study: Any) -> None:
    """Make Optuna's plot ``name`` of ``study`` readable at a glance."""
    if name == "param_importances":  # its one legend entry said "Objective Value"
        for container in axes.containers:
            container.set_label(f"importance for {METRIC}")
        if axes.get_legend() is not None:
            axes.legend(loc="lower right")
    elif name == "optimization_history":
        _tidy_history(axes, study)
    elif name == "intermediate_values":
        _tidy_intermediate(axes, study)
    elif name == "parallel_coordinate":
        _tidy_parallel(axes, study)


def _tidy_parallel(axes: Any, study: Any) -> None:
    """The parallel coordinates: one inch per axis (Optuna's fixed 6.4 inches overlapped the tick labels of
    9 parameters), the options' names without ``model.``/``data.``, and the colours spread over the trials
    worth comparing (one that failed to learn made every other line the same dark blue), naming those below."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    shown = [label.get_text() for label in axes.get_xticklabels()]  # Optuna cuts long names: "model.augment_r..."
    options = sorted({name for trial in study.get_trials(deepcopy=False) for name in trial.params})  # its order
    names = [METRIC, *(option.split(".", 1)[-1] for option in options)] if len(options) == len(shown) - 1 else shown
    axes.figure.set_size_inches(max(6.4, 1.0 * len(names) + 2.0), 5.0)
    axes.set_xticks(axes.get_xticks(), names)
    axes.yaxis.set_major_formatter(_percent(axes.get_ylim()))  # the first axis: the trials' val/acc
    lines = next((c for c in axes.collections if c.get_array() is not None), None)
    values = _complete_values(study)
    limits = _zoom_limits(values.values())
    if lines is None or limits is None:
        return
    lines.set_clim(*limits)
    lines.set_cmap(ListedColormap(colormaps["Blues"](np.linspace(0.25, 1.0, 256))))  # no white on the grey
    if lines.colorbar is not None:
        lines.colorbar.update_normal(lines)
        lines.colorbar.set_label(METRIC)
        lines.colorbar.ax.yaxis.set_major_formatter(_percent(limits))
    below = _below(values, limits[0])
    if below:
        _note(axes, f"In the palest colour, below {limits[0]:.2%}: {_named(below)}", below=90)


def _complete_values(study: Any) -> dict[int, float]:
    """The value (best val/acc) of each complete trial with a finite one, by trial number."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return {t.number: t.value for t in complete if t.value is not None and np.isfinite(t.value)}


def _below(values: dict[int, float], limit: float) -> list[tuple[int, float]]:
    """(trial number, value) of the values under ``limit``, by trial number."""
    return sorted((number, value) for number, value in values.items() if value < limit)


def _zoom_limits(values: Any) -> tuple[float, float] | None:
    """The y limits of the values worth comparing (higher is better): from the lowest value within 4 times
    the spread of the top three quarters (best - 25th percentile) below the best, to the best, with a
    margin. A trial far below the others (a training that failed to learn) falls below the lower limit;
    with fewer than 5 values, or values close together, none does. None: no finite value."""
    values = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if not values.size:
        return None
    top = float(values.max())
    low = float(values[values >= top - 4 * (top - np.percentile(values, 25))].min())
    margin = (top - low) * 0.08 or max(abs(top) * 0.005, 1e-3)  # all equal: a band around them
    return low - margin, top + margin


def _percent_axis(axes: Any, limits: tuple[float, float]) -> None:
    """The y axis between ``limits``, in percent; the x axis (trials, validations) in whole numbers."""
    from matplotlib.ticker import MaxNLocator

    axes.set_ylim(*limits)
    axes.yaxis.set_major_formatter(_percent(limits))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


def _percent(limits: tuple[float, float]) -> Any:
    """Percent ticks with as many decimals as a span of ``limits`` needs ("99.45%", "60%"; matplotlib's own
    choice printed "91.800%")."""
    from matplotlib.ticker import PercentFormatter

    span = abs(limits[1] - limits[0]) * 100
    return PercentFormatter(xmax=1.0, decimals=2 if span < 5 else 1 if span < 20 else 0)


def _note(axes: Any, text: str, below: float = 44) -> None:
    """``text`` under the plot, ``below`` points under its bottom edge (under the x label), in red: what the
    zoomed y axis leaves out (in lines no wider than the plot: the figure's tight layout would shrink the plot
    to fit a wider one)."""
    axes.annotate(
        textwrap.fill(text, 75),
        xy=(0, 0),
        xycoords="axes fraction",
        xytext=(0, -below),
        textcoords="offset points",
        ha="left",
        va="top",
        fontsize=9,
        color="darkred",
    )


def _named(trials: list[tuple[int, float]], shown: int = 3) -> str:
    """[(5, 0.524), ...] as "trial 5 (52.4%), ..." (the first ``shown``, then how many more)."""
    return first_few([f"trial {number} ({value:.1%})" for number, value in trials], shown)


def _tidy_history(axes: Any, study: Any) -> None:
    """Zoom the history's y axis to the complete trials worth comparing; mark and name those below it."""
    from matplotlib.transforms import blended_transform_factory

    axes.set_xlabel("trial")
    axes.set_ylabel(f"{METRIC} (the trial's best)")
    values = _complete_values(study)
    limits = _zoom_limits(values.values())
    if limits is None:
        return
    _percent_axis(axes, limits)
    best = max(values, key=lambda number: (values[number], -number))  # the first of equal bests
    # Written away from the nearer side: a best in the right half had its label run past the axes, under the
    # legend to their right.
    left, right = axes.get_xlim()
    on_the_right = best > (left + right) / 2
    axes.annotate(
        f"best: trial {best}, {values[best]:.2%}",
        xy=(best, values[best]),
        xytext=(-6 if on_the_right else 6, -12),
        textcoords="offset points",
        horizontalalignment="right" if on_the_right else "left",
        fontsize=9,
    )
    for artist in (*axes.collections, *axes.lines):  # Optuna's "Objective Value" and "Best Value"
        label = {"Objective Value": "complete trial", "Best Value": "best so far"}.get(str(artist.get_label()))
        artist.set_label(label or artist.get_label())
    below = _below(values, limits[0])
    if below:  # a mark on the bottom edge at each one's trial number, and their values under the plot
        edge = blended_transform_factory(axes.transData, axes.transAxes)  # x: trial, y: the bottom edge
        numbers = [number for number, _ in below]
        axes.scatter(
            numbers,
            [0.0] * len(below),
            marker="v",
            color="darkred",
            transform=edge,
            clip_on=False,
            zorder=5,
            label="below the axis",
        )
        trials = "1 trial" if len(below) == 1 else f"{len(below)} trials"
        _note(axes, f"{trials} below the axis (under {limits[0]:.2%}): {_named(below)}")
    axes.legend(bbox_to_anchor=(1.05, 1.0), loc="upper left")


def _tidy_intermediate(axes: Any, study: Any, labelled: int = 10) -> None:
    """Colour the learning curves by the trial's state (one legend entry per state, not per trial; each
    curve's end labelled with its trial number when there are at most ``labelled``), draw the best trial
    bold, and zoom the y axis to the trials' last values worth comparing, naming what lies below it."""
    from matplotlib.lines import Line2D

    axes.set_xlabel("validation (one per epoch unless --trainer.val_check_interval is set)")
    axes.set_ylabel(METRIC)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    curves = {}  # trial number: its line
    for line in axes.get_lines():
        label = str(line.get_label())
        if label.startswith("Trial") and label[5:].isdigit() and int(label[5:]) in trials:
            curves[int(label[5:])] = line
    if not curves:
        return
    colours = {"COMPLETE": "tab:blue", "PRUNED": "tab:orange"}
    counts: dict[str, int] = {}
    for number, line in curves.items():
        state = trials[number].state.name
        counts[state] = counts.get(state, 0) + 1
        line.set(color=colours.get(state, "tab:gray"), alpha=0.5, linewidth=1, markersize=3, label="_curve")
    handles = [
        Line2D([], [], color=colours.get(state, "tab:gray"), marker=".", label=f"{state.lower()} ({count})")
        for state, count in counts.items()
    ]
    complete = {number: value for number, value in _complete_values(study).items() if number in curves}
    if complete:
        best = max(complete, key=lambda number: (complete[number], -number))
        curves[best].set(color="navy", alpha=1.0, linewidth=2.2, zorder=4)
        handles.append(Line2D([], [], color="navy", linewidth=2.2, label=f"best: trial {best} ({complete[best]:.2%})"))
    last = {number: float(line.get_ydata()[-1]) for number, line in curves.items() if len(line.get_ydata())}
    limits = _zoom_limits(last.values())
    if limits is not None:
        _percent_axis(axes, limits)
    if len(curves) <= labelled:
        for number, line in curves.items():
            x, y = line.get_xdata(), line.get_ydata()
            if len(y) and (limits is None or y[-1] >= limits[0]):
                axes.annotate(
                    str(number),
                    xy=(x[-1], y[-1]),
                    xytext=(3, 0),
                    textcoords="offset points",
                    fontsize=8,
                    va="center",
                )
    if axes.get_legend() is not None:
        axes.get_legend().remove()
    axes.legend(handles=handles, loc="best", fontsize=9)
    if limits is None:
        return
    ended = _below(last, limits[0])
    ended_numbers = {number for number, _ in ended}
    earlier = [  # of the other trials: how many of their validations lie below the axis
        int((np.asarray(line.get_ydata(), dtype=float) < limits[0]).sum())
        for number, line in curves.items()
        if number not in ended_numbers
    ]
    earlier = [count for count in earlier if count]
    parts = []
    if ended:
        parts.append(f"{_named(ended)} at {'its' if len(ended) == 1 else 'their'} last validation")
    if earlier:
        other = "other " if ended else ""
        parts.append(
            f"{sum(earlier)} earlier validation{'s' if sum(earlier) > 1 else ''} of {len(earlier)} {other}"
            f"trial{'s' if len(earlier) > 1 else ''}"
        )
    if parts:
        _note(axes, f"Under the axis (below {limits[0]:.2%}): {' and '.join(parts)}")
