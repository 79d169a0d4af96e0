"""The training loss chart: one line per head fit, with a legend entry each and plain tick labels."""

from matplotlib.figure import Figure  # no pyplot: no global figure state shared between requests
from matplotlib.ticker import MaxNLocator


def head_curves(curve: list[tuple[str, int, float]]) -> dict[str, tuple[list[int], list[float]]]:
    """(stage, step, loss) reports -> {stage: (steps, losses)} of the head fits, in the order they ran. The
    classifier's cross-entropy lives on another scale and takes seconds, so the status line reports it."""
    lines: dict[str, tuple[list[int], list[float]]] = {}
    for stage, step, loss in curve:
        if stage.endswith("/head"):
            steps, losses = lines.setdefault(stage, ([], []))
            steps.append(step)
            losses.append(loss)
    return lines


def stage_label(stage: str) -> str:
    """'select/fold 2/head' -> 'validation fit, fold 2 (chooses the settings)'; 'final/head' -> 'final fit ...'."""
    parts = stage.split("/")[:-1]
    if parts[0] == "final":
        return "final fit on all training classes"
    fold = f", {parts[1]}" if len(parts) > 1 else ""
    return f"validation fit{fold} (chooses the settings)"


def loss_figure(curve: list[tuple[str, int, float]]) -> Figure:
    """The head's loss per step, one labelled line per fit; before the first report, what will appear here."""
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    lines = head_curves(curve)
    if not lines:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "the head's training loss appears here, step by step,\nonce a training runs",
                ha="center", va="center", color="grey")
        return fig
    for stage, (steps, losses) in lines.items():
        ax.plot(steps, losses, marker="o" if len(steps) < 20 else None, markersize=4, linewidth=1.2,
                label=stage_label(stage))
    ax.set(title="head training loss (lower is better)", xlabel="step", ylabel="loss")
    ax.ticklabel_format(axis="both", style="plain", useOffset=False)  # -1126.5, not 1e3 or an offset
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig

