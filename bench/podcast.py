"""Podcast benchmark: mastering against a plain encode, tagging, a 1,000-episode feed, memory.

Run with `make bench` (or `python -m bench.podcast`). Every figure is a median of several runs;
the mastering ratio compares with a plain ffmpeg encode of the same file to the same format,
measured in the same run.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from outreach.podcast.audio import AudioProfile, master, measure_loudness, mp3_output_args
from outreach.podcast.feed import FeedEpisode, Show, build_feed, episode_description, podcast_guid
from outreach.podcast.ffmpeg import check_capabilities
from outreach.podcast.tags import EpisodeTags, chapter_marks, tag_mp3

REPO = Path(__file__).resolve().parent.parent
SPEECH = REPO / "media" / "audio" / "farm-gate-to-fob.flac"
RUNS = 3


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def make_recording(folder: Path, minutes: int = 10) -> Path:
    """A 10-minute 48 kHz stereo WAV of the sample speech, as a studio would deliver it."""
    target = folder / "ten-minutes.wav"
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
    plain_times, master_times = [], []
    for run in range(RUNS):
        plain_times.append(timed(lambda: plain_encode(recording, folder / "plain.mp3", profile)))
        cache = folder / f"cache-{profile.channels}-{run}"
        master_times.append(timed(lambda cache=cache: master(recording, cache, profile)))
        shutil.rmtree(cache)
    plain, mastered = statistics.median(plain_times), statistics.median(master_times)
    cache = folder / "cache-check"
    outcome = master(recording, cache, profile)
    check = measure_loudness(outcome.path, peak="true")
    cached = statistics.median(
        timed(lambda: master(recording, cache, profile)) for _ in range(RUNS)
    )
    print(
        f"mastering 10 min, {profile.channels} ch {profile.bitrate_kbps} kb/s: "
        f"plain encode {plain:.2f} s, mastering {mastered:.2f} s, ratio {mastered / plain:.2f}x "
        f"(target <= 1.5x; {outcome.encodes} encode(s), limiting {outcome.limiting_db} dB, "
        f"{'re-measured' if outcome.verified else 'not re-measured'}); "
        f"result {check.integrated:.1f} LUFS, true peak {check.peak:.1f} dBTP; "
        f"cached re-run {cached * 1000:.0f} ms"
    )


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
        recording = make_recording(folder)
        bench_mastering(folder, recording, AudioProfile(channels=1, bitrate_kbps=64))
        bench_mastering(folder, recording, AudioProfile(channels=2, bitrate_kbps=128))
        bench_tagging(folder, recording)
    bench_feed()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: this process {own:.0f} MB, largest ffmpeg child {children:.0f} MB")


if __name__ == "__main__":
    main()
