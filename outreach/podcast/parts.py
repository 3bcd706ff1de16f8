"""The mastering's measurement of a long recording, read in two parts at once.

The gain needs the whole recording's loudness before the encode can start, and the decode
behind that measurement runs on one core: for an hour's video, four seconds of AAC decoding
before an encode that takes as long as a plain extraction. Two ffmpegs decode the halves at
the same time (the second seeks to its half), each measured in this process.

The split falls on a 100 ms boundary of the output samples, so the halves' 100 ms energies
join into exactly the series one meter would have kept, and BS.1770's 400 ms gating blocks
are formed across the join as they would be in one pass. The second part starts a second
early and uses that second only to settle the K-weighting filter. What a seek cannot give
back exactly is where it lands and the decoder's own history: in an MP4 the AAC decode after a
seek can start a frame or two (about 46 ms) off, as the encoder's priming is only accounted
from the start, and AAC's noise substitution draws from a generator that runs from the first
frame, so some noise bands differ in their samples though not in their energy. The loudness
agrees with one pass to within a few hundredths of an LU (the tests hold it to 0.05; the
target's tolerance is 0.5), while the length and the peak are only estimates: the encode
reads a fresh, whole decode, and the limiter works from the samples it really has.

The recording is split in two whatever the machine's cores, and only by its stated length,
so every machine measures the same figure and masters the same bytes. Short recordings
(under a minute) are read in one part.
"""

from __future__ import annotations

import contextlib
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from outreach.podcast.ffmpeg import stream_ffmpeg

if TYPE_CHECKING:
    from outreach.podcast.loudness import LoudnessMeter

PARTS = 2
SHORTEST_SPLIT_SECONDS = 60.0
WARM_UP_SECONDS = 1.0
"""How far before its half the second part starts decoding, to settle the filter."""


@dataclass(frozen=True)
class Measured:
    """The recording's integrated loudness (LUFS), its loudest sample (dBFS, an estimate
    near the join) and how many frames the parts decoded."""

    integrated: float
    peak: float
    frames: int


class _PartDone(Exception):
    """Raised inside a part's decode once it has all its frames: ffmpeg is stopped."""


def split_points(length: float | None, rate: int) -> list[int]:
    """Where each part starts, in output frames: [0], or [0, a 100 ms boundary near the
    middle] for a recording of a minute or more (``length`` as its file states it)."""
    if length is None or not math.isfinite(length) or length < SHORTEST_SPLIT_SECONDS:
        return [0]
    step = round(rate / 10)
    return [0] + [int(length * rate * k / PARTS) // step * step for k in range(1, PARTS)]


def measure_in_parts(
    arguments: list[str], channels: int, rate: int, length: float | None
) -> Measured:
    """Measure the PCM that ``arguments`` (ffmpeg's input options and decode, output to
    ``pipe:1`` as float32 at ``rate``; the seek is inserted in front) produce."""
    import numpy as np

    from outreach.podcast.loudness import LoudnessMeter, integrated_lufs

    starts = split_points(length, rate)
    ends: list[int | None] = [*starts[1:], None]
    frame_bytes = 4 * channels

    def part(start: int, end: int | None) -> LoudnessMeter:
        warm_up = min(start, round(rate * WARM_UP_SECONDS))
        wanted = None if end is None else warm_up + end - start
        meter = LoudnessMeter(channels, rate, warm_up=warm_up)
        seek = ["-ss", f"{(start - warm_up) / rate:.6f}"] if start else []
        limit = [] if wanted is None else ["-t", f"{wanted / rate + 1:.6f}"]
        received = 0

        def consume(chunk: bytes) -> None:
            nonlocal received
            if wanted is not None:
                chunk = chunk[: (wanted - received) * frame_bytes]
            received += len(chunk) // frame_bytes
            meter.add(chunk)
            if wanted is not None and received >= wanted:
                raise _PartDone

        with contextlib.suppress(_PartDone):
            stream_ffmpeg([*seek, *arguments[:-1], *limit, arguments[-1]], consume, frame_bytes)
        return meter

    with ThreadPoolExecutor(max_workers=len(starts)) as pool:
        meters = list(pool.map(part, starts, ends))
    step = meters[0].step
    energies = [meter.energies for meter in meters]
    peaks = [float(meter.block_peaks.max()) for meter in meters if meter.frames]
    peak = max(peaks, default=0.0)
    return Measured(
        integrated=integrated_lufs(np.concatenate(energies), step),
        peak=20 * math.log10(peak) if peak > 0 else -math.inf,
        frames=sum(meter.frames for meter in meters),
    )
