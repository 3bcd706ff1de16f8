"""Integrated loudness (ITU-R BS.1770-4) and sample peak of PCM, measured in this process
while ffmpeg decodes it.

ffmpeg's ebur128 filter costs about 50 ns a sample here: 1.4 CPU-seconds for ten minutes of
mono 44.1 kHz, half as much as the MP3 encode it prepares. The same measurement, with the
K-weighting as one fourth-order IIR filter (scipy's ``lfilter``) and the 100 ms energies in
numpy, costs a fraction of that and reads the very samples the encode is made from. The
result matches ebur128's to within 0.05 LU (the tests compare them).

Imported only when a recording is mastered: numpy and scipy are not loaded otherwise.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
BLOCK_SUBDIVISIONS = 4
"""A gating block is 400 ms, stepped by 100 ms (75% overlap): four 100 ms energies."""
PEAK_BLOCK_SECONDS = 0.01
"""The peak profile kept for the limiter: the loudest sample of every 10 ms."""
SUBNORMAL_GUARD = 1e-20
"""Added to every sample: after a few seconds of digital silence the filter's state would
decay into subnormal numbers, which make it five times slower. The K-weighting's high-pass
removes this constant (it adds no energy), and it is far below any audible level."""


def k_weighting(rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The BS.1770 pre-filter (a high shelf, then the RLB high-pass) at ``rate``, as one
    fourth-order filter (numerator, denominator).

    The coefficients come from the standard's analog prototype as libebur128 and ffmpeg
    derive them for any rate; at 48 kHz they are the standard's published table."""
    shelf_hz, shelf_db, shelf_q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * shelf_hz / rate)
    vh = 10 ** (shelf_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / shelf_q + k * k
    shelf_b = [(vh + vb * k / shelf_q + k * k) / a0, 2 * (k * k - vh) / a0]
    shelf_b.append((vh - vb * k / shelf_q + k * k) / a0)
    shelf_a = [1.0, 2 * (k * k - 1) / a0, (1 - k / shelf_q + k * k) / a0]
    pass_hz, pass_q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * pass_hz / rate)
    a0 = 1 + k / pass_q + k * k
    high_pass_b = [1.0, -2.0, 1.0]
    high_pass_a = [1.0, 2 * (k * k - 1) / a0, (1 - k / pass_q + k * k) / a0]
    return np.convolve(shelf_b, high_pass_b), np.convolve(shelf_a, high_pass_a)


def gated_loudness(block_power: np.ndarray) -> float:
    """Integrated loudness (LUFS) from the mean-square power of every 400 ms gating block,
    with BS.1770's absolute and relative gates; -inf when no block passes (silence)."""
    absolute = 10 ** ((ABSOLUTE_GATE_LUFS + 0.691) / 10)
    loud = block_power[block_power > absolute]
    if not loud.size:
        return -math.inf
    relative = 10 ** ((-0.691 + 10 * math.log10(loud.mean()) + RELATIVE_GATE_LU + 0.691) / 10)
    kept = loud[loud > relative]
    return -0.691 + 10 * math.log10(kept.mean())


class LoudnessMeter:
    """Integrated loudness, sample peak and peak profile (the loudest sample of every 10 ms)
    of interleaved 32-bit float PCM (little-endian, full scale 1.0) fed in chunks of whole
    frames; the channels are weighted 1 (mono, stereo)."""

    def __init__(self, channels: int, rate: int) -> None:
        self.channels = channels
        self.rate = rate
        self.frames = 0
        self._b, self._a = k_weighting(rate)
        self._state = np.zeros((channels, len(self._a) - 1))
        self._step = round(rate / 10)  # 100 ms
        self._pending = np.zeros((channels, 0))  # the last, unfinished 100 ms, weighted
        self._energies: list[np.ndarray] = []
        self.peak_block = round(rate * PEAK_BLOCK_SECONDS)
        self._pending_samples = np.zeros(0, np.float32)
        self._peaks: list[np.ndarray] = []

    def add(self, pcm: bytes) -> None:
        """Measure the next frames."""
        samples = np.frombuffer(pcm, "<f4")
        if not samples.size:
            return
        frames = samples.reshape(-1, self.channels)
        self.frames += len(frames)
        self._add_peaks(samples)
        signal = frames.T.astype(np.float64, order="C")
        signal += SUBNORMAL_GUARD
        weighted, self._state = lfilter(self._b, self._a, signal, axis=1, zi=self._state)
        if self._pending.size:
            weighted = np.concatenate((self._pending, weighted), axis=1)
        whole = weighted.shape[1] - weighted.shape[1] % self._step
        blocks = weighted[:, :whole].reshape(self.channels, -1, self._step)
        # Sum of squares per 100 ms, over the samples and the channels, without a copy.
        self._energies.append(np.einsum("cbs,cbs->b", blocks, blocks))
        self._pending = weighted[:, whole:]

    def _add_peaks(self, samples: np.ndarray) -> None:
        # Each block's interleaved samples at once: its largest and smallest value give its
        # peak over every channel without a per-frame maximum.
        if self._pending_samples.size:
            samples = np.concatenate((self._pending_samples, samples))
        width = self.peak_block * self.channels
        whole = len(samples) - len(samples) % width
        blocks = samples[:whole].reshape(-1, width)
        self._peaks.append(np.maximum(blocks.max(axis=1), -blocks.min(axis=1)))
        self._pending_samples = samples[whole:]

    @property
    def block_peaks(self) -> np.ndarray:
        """The loudest sample (full scale 1.0) of every ``peak_block`` frames, the last
        block possibly shorter."""
        pending = np.abs(self._pending_samples)
        tail = [pending.max(keepdims=True)] if pending.size else []
        return np.concatenate([*self._peaks, *tail]) if self._peaks or tail else np.zeros(0)

    @property
    def peak_dbfs(self) -> float:
        peaks = self.block_peaks
        peak = float(peaks.max()) if peaks.size else 0.0
        return 20 * math.log10(peak) if peak > 0 else -math.inf

    @property
    def integrated_lufs(self) -> float:
        """Over every whole 400 ms block (a shorter recording has none: -inf)."""
        energies = np.concatenate(self._energies) if self._energies else np.zeros(0)
        n = BLOCK_SUBDIVISIONS
        if len(energies) < n:
            return -math.inf
        blocks = sum(energies[i : len(energies) - n + 1 + i] for i in range(n))
        return gated_loudness(np.asarray(blocks) / (n * self._step))
