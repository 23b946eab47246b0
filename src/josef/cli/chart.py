"""``josef perf --histogram``: the latency percentile distribution drawn with matplotlib (the ``plot``
extra), in the style of HdrHistogram's plots: percentiles on a log scale of 1/(1-p), so that the
tail (99 %, 99.9 %, 99.99 %) is as visible as the median."""

from __future__ import annotations

import math
from typing import Any

from josef.cli.common import CliError
from josef.cli.latency import LatencyHistogram

INSTALL_HINT = "pip install 'josef[plot]' (or: pip install matplotlib)"

LINE_COLOR = "#3465a4"
STEADY_COLOR = "#cc0000"


def require_matplotlib() -> None:
    """Fail before the benchmark runs, not after, when the chart cannot be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CliError(f"--histogram needs matplotlib, which is not installed: {INSTALL_HINT}") from None


def _x(percentile: float) -> float:
    return 1.0 / (1.0 - percentile / 100.0)


def draw_latency_chart(path: str, series: list[tuple[str, LatencyHistogram]], subtitle: str) -> None:
    """Write a PNG of each histogram's percentile distribution (latency against percentile)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    fig, ax = plt.subplots(figsize=(9, 4.6), dpi=100)
    top = 1.0
    for i, ((label, hist), color) in enumerate(zip(series, (LINE_COLOR, STEADY_COLOR), strict=False)):
        points = [(p, ms) for p, ms in hist.distribution() if p < 100.0]
        if not points:
            continue
        xs, ys = [_x(p) for p, _ in points], [ms for _, ms in points]
        ax.plot(xs, ys, color=color, linewidth=2, label=f"{label} ({hist.count:,} records)")
        top = max(top, xs[-1])
        if i:  # the marks are for the first series only: two sets would overlap
            continue
        ax.axhline(hist.max_ms(), color=color, linewidth=1, linestyle=":")
        ax.annotate(f"max {hist.max_ms():.2f} ms", (1.0, hist.max_ms()), xytext=(4, -11),
                    textcoords="offset points", color=color, fontsize=8)
        for p in (50.0, 99.0, 99.9):
            ms = hist.value_ms(p)
            if _x(p) <= xs[-1]:
                ax.plot([_x(p)], [ms], "o", color=color, markersize=4)
                ax.annotate(f"p{p:g} {ms:.2f} ms", (_x(p), ms), xytext=(4, -12), textcoords="offset points",
                            ha="left", fontsize=8, color=color)
    ax.set_xscale("log")
    decades = max(1, math.ceil(math.log10(top)))
    ticks = [10.0**i for i in range(decades + 1)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticklabels([_percent_label(t) for t in ticks])
    ax.set_xlim(1.0, ticks[-1])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms), send to acknowledgement")
    fig.suptitle("josef perf: latency by percentile", fontsize=12)
    ax.set_title(subtitle, fontsize=8, color="#555555")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.08)  # room for the max line's label
    ax.grid(True, which="major", color="#dddddd")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise CliError(f"--histogram {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def _percent_label(x: float) -> str:
    """1 -> 0%, 10 -> 90%, 100 -> 99%, 1000 -> 99.9% ..."""
    percentile = 100.0 * (1.0 - 1.0 / x)
    return f"{percentile:.{max(0, round(math.log10(x)) - 2)}f}%"


def subtitle_for(result: dict[str, Any]) -> str:
    return (f"{result['records']:,} records, {result['records_per_sec']:,.0f} records/s, "
            f"avg {result['avg_latency_ms']:.2f} ms, max {result['max_latency_ms']:.2f} ms")
