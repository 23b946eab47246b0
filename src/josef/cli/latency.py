"""Send-to-acknowledgement latencies in an HDR histogram: every record counted, none sampled, each
value kept to three significant digits from 1 microsecond to an hour in a fixed amount of memory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from hdrh.histogram import HdrHistogram

# Reported in JSON: the percentiles HdrHistogram users read first, then the maximum.
JSON_PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99)

_LOWEST_US, _HIGHEST_US, _DIGITS = 1, 3_600_000_000, 3


class LatencyHistogram:
    """Latencies recorded in microseconds, read back in milliseconds."""

    def __init__(self) -> None:
        self._hdr = HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)
        self._max_s = 0.0  # exact: the histogram's own maximum is its bucket's upper end

    @property
    def count(self) -> int:
        return int(self._hdr.get_total_count())

    def record_seconds(self, latencies: Iterable[float]) -> None:
        """Record many latencies (seconds). Equal microsecond values are counted first and recorded
        once each: the histogram's own per-value call is pure Python and costs ~4x more."""
        if not isinstance(latencies, Sequence):
            latencies = list(latencies)
        if latencies:
            self._max_s = max(self._max_s, max(latencies))
        for micros, n in Counter(map(int, map((1e6).__mul__, latencies))).items():
            self._hdr.record_value(min(max(micros, _LOWEST_US), _HIGHEST_US), n)

    def value_ms(self, percentile: float) -> float:
        """The latency (ms) at ``percentile`` (0..100); 0.0 when nothing was recorded."""
        if not self.count:
            return 0.0
        return min(float(self._hdr.get_value_at_percentile(percentile)) / 1000.0, self.max_ms())

    def max_ms(self) -> float:
        return self._max_s * 1000.0

    def percentiles_ms(self, percentiles: Sequence[float]) -> dict[str, float]:
        """``{"50": ms, "99.9": ms, ...}``, rounded to the microsecond."""
        return {f"{p:g}": round(self.value_ms(p), 3) for p in percentiles}

    def distribution(self, ticks_per_half_distance: int = 5) -> list[tuple[float, float]]:
        """(percentile, latency ms) pairs, denser towards 100 % (HdrHistogram's percentile
        distribution, as its plots and ``.hgrm`` files show it)."""
        if not self.count:
            return []
        return [
            (float(step.percentile_level_iterated_to), min(float(step.value_iterated_to) / 1000.0, self.max_ms()))
            for step in self._hdr.get_percentile_iterator(ticks_per_half_distance)
        ]
