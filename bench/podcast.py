"""Podcast benchmark: mastering against a plain encode, tagging, a 1,000-episode feed, memory.

Run with `make bench` (or `python -m bench.podcast`). Every figure is a median of several runs;
the mastering ratio compares with a plain ffmpeg encode of the same file to the same format,
measured in the same run, runs alternating. Besides wall-clock time, the CPU time (this
process and its ffmpegs) is compared too: on a busy machine it is the steadier figure.
``BENCH_PODCAST_MINUTES`` and ``BENCH_PODCAST_RUNS`` shorten a run while developing.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from outreach.podcast.audio import (
    AudioProfile,
    decode_and_measure,
    master,
    measure_loudness,
    mp3_output_args,
    pcm_input_args,
)
from outreach.podcast.feed import FeedEpisode, Show, build_feed, episode_description, podcast_guid
from outreach.podcast.ffmpeg import check_capabilities
from outreach.podcast.tags import EpisodeTags, chapter_marks, tag_mp3

REPO = Path(__file__).resolve().parent.parent
SPEECH = REPO / "media" / "audio" / "farm-gate-to-fob.flac"
RUNS = int(os.environ.get("BENCH_PODCAST_RUNS", "3"))
MINUTES = int(os.environ.get("BENCH_PODCAST_MINUTES", "10"))
GOAL = 1.25


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def cpu_seconds() -> float:
    """CPU time of this process and of every child it waited for (the ffmpegs)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_cpu(action) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds) of ``action``."""
    start, cpu = time.perf_counter(), cpu_seconds()
    action()
    return time.perf_counter() - start, cpu_seconds() - cpu


def make_recording(folder: Path, minutes: int = 10) -> Path:
    """A 10-minute 48 kHz stereo WAV of the sample speech, as a studio would deliver it."""
    target = folder / f"{minutes}-minutes.wav"
    subprocess.run(
        [
            check_capabilities(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-stream_loop",
            "-1",
            "-i",
            str(SPEECH),
            "-t",
            str(minutes * 60),
            "-ar",
            "48000",
            "-ac",
            "2",
            str(target),
        ],
        check=True,
    )
    return target


def plain_encode(source: Path, target: Path, profile: AudioProfile) -> None:
    subprocess.run(
        [
            check_capabilities(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-i",
            str(source),
            *mp3_output_args(profile),
            str(target),
        ],
        check=True,
    )


def bench_mastering(folder: Path, recording: Path, profile: AudioProfile) -> None:
    plain_runs, master_runs = [], []
    for run in range(RUNS):
        plain_runs.append(timed_cpu(lambda: plain_encode(recording, folder / "plain.mp3", profile)))
        cache = folder / f"cache-{profile.channels}-{run}"
        master_runs.append(timed_cpu(lambda cache=cache: master(recording, cache, profile)))
        shutil.rmtree(cache)
    plain = statistics.median(wall for wall, _ in plain_runs)
    mastered = statistics.median(wall for wall, _ in master_runs)
    plain_cpu = statistics.median(cpu for _, cpu in plain_runs)
    mastered_cpu = statistics.median(cpu for _, cpu in master_runs)
    cache = folder / "cache-check"
    outcome = master(recording, cache, profile)
    check = measure_loudness(outcome.path, peak="true")
    cached = statistics.median(
        timed(lambda: master(recording, cache, profile)) for _ in range(RUNS)
    )
    ratio = mastered / plain
    print(
        f"mastering {MINUTES} min, {profile.channels} ch {profile.bitrate_kbps} kb/s: "
        f"plain encode {plain:.2f} s, mastering {mastered:.2f} s, ratio {ratio:.2f}x "
        f"(goal <= {GOAL}x: {'met' if ratio <= GOAL else 'MISSED'}; CPU {plain_cpu:.2f} s "
        f"against {mastered_cpu:.2f} s, {mastered_cpu / plain_cpu:.2f}x; {outcome.encodes} "
        f"encode(s), limiting {outcome.limiting_db} dB, "
        f"{'re-measured' if outcome.verified else 'not re-measured'}); "
        f"result {check.integrated:.1f} LUFS, true peak {check.peak:.1f} dBTP; "
        f"cached re-run {cached * 1000:.0f} ms"
    )


def bench_meter(folder: Path, recordings: list[Path]) -> None:
    """The in-process loudness meter against ffmpeg's ebur128 at full rate, on the samples
    and the bench recording (the same decoded PCM for both), and the one-off cost of
    importing numpy and scipy that the first mastering in a process pays."""
    started, cpu = time.perf_counter(), cpu_seconds()
    import outreach.podcast.limiter  # noqa: F401 - timed: numpy, scipy.signal, scipy.ndimage

    print(
        f"importing the meter and limiter (numpy, scipy): {time.perf_counter() - started:.2f} s"
        f", {cpu_seconds() - cpu:.2f} CPU-s, once per process"
    )
    worst = 0.0
    for recording in recordings:
        for channels in (1, 2):
            profile = AudioProfile(channels=channels)
            pcm = folder / "meter.pcm"
            ours, _ = decode_and_measure(recording, profile, pcm)
            theirs = measure_loudness(pcm, input_args=pcm_input_args(profile))
            worst = max(worst, abs(ours.integrated - theirs.integrated))
            print(
                f"  {recording.name} {channels} ch: meter {ours.integrated:.2f} LUFS, "
                f"ebur128 {theirs.integrated:.1f} LUFS"
            )
    print(f"meter against ebur128: largest difference {worst:.2f} LU (goal <= 0.1 LU)")


def bench_tagging(folder: Path, recording: Path) -> None:
    mastered = master(recording, folder / "cache-tags", AudioProfile())
    audio = mastered.path.read_bytes()
    cover = (REPO / "media/podcast/cover.jpg").read_bytes()
    marks = chapter_marks(
        [(i * 60.0, f"Chapter {i + 1}", None) for i in range(10)], mastered.duration
    )
    tags = EpisodeTags(
        "Title",
        "Author",
        "Show",
        1,
        datetime(2026, 1, 1, tzinfo=UTC),
        "Summary",
        "https://example.org/x/",
        cover,
        "image/jpeg",
        marks,
    )
    times = [timed(lambda: tag_mp3(audio, tags)) for _ in range(50)]
    print(
        f"tagging a {len(audio) / 1e6:.1f} MB MP3 (cover + 10 chapters): median "
        f"{statistics.median(times) * 1000:.1f} ms per file (target < 50 ms)"
    )


def bench_feed() -> None:
    base = "https://example.org/"
    show = Show(
        "Show",
        "Description",
        base + "podcast/",
        base + "podcast/feed.xml",
        base + "podcast/cover.jpg",
        "en-GB",
        "Author",
        "Owner",
        "owner@example.org",
        "CC BY 4.0",
        "Business",
        "Non-Profit",
        False,
        True,
        podcast_guid(base + "podcast/feed.xml"),
    )
    start = datetime(2020, 1, 1, 9, tzinfo=UTC)
    episodes = []
    for number in range(1, 1001):
        finding_id = f"finding-{number:04d}"
        when = start + timedelta(days=number)
        link = f"{base}blog/{finding_id}/"
        episodes.append(
            FeedEpisode(
                finding_id,
                f"Episode {number}: a finding about supply chains",
                episode_description(
                    "A summary of the finding " * 8, link, ["Intro", "Findings", "What next"]
                ),
                link,
                when,
                when,
                f"{base}podcast/episodes/{finding_id}.mp3",
                4_800_000 + number,
                600,
                f"{base}podcast/episodes/{finding_id}.jpg",
                False,
                number,
                1 + number // 100,
                f"{base}podcast/episodes/{finding_id}.chapters.json",
                ((f"{base}podcast/episodes/{finding_id}.vtt", "text/vtt"),),
            )
        )
    times, size = [], 0
    for _ in range(5):
        start_time = time.perf_counter()
        size = len(build_feed(show, episodes))
        times.append(time.perf_counter() - start_time)
    print(
        f"feed of 1,000 episodes: median {statistics.median(times) * 1000:.0f} ms, "
        f"{size / 1e6:.1f} MB (target < 1 s)"
    )


def main() -> None:
    print("== podcast ==")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        recording = make_recording(folder, MINUTES)
        samples = [SPEECH, REPO / "media/audio/uganda-robusta-case-study.mp3"]
        samples.append(REPO / "media/video/cocoa-farm-gate-webinar.mp4")  # the sample event
        bench_meter(folder, [*samples, recording])
        bench_mastering(folder, recording, AudioProfile(channels=1, bitrate_kbps=64))
        bench_mastering(folder, recording, AudioProfile(channels=2, bitrate_kbps=128))
        bench_tagging(folder, recording)
    bench_feed()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: this process {own:.0f} MB, largest ffmpeg child {children:.0f} MB")


if __name__ == "__main__":
    main()
