"""A lookahead peak limiter on the decoded PCM on its way to the encode, working only on the
few stretches that the mastering gain would push past the ceiling.

ffmpeg's ``alimiter`` filter processes every sample: 0.75 CPU-seconds for ten minutes of
mono here, a quarter of the MP3 encode, when speech pushed 3-4 dB past the ceiling needs
limiting in a few percent of it. Here a window of PCM whose samples all stay under the
ceiling (after the gain) passes through as it came; only the windows with a sample over it
get a gain curve, and the encode applies a plain gain.

The gain curve: the gain each sample needs (ceiling over the sample, at most 1), its minimum
over the next ``ATTACK_SECONDS`` (the lookahead), held for ``HOLD_SECONDS``, then averaged
over ``ATTACK_SECONDS``. Each averaged value is at most the gain its own sample needs, so no
sample passes the ceiling; the gain falls and recovers in straight 5 ms ramps, never a step.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d

ATTACK_SECONDS = 0.005
HOLD_SECONDS = 0.05
BLOCK_SECONDS = 0.01
"""The limiter looks for samples over the threshold 10 ms at a time."""
WINDOW = 1 << 16
"""Frames per window (about 1.5 s at 44.1 kHz): the unit that is passed through or limited."""


def gain_curve(level: np.ndarray, threshold: float, attack: int, hold: int) -> np.ndarray:
    """Per-sample gain (0..1] keeping ``level * gain`` at most ``threshold``; the samples
    just outside ``level`` are taken to need no limiting."""
    need = np.minimum(1.0, threshold / np.maximum(level, 1e-30))
    # Minimum over [n, n + attack), then over [n - hold + 1, n], then the mean over
    # [n - attack + 1, n]: origins shift scipy's centred windows to those spans. Before the
    # first sample the mean repeats the first gain: a peak at the very start of a recording
    # has no room to ramp down to, so the gain starts low.
    ahead = minimum_filter1d(need, attack, mode="constant", cval=1.0, origin=-(attack // 2))
    held = minimum_filter1d(ahead, hold, mode="constant", cval=1.0, origin=(hold - 1) // 2)
    return uniform_filter1d(held, attack, mode="nearest", origin=(attack - 1) // 2)


def stretches(
    over: np.ndarray, block: int, before: int, after: int, frames: int
) -> list[tuple[int, int]]:
    """Frame ranges covering the blocks numbered ``over`` (sorted), widened by ``before``
    and ``after`` frames and merged where they touch."""
    merged: list[tuple[int, int]] = []
    for index in over.tolist():
        start = max(0, index * block - before)
        end = min(frames, (index + 1) * block + after)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class StreamLimiter:
    """The limiter on PCM as it streams from the decode to the encode, window by window.

    Frames are grouped in fixed windows counted from the start of the recording, whatever
    sizes the pipe delivers them in, so the output is the same bytes for the same input. A
    window is passed through as it came unless it, the ``attack + hold`` frames before it or
    the ``attack`` frames after it (all a sample's gain depends on) holds a sample over the
    threshold. Then only the stretches around the 10 ms blocks with such a sample get a gain
    curve (speech pushed 3-4 dB into the limiter has one in most windows, but in few of its
    blocks). The loudest sample before limiting is kept in ``peak``."""

    def __init__(
        self, channels: int, rate: int, gain_db: float, ceiling_dbfs: float, window: int = WINDOW
    ) -> None:
        self.channels = channels
        self.threshold = 10 ** ((ceiling_dbfs - gain_db) / 20)
        self.attack = max(1, round(rate * ATTACK_SECONDS))
        self.hold = max(1, round(rate * HOLD_SECONDS))
        self.block = max(1, round(rate * BLOCK_SECONDS))
        self.window = window
        self.peak = 0.0
        self.frames = 0
        self.limited_frames = 0
        self._context = np.zeros((0, channels), np.float32)  # the last frames emitted, raw
        self._pending: list[np.ndarray] = []
        self._pending_frames = 0

    def feed(self, pcm: bytes) -> list[memoryview]:
        """Take the next whole frames (interleaved float32); return those now final."""
        frames = np.frombuffer(pcm, "<f4").reshape(-1, self.channels)
        self.frames += len(frames)
        self._pending.append(frames)
        self._pending_frames += len(frames)
        if self._pending_frames < self.window + self.attack:
            return []
        return self._emit(final=False)

    def finish(self) -> list[memoryview]:
        """The frames still held back (the end of the recording has nothing after it)."""
        return self._emit(final=True) if self._pending_frames else []

    def _emit(self, final: bool) -> list[memoryview]:
        start = len(self._context)
        buffer = np.concatenate((self._context, *self._pending))
        if final:
            end = len(buffer)
        else:
            end = start + (len(buffer) - start - self.attack) // self.window * self.window
        out = [
            self._window(buffer, at, min(at + self.window, end))
            for at in range(start, end, self.window)
        ]
        self._context = buffer[max(0, end - self.attack - self.hold) : end].copy()
        rest = buffer[end:]
        self._pending, self._pending_frames = ([rest], len(rest)) if len(rest) else ([], 0)
        return out

    def _window(self, buffer: np.ndarray, start: int, end: int) -> memoryview:
        before = min(start, self.attack + self.hold)
        span = buffer[start - before : end + self.attack]
        loudest = max(float(span.max()), -float(span.min()))
        self.peak = max(self.peak, loudest)
        if loudest <= self.threshold:
            return memoryview(buffer[start:end]).cast("B")
        # The loudest sample of every block of the span, over all channels at once.
        width = self.block * self.channels
        samples = span.reshape(-1)
        whole = len(samples) - len(samples) % width
        blocks = samples[:whole].reshape(-1, width)
        peaks = np.maximum(blocks.max(axis=1), -blocks.min(axis=1))
        if whole < len(samples):
            peaks = np.append(peaks, np.abs(samples[whole:]).max())
        over = np.flatnonzero(peaks > self.threshold)
        window = buffer[start:end].copy()
        reach = (self.attack + 1, self.hold + self.attack + 1)
        for first, last in stretches(over, self.block, *reach, len(span)):
            level = np.abs(span[first:last]).max(axis=1).astype(np.float64)
            curve = gain_curve(level, self.threshold, self.attack, self.hold)
            # The part of the stretch inside the window (the rest is context or ahead).
            low, high = max(first, before), min(last, before + end - start)
            if low < high:
                gain = curve[low - first : high - first].astype(np.float32)
                window[low - before : high - before] *= gain[:, np.newaxis]
                self.limited_frames += high - low
        return memoryview(window).cast("B")
