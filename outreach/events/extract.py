"""A video's audio, decoded once: written as the PCM the episode is encoded from while two
more ffmpegs measure its loudness (each half of it) on the other core.

Mastering a video directly decodes it three times (its length, its loudness, the encode) and
demuxes every video packet each time: for an hour of 720p video that cost 1.9x a plain
extraction and encode. Here the source is demuxed and decoded once, into PCM at the episode's
channels and rate (what the encode reads anyway); the podcast's mastering then applies its
gain and limiter to that PCM with the loudness measured on the way: the same targets, the
same single encode, the same cache by the recording's content.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import subprocess
import tempfile
import threading
import wave
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from outreach.files import PRIVATE_FILE, atomic_write, private_folder
from outreach.podcast.audio import (
    BLOCK_SECONDS,
    AudioError,
    AudioProfile,
    Loudness,
    MasteredAudio,
    cached_mastering_key,
    gated_loudness,
    master,
)
from outreach.podcast.ffmpeg import check_capabilities

_FRAME = re.compile(r"\bt:\s*([\d.]+)\s+TARGET:\S+ LUFS\s+M:\s*(-?[\d.]+|-inf)")
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_PEAK = re.compile(r"Peak:\s+(-?[\d.]+|-inf) dBFS")
CHUNK = 1 << 20
QUEUED_CHUNKS = 64
"""At most 64 MB of PCM waits for the measuring ffmpeg."""


def _number(text: str) -> float:
    return float("-inf") if text == "-inf" else float(text)


def container_seconds(source: Path) -> float | None:
    """The length the container's header claims (no decoding); None when it says none."""
    log = subprocess.run(
        [check_capabilities(), "-hide_banner", "-nostdin", "-i", str(source)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    ).stderr
    found = _DURATION.search(log)
    if not found:
        return None
    hours, minutes, seconds = found.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


class _Part:
    """One measuring ffmpeg: ebur128 over a stretch of the PCM, fed from its own thread
    through a queue so the decoder never waits for it (a pipe holds 64 KB)."""

    def __init__(self, channels: int, rate: int) -> None:
        self.process = subprocess.Popen(
            [
                check_capabilities(), "-hide_banner", "-nostdin", "-nostats",
                "-f", "s16le", "-ar", str(rate), "-ac", str(channels), "-i", "-",
                "-af", "ebur128=framelog=info:peak=sample", "-f", "null", "-",
            ],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        self.pending: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_CHUNKS)
        self.log = b""
        self.fed = 0
        self.threads = [
            threading.Thread(target=self._feed),
            threading.Thread(target=self._read_log),
        ]
        for thread in self.threads:
            thread.start()

    def _feed(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            while (chunk := self.pending.get()) is not None:
                stdin.write(chunk)
        except BrokenPipeError:
            while self.pending.get() is not None:  # drain: the decoder must not block
                pass
        finally:
            stdin.close()

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        self.log = self.process.stderr.read()

    def put(self, chunk: bytes) -> None:
        if chunk:
            self.pending.put(chunk)
            self.fed += len(chunk)

    def finish(self) -> tuple[list[float], float | None]:
        """(every full gating block's loudness, the sample peak) once the PCM has ended."""
        self.pending.put(None)
        for thread in self.threads:
            thread.join()
        self.process.wait()
        if not self.fed:
            return [], None
        log = self.log.decode(errors="replace")
        if self.process.returncode != 0:
            raise AudioError(f"ffmpeg's ebur128 filter failed: {log.strip()[-200:]}")
        blocks = [
            float("-inf") if m.group(2) == "-inf" else float(m.group(2))
            for m in _FRAME.finditer(log)
            if float(m.group(1)) >= BLOCK_SECONDS - 0.01  # a full 400 ms block
        ]
        peak = _PEAK.search(log[log.rfind("Integrated loudness") :])
        return blocks, (_number(peak.group(1)) if peak else None)


def extract_and_measure(
    source: Path, target: Path, profile: AudioProfile
) -> tuple[Loudness, float]:
    """Write ``source``'s first audio stream to ``target`` (16-bit WAV at the profile's
    channels and rate) and return its integrated loudness, sample peak and length.

    The PCM is measured in two halves at once (the header's length splits it), overlapping
    by 300 ms so that together they hold every 400 ms gating block exactly once; the gates
    apply over all blocks: the same result as one pass (``measure_input``'s method)."""
    channels, rate = profile.channels, profile.sample_rate
    frame_bytes = 2 * channels
    claimed = container_seconds(source)
    split = None if not claimed or claimed < 30 else round(claimed / 2, 1)
    decode = subprocess.Popen(
        [
            check_capabilities(), "-hide_banner", "-nostdin", "-loglevel", "error",
            "-i", str(source), "-map", "0:a:0", "-vn", "-af",
            f"aformat=channel_layouts={profile.layout},aresample={rate}",
            "-f", "s16le", "-",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    decode_log: list[bytes] = []
    reader = threading.Thread(target=lambda: decode_log.append(decode.stderr.read()))
    reader.start()
    first = _Part(channels, rate)
    second = _Part(channels, rate) if split is not None else None
    # Byte offsets: the first part takes [0, split), the second [split - 0.3 s, end).
    first_end = int(split * rate) * frame_bytes if split is not None else None
    second_start = (
        int((split - (BLOCK_SECONDS - 0.1)) * rate) * frame_bytes if split is not None else None
    )
    position = 0
    try:
        with wave.open(str(target), "wb") as out:
            out.setnchannels(channels)
            out.setsampwidth(2)
            out.setframerate(rate)
            assert decode.stdout is not None
            while chunk := decode.stdout.read(CHUNK):
                out.writeframesraw(chunk)
                end = position + len(chunk)
                if first_end is None:
                    first.put(chunk)
                else:
                    first.put(chunk[: max(0, first_end - position)])
                    assert second is not None and second_start is not None
                    second.put(chunk[max(0, second_start - position) :])
                position = end
    finally:
        decode.wait()
        reader.join()
        parts = [first.finish()] + ([second.finish()] if second is not None else [])
    frames = position // frame_bytes
    if decode.returncode != 0 or frames == 0:
        lines = b"".join(decode_log).decode(errors="replace").strip().splitlines()
        reason = lines[-1] if lines else "no audio stream"
        raise AudioError(
            f"{source}: no audio could be taken from the recording ({reason}); export it "
            "again with its sound track (MP4, WebM or MKV)"
        )
    blocks = [block for part_blocks, _ in parts for block in part_blocks]
    peaks = [peak for _, peak in parts if peak is not None]
    if not peaks:
        raise AudioError(f"{source}: ffmpeg's ebur128 filter reported no peak")
    return Loudness(gated_loudness(blocks), max(peaks)), frames / rate


def master_video(
    source: Path,
    cache_dir: Path,
    profile: AudioProfile,
    progress: Callable[[float], None] | None = None,
) -> MasteredAudio:
    """The podcast's mastering of a video's audio, decoded once; cached by the video's
    content like any recording (an unchanged video is never extracted again)."""
    key = cached_mastering_key(source, profile, cache_dir)
    cached, report = cache_dir / f"{key}.mp3", cache_dir / f"{key}.json"
    if cached.is_file() and report.is_file():
        return MasteredAudio(path=cached, **json.loads(report.read_text()))
    private_folder(cache_dir)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".extract-") as temp:
        pcm = Path(temp) / "audio.wav"
        loudness, duration = extract_and_measure(source, pcm, profile)
        if not math.isfinite(loudness.integrated):
            raise AudioError(f"{source}: the recording is silent; check the export")
        mastered = master(
            pcm, Path(temp) / "cache", profile, progress, measured=loudness, duration=duration
        )
        os.replace(mastered.path, cached)
    fields = asdict(mastered)
    fields.pop("path")
    atomic_write(report, json.dumps(fields, indent=2, sort_keys=True).encode(), PRIVATE_FILE)
    return MasteredAudio(path=cached, **fields)
