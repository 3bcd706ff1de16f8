"""Mastering: any common recording to a loudness-normalised, constant-bit-rate MP3.

Two passes instead of ffmpeg's loudnorm (which resamples to 192 kHz and costs several plain
encodes). The first decodes the recording once, to float PCM at the episode's channels and
rate, and measures integrated loudness, sample peak and a 10 ms peak profile in this process
as the samples arrive (``loudness``: a fraction of ffmpeg's ebur128 filter's cost). The
stretches that the gain would push past the ceiling are then limited in that PCM
(``limiter``: only where needed, unlike a limiter filter over every sample), and the one
encode reads it with a linear gain: a recording of 20 s or more as two halves encoded at once
(LAME uses one core) and joined into one gapless file (``mp3_join``). Only when the gain
pushes peaks deep into the limiter (heavy limiting changes loudness, and sharp transients can
make the codec overshoot) is the MP3 measured again and, if it missed, encoded again with
the gain or the ceiling corrected. A third pass for every file would cost more than the
encode it checks. Results are cached by the recording's content hash, so an unchanged
recording is never re-encoded.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import mutagen

from outreach.errors import OutreachError
from outreach.files import PRIVATE_FILE, atomic_write, private_folder
from outreach.podcast.ffmpeg import FfmpegError, decoded_seconds, run_ffmpeg, stream_ffmpeg

if TYPE_CHECKING:
    from outreach.podcast.loudness import LoudnessMeter

ALGORITHM_VERSION = "10"
"""Part of the cache key: bump it when the mastering chain changes."""

CODEC_LOSS_LU = 0.5
"""LAME output reads back about 0.5 LU quieter than its input (measured here on speech and on
pink noise, mono and stereo, 64-128 kb/s); the gain anticipates it."""

LIMITER_CEILING_DBFS = -2.0
"""Sample-peak ceiling of the limiter: 1 dB of headroom below the -1 dBTP true-peak limit for
inter-sample peaks and the MP3 codec."""

LOUDNESS_TOLERANCE_LU = 0.5
MAX_OUTPUT_SAMPLE_PEAK_DBFS = -1.5
"""Decoded sample peaks above this mean the codec overshot the limiter (sharp clicks do):
encode again with a lower ceiling, keeping true peak under -1 dBTP."""
MAX_ENCODES = 3
HEAVY_LIMITING_DB = 6.0
"""Peaks pushed more than this past the ceiling mean heavy limiting (clicks, unprocessed
recordings), which lowers loudness and can make the codec overshoot: only then is the MP3
measured again. Speech limited by up to 6 dB measured within 0.3 LU of the prediction here."""


class AudioError(OutreachError):
    """A recording cannot be mastered; the message names the file and the fix."""


@dataclass(frozen=True)
class AudioProfile:
    """What the published MP3 must be. Mono speech is the podcast default."""

    channels: int = 1
    bitrate_kbps: int = 64
    sample_rate: int = 44100

    @property
    def target_lufs(self) -> float:
        return -16.0 if self.channels == 2 else -19.0

    @property
    def layout(self) -> str:
        return "stereo" if self.channels == 2 else "mono"


@dataclass(frozen=True)
class Loudness:
    integrated: float
    peak: float | None
    """dBFS: sample or true peak as asked for; None when not measured."""


@dataclass(frozen=True)
class MasteredAudio:
    path: Path
    duration: float
    input_lufs: float
    gain_db: float
    output_lufs: float
    limiting_db: float
    """How far the gain pushed the loudest peak past the limiter ceiling (0: untouched)."""
    verified: bool
    """True when the MP3 was measured again; otherwise its loudness follows from the gain."""
    encodes: int


_INTEGRATED = re.compile(r"I:\s+(-?[\d.]+|-inf) LUFS")
_PEAK = re.compile(r"Peak:\s+(-?[\d.]+|-inf) dBFS")


def _number(text: str) -> float:
    return -math.inf if text == "-inf" else float(text)


def measure_loudness(
    path: Path,
    layout: str | None = None,
    peak: Literal["none", "sample", "true"] = "sample",
    input_args: list[str] | None = None,
) -> Loudness:
    """Integrated loudness (LUFS) and, if asked, peak (dBFS) with ffmpeg's ebur128 filter:
    the reference the in-process meter is checked against. ``input_args`` describe a raw
    input (``pcm_input_args``)."""
    filters = [f"aformat=channel_layouts={layout}"] if layout else []
    filters.append(f"ebur128=framelog=quiet:peak={peak}")
    arguments = [*(input_args or []), "-i", str(path), "-map", "0:a:0"]
    log = run_ffmpeg([*arguments, "-af", ",".join(filters), "-f", "null", "-"])
    summary = log[log.rfind("Integrated loudness") :]
    integrated, peak_match = _INTEGRATED.search(summary), _PEAK.search(summary)
    if not integrated or (peak != "none" and not peak_match):
        raise AudioError(f"{path}: ffmpeg's ebur128 filter reported no loudness")
    return Loudness(
        _number(integrated.group(1)), _number(peak_match.group(1)) if peak_match else None
    )


def audio_duration(path: Path) -> float:
    """Length in seconds, read by mutagen; an unreadable file is a clear error."""
    try:
        info = mutagen.File(path)
    except mutagen.MutagenError as exc:
        raise AudioError(
            f"{path}: not a readable audio file ({exc}); export it again as WAV, FLAC, MP3 or M4A"
        ) from None
    if info is None or not getattr(info, "info", None) or not info.info.length:
        raise AudioError(
            f"{path}: not a recognised audio file; export it again as WAV, FLAC, MP3 or M4A"
        )
    return float(info.info.length)


EXPORT_FIX = "export it again as WAV, FLAC, MP3 or M4A (a video as MP4, WebM or MKV with its sound)"

UNTAGGED_CONTAINERS = (".mkv", ".webm")
"""Matroska recordings (an event's video): mutagen cannot read them; ffmpeg's decode says
whether they hold audio."""

_DECODED: dict[str, float] = {}
"""Decoded lengths by file signature, for this process (validation, then mastering)."""


def decoded_duration(path: Path, cache_dir: Path | None = None, remember: bool = True) -> float:
    """Length in seconds measured by decoding the whole recording (a truncated file's header
    claims its original length). Kept per file signature for this process and, in
    ``cache_dir``, across runs; ``remember=False`` only reads that folder (validation writes
    nothing, so a release that stops there leaves no state behind)."""
    if path.suffix.lower() not in UNTAGGED_CONTAINERS:
        audio_duration(path)  # a file mutagen cannot recognise gets its clear message first
    signature = file_signature(path)
    marker = _duration_marker(signature, cache_dir)
    if signature not in _DECODED and marker is not None and marker.is_file():
        with contextlib.suppress(ValueError):
            _DECODED[signature] = float(marker.read_text())
    if signature not in _DECODED:
        try:
            seconds = decoded_seconds(str(path))
        except FfmpegError as exc:
            raise AudioError(f"{path}: cannot be decoded ({exc}); {EXPORT_FIX}") from None
        if seconds <= 0:
            raise AudioError(f"{path}: holds no audio; {EXPORT_FIX}")
        _DECODED[signature] = seconds
    if remember:
        remember_duration(path, _DECODED[signature], cache_dir)
    return _DECODED[signature]


def remember_duration(path: Path, seconds: float, cache_dir: Path | None) -> None:
    """Keep a decoded length measured while mastering, so that validating the recording
    in a later release does not decode it again (the first measurement stands)."""
    signature = file_signature(path)
    _DECODED.setdefault(signature, seconds)
    marker = _duration_marker(signature, cache_dir)
    if marker is not None and not marker.is_file():
        atomic_write(marker, repr(_DECODED[signature]).encode(), PRIVATE_FILE)


def _duration_marker(signature: str, cache_dir: Path | None) -> Path | None:
    if cache_dir is None:
        return None
    return cache_dir / "durations" / hashlib.sha256(signature.encode()).hexdigest()


def file_signature(path: Path) -> str:
    """Path, size and modification time: changes whenever the file is replaced or edited."""
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def cached_mastering_key(source: Path, profile: AudioProfile, cache_dir: Path) -> str:
    """``mastering_key`` without re-reading an unchanged recording: a small file per signature
    remembers the content key, so a feed of many episodes does not hash every recording."""
    key = known_mastering_key(source, profile, cache_dir)
    if key is None:
        key = mastering_key(source, profile)
        atomic_write(_key_marker(source, profile, cache_dir), key.encode(), PRIVATE_FILE)
    return key


def known_mastering_key(source: Path, profile: AudioProfile, cache_dir: Path) -> str | None:
    """The content key remembered for ``source``'s signature, or None: not read yet."""
    try:
        return _key_marker(source, profile, cache_dir).read_text().strip()
    except FileNotFoundError:
        return None


def _key_marker(source: Path, profile: AudioProfile, cache_dir: Path) -> Path:
    signature = file_signature(source) + json.dumps(asdict(profile)) + ALGORITHM_VERSION
    return cache_dir / "keys" / hashlib.sha256(signature.encode()).hexdigest()


def mastering_key(source: Path, profile: AudioProfile) -> str:
    """Content key of a mastering job: the recording's bytes, the profile and the algorithm."""
    digest = hashlib.sha256()
    with source.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps([ALGORITHM_VERSION, asdict(profile)]).encode())
    return digest.hexdigest()


def mp3_output_args(profile: AudioProfile) -> list[str]:
    """The output format every episode gets: CBR MP3 at the profile's rate and channels."""
    return [
        "-ac", str(profile.channels), "-ar", str(profile.sample_rate),
        "-c:a", "libmp3lame", "-b:a", f"{profile.bitrate_kbps}k",
    ]  # fmt: skip


def mp3_file_args(target: Path) -> list[str]:
    """How every MP3 the mastering writes is stored at ``target``: no metadata carried over
    from the recording, no ID3 tag (the episode's tags are written later), no encoder version
    in the file: the same bytes on every machine."""
    return [
        "-map_metadata", "-1", "-fflags", "+bitexact",
        "-id3v2_version", "0", "-f", "mp3", str(target),
    ]  # fmt: skip


def _cached(key: str, cache_dir: Path) -> MasteredAudio | None:
    """The mastered episode with content key ``key``, if the cache holds it."""
    cached, report = cache_dir / f"{key}.mp3", cache_dir / f"{key}.json"
    if cached.is_file() and report.is_file():
        return MasteredAudio(path=cached, **json.loads(report.read_text()))
    return None


def decode_and_measure(
    source: Path, profile: AudioProfile, pcm: Path | None = None
) -> tuple[Loudness, float]:
    """Decode ``source``'s first audio stream once, at the profile's channels and rate, and
    measure its integrated loudness and sample peak as the samples arrive; with ``pcm``,
    also write them there (raw interleaved 32-bit float: ``pcm_input_args`` reads it). Returns
    the loudness and the decoded length in seconds."""
    meter = _decode(source, profile, pcm)
    return Loudness(meter.integrated_lufs, meter.peak_dbfs), meter.frames / profile.sample_rate


DECODED_FRAME_SAMPLES = 65536
"""Samples per frame after the resampler: ffmpeg hands every frame from thread to thread
(filter, encoder, muxer), and a codec's own frames of about 1024 samples made those
hand-offs cost more CPU than the decoding (an hour of AAC: 1.8 million futex calls). The
samples are the same; only their grouping changes."""


def decode_filters(profile: AudioProfile) -> str:
    """The decode's filter chain: the profile's channels and rate, in large frames."""
    return (
        f"aformat=channel_layouts={profile.layout},aresample={profile.sample_rate},"
        f"asetnsamples=n={DECODED_FRAME_SAMPLES}:p=0"
    )


class _DecodeNotNeeded(Exception):
    """Raised inside the decode to stop ffmpeg: the recording turned out to be mastered."""


class _PcmNotWritten(Exception):
    """The decoded audio could not be written (a full disk, a quota): ``error`` says why."""

    def __init__(self, error: OSError):
        super().__init__(error)
        self.error = error


def _decode(
    source: Path,
    profile: AudioProfile,
    pcm: Path | None,
    needed: Callable[[], bool] | None = None,
) -> LoudnessMeter:
    """One ffmpeg decodes (a video's picture is never decoded: only its audio stream is
    mapped) into a pipe; this process writes the samples to ``pcm`` and measures them while
    ffmpeg goes on decoding (a second ffmpeg output for the file cost more CPU than this
    write). The PCM is float: nothing is clipped before the gain, and the encode reads it
    without decoding or resampling again. ``needed`` is asked after every chunk; once it
    says no, ffmpeg is stopped and ``_DecodeNotNeeded`` raised."""
    from outreach.podcast.loudness import LoudnessMeter  # numpy and scipy: only when mastering

    meter = LoudnessMeter(profile.channels, profile.sample_rate)
    arguments = ["-i", str(source), "-map", "0:a:0", "-vn", "-af", decode_filters(profile)]
    arguments += ["-c:a", "pcm_f32le", "-f", "f32le", "pipe:1"]
    with contextlib.ExitStack() as stack:
        out = None
        if pcm is not None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC  # owner only, like the cache
            try:
                out = os.open(pcm, flags, PRIVATE_FILE)
            except OSError as exc:
                raise _PcmNotWritten(exc) from None
            stack.callback(os.close, out)

        def consume(chunk: bytes) -> None:
            if needed is not None and not needed():
                raise _DecodeNotNeeded
            if out is not None:
                try:  # unbuffered: a full disk shows here, not at a close
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(out, view) :]
                except OSError as exc:
                    raise _PcmNotWritten(exc) from None
            meter.add(chunk)

        stream_ffmpeg(arguments, consume, frame_bytes=4 * profile.channels)
    return meter


def pcm_input_args(profile: AudioProfile) -> list[str]:
    """How ffmpeg reads the PCM ``decode_and_measure`` wrote."""
    return ["-f", "f32le", "-ar", str(profile.sample_rate), "-ac", str(profile.channels)]


def _encode(
    pcm: Path,
    target: Path,
    gain_db: float,
    profile: AudioProfile,
    duration: float,
    progress: Callable[[float], None] | None,
) -> None:
    """The one MP3 encode, from the decoded (and, where needed, limited) PCM: a linear gain.
    A recording of ``HALVES_MIN_SECONDS`` or more is encoded as two halves at once, joined
    into one gapless file (``encode_in_halves``)."""
    if duration >= HALVES_MIN_SECONDS:
        encode_in_halves(pcm, target, gain_db, profile, progress)
    else:
        _encode_part(pcm, target, gain_db, profile, duration, progress)


def _encode_part(
    pcm: Path,
    target: Path,
    gain_db: float,
    profile: AudioProfile,
    duration: float,
    progress: Callable[[float], None] | None,
    first_sample: int = 0,
    end_sample: int | None = None,
) -> None:
    """Encode the PCM's samples from ``first_sample`` to ``end_sample`` (all by default)."""
    skip = ["-skip_initial_bytes", str(first_sample * 4 * profile.channels)] if first_sample else []
    trim = f"atrim=end_sample={end_sample}," if end_sample is not None else ""
    run_ffmpeg(
        [
            "-y",
            *pcm_input_args(profile),
            *skip,
            "-i",
            str(pcm),
            "-af",
            f"{trim}volume={gain_db:.2f}dB",
            *mp3_output_args(profile),
            "-flags:a",
            "+bitexact",
            *mp3_file_args(target),
        ],
        duration=duration,
        progress=progress,
    )


HALVES_MIN_SECONDS = 20.0
"""From this length on a recording is encoded in two halves at once: the second ffmpeg and
the overlap cost tens of milliseconds, and an hour's encode takes about half as long on two
cores. The halves do not depend on the machine's cores: the same bytes everywhere."""
HALVES_OVERLAP_FRAMES = 40
"""Each half runs this many MP3 frames (about a second) past the middle into the other's
audio: the second encoder has long settled where the join is looked for, and the first has
not yet reached its end."""
HALVES_SETTLE_FRAMES = 8
"""The join is never within this many frames of the first half's end."""


def encode_in_halves(
    pcm: Path,
    target: Path,
    gain_db: float,
    profile: AudioProfile,
    progress: Callable[[float], None] | None,
) -> None:
    """Encode the PCM's two halves in two ffmpegs at once and join them (``mp3_join``) at
    the first clean frame after the middle; if none is clean, encode it in one piece."""
    from outreach.podcast.mp3_join import SAMPLES_PER_FRAME, JoinError, join

    samples = pcm.stat().st_size // (4 * profile.channels)
    rate = profile.sample_rate
    middle = samples // 2 // SAMPLES_PER_FRAME  # in frames: the halves line up frame for frame
    shift = middle - HALVES_OVERLAP_FRAMES
    if shift < HALVES_OVERLAP_FRAMES:  # too short to overlap: one piece
        _encode_part(pcm, target, gain_db, profile, samples / rate, progress)
        return
    first_end = min(samples, (middle + HALVES_OVERLAP_FRAMES) * SAMPLES_PER_FRAME)
    parts = (pcm.with_suffix(".first.mp3"), pcm.with_suffix(".second.mp3"))
    done = [0.0, 0.0]
    reporting = threading.Lock()

    def reporter(half: int) -> Callable[[float], None] | None:
        if progress is None:
            return None

        def report(fraction: float) -> None:
            with reporting:  # one report at a time, as from a single encode
                done[half] = fraction
                progress(min(done) * 0.99)

        return report

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            # Each half in a copy of this context: a progress report made from the encode's
            # thread sees what the caller's would (a Prefect task's run, say).
            encodes = [
                pool.submit(
                    contextvars.copy_context().run, _encode_part, pcm, parts[0], gain_db,
                    profile, first_end / rate, reporter(0), 0, first_end,
                ),
                pool.submit(
                    contextvars.copy_context().run, _encode_part, pcm, parts[1], gain_db,
                    profile, (samples - shift * SAMPLES_PER_FRAME) / rate, reporter(1),
                    shift * SAMPLES_PER_FRAME,
                ),
            ]  # fmt: skip
            for encode in encodes:
                encode.result()
        candidates = range(middle, middle + HALVES_OVERLAP_FRAMES - HALVES_SETTLE_FRAMES)
        try:
            joined = join(parts[0].read_bytes(), parts[1].read_bytes(), shift, candidates)
        except JoinError:
            _encode_part(pcm, target, gain_db, profile, samples / rate, progress)
            return
        try:
            with open(target, "wb") as out:
                out.write(joined)
        except OSError as exc:  # a full disk: said as the encode's own failure would be
            raise FfmpegError(f"could not write {target}: {exc.strerror or exc}") from None
        if progress is not None:
            progress(1.0)
    finally:
        for part in parts:
            part.unlink(missing_ok=True)


STALE_WORK_SECONDS = 6 * 3600
"""A mastering's temporary files (``.decode-*``) untouched this long belong to a run that
was killed (an hour's recording masters in well under a minute): the next mastering in the
folder removes them, or they would keep the decoded audio (0.6 GB an hour) for ever."""


def clear_stale_work(cache_dir: Path, now: float) -> None:
    """Remove the temporary files of killed masterings."""
    for leftover in cache_dir.glob(".decode-*"):
        with contextlib.suppress(FileNotFoundError):
            if now - leftover.stat().st_mtime > STALE_WORK_SECONDS:
                leftover.unlink()


def master(
    source: Path,
    cache_dir: Path,
    profile: AudioProfile,
    progress: Callable[[float], None] | None = None,
) -> MasteredAudio:
    """Return the mastered MP3 for ``source`` (audio, or a video's sound), from the cache
    when the recording is unchanged.

    The recording is decoded once, into PCM at the episode's channels and rate, and measured
    on the way (in this process, while ffmpeg decodes); the stretches the gain would push
    past the ceiling are limited in that PCM, and the encode reads it. A recording not seen
    before is hashed for its cache key while it is decoded (the hash of an hour's video costs
    a quarter of its decode): the decode stops if the key finds it mastered after all."""
    from outreach.podcast.limiter import limit_in_place  # numpy and scipy: only when mastering

    if not source.is_file():
        raise AudioError(f"{source}: no such recording; put the file there or fix episode.audio")
    key = known_mastering_key(source, profile, cache_dir)
    if key is not None and (hit := _cached(key, cache_dir)) is not None:
        return hit
    if source.suffix.lower() not in UNTAGGED_CONTAINERS:
        audio_duration(source)  # a file mutagen cannot recognise gets its clear message first
    private_folder(cache_dir)
    clear_stale_work(cache_dir, time.time())
    handle, name = tempfile.mkstemp(prefix=".decode-", suffix=".pcm", dir=cache_dir)
    os.close(handle)  # owner only, like the cache
    pcm, temp = Path(name), Path(name).with_suffix(".mp3")
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            hashing = pool.submit(cached_mastering_key, source, profile, cache_dir)

            def needed() -> bool:
                return not hashing.done() or _cached(hashing.result(), cache_dir) is None

            try:
                meter = _decode(source, profile, pcm, None if key else needed)
            except FfmpegError as exc:
                raise AudioError(f"{source}: cannot be decoded ({exc}); {EXPORT_FIX}") from None
            except _DecodeNotNeeded:
                meter = None
            except _PcmNotWritten as exc:  # the decoded audio did not fit (a full disk)
                raise AudioError(
                    f"{source}: could not write its decoded audio in {cache_dir} "
                    f"({exc.error.strerror or exc.error}); mastering needs room there while it "
                    "runs (about 0.6 GB an hour of mono, 1.2 GB of stereo): free space, or "
                    "move the state folder (paths.state)"
                ) from None
            key = hashing.result()
        cached, report = cache_dir / f"{key}.mp3", cache_dir / f"{key}.json"
        hit = _cached(key, cache_dir)
        if hit is not None:  # the same recording under another name or date: not encoded again
            return hit
        assert meter is not None  # only a cache hit stops the decode
        measured = Loudness(meter.integrated_lufs, meter.peak_dbfs)
        duration = meter.frames / profile.sample_rate
        if duration <= 0:
            raise AudioError(f"{source}: holds no audio; {EXPORT_FIX}")
        remember_duration(source, duration, cache_dir)
        if not math.isfinite(measured.integrated) or measured.peak is None:
            raise AudioError(f"{source}: the recording is silent; check the export")
        gain = profile.target_lufs - measured.integrated + CODEC_LOSS_LU
        ceiling = LIMITER_CEILING_DBFS
        limiting = max(0.0, measured.peak + gain - ceiling)
        verified = limiting > HEAVY_LIMITING_DB
        for attempt in range(1, MAX_ENCODES + 1):
            encodes = attempt
            limit_in_place(
                pcm, profile.channels, profile.sample_rate, meter.block_peaks,
                meter.peak_block, gain, ceiling,
            )  # fmt: skip
            try:
                _encode(pcm, temp, gain, profile, duration, progress)
            except FfmpegError as exc:  # a full disk, most often: ffmpeg's own words say
                raise AudioError(f"{source}: the encode failed: {exc}") from None
            if not verified:
                # A pure gain, or a limiter trimming only brief peaks: loudness follows from
                # the gain, and measuring again would only confirm it (the tests measure it).
                result = Loudness(measured.integrated + gain - CODEC_LOSS_LU, None)
                break
            result = decode_and_measure(temp, profile)[0]
            loudness_miss = profile.target_lufs - result.integrated
            peak_over = (result.peak or 0.0) - MAX_OUTPUT_SAMPLE_PEAK_DBFS
            if abs(loudness_miss) <= LOUDNESS_TOLERANCE_LU and peak_over <= 0:
                break
            if abs(loudness_miss) > LOUDNESS_TOLERANCE_LU:
                gain += loudness_miss
            if peak_over > 0:
                ceiling -= peak_over + 0.5
        else:
            raise AudioError(
                f"{source}: mastered to {result.integrated:.1f} LUFS with peaks at "
                f"{result.peak:.1f} dBFS, not {profile.target_lufs:.0f} LUFS below "
                f"{MAX_OUTPUT_SAMPLE_PEAK_DBFS} dBFS; the recording may be clipped or mostly "
                "silence: check the export"
            )
        os.chmod(temp, PRIVATE_FILE)  # the cache holds embargoed episodes: owner only
        os.replace(temp, cached)
    finally:
        for leftover in (temp, pcm):
            leftover.unlink(missing_ok=True)
    mastered = MasteredAudio(
        path=cached,
        duration=audio_duration(cached),
        input_lufs=measured.integrated,
        gain_db=round(gain, 2),
        output_lufs=result.integrated,
        limiting_db=round(limiting, 2),
        verified=verified,
        encodes=encodes,
    )
    fields = asdict(mastered)
    fields.pop("path")
    atomic_write(report, json.dumps(fields, indent=2, sort_keys=True).encode(), PRIVATE_FILE)
    return mastered


def clip_mp3(mastered: Path, seconds: float) -> bytes:
    """The first ``seconds`` of a mastered MP3, cut on frame boundaries without re-encoding."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "clip.mp3"
        run_ffmpeg(
            [
                "-y",
                "-i",
                str(mastered),
                "-t",
                f"{seconds:g}",
                "-map",
                "0:a:0",
                "-c",
                "copy",
                *mp3_file_args(target),
            ]
        )
        return target.read_bytes()


def cached_clip(mastered: MasteredAudio, seconds: float, cache_dir: Path) -> Path:
    """The first ``seconds`` of a mastered episode, kept beside it in the cache (cut once):
    prepared work, so rendering the press kit only reads it."""
    target = cache_dir / f"{mastered.path.stem}.first-{seconds:g}s.mp3"
    if not target.is_file():
        atomic_write(target, clip_mp3(mastered.path, seconds), PRIVATE_FILE)
    return target
