"""Event benchmark: a 60-minute 720p recording into a mastered episode, against a plain
ffmpeg extraction and encode of the same file to the same format, in the same run.

The recording (H.264 720p at 25 frames a second, AAC stereo 48 kHz speech looped from the
sample episode) is made once and kept in ``bench/.cache/`` (ignored by git). The episode is
what the release prepares for an event (``outreach.events.episode.prepare``: the podcast's
mastering, measured then encoded once, and the agenda checked against its length), from an
empty audio cache each time. Runs alternate with the plain encode; medians and the ratio are
printed (goal: at most 1.3x), with the CPU time of both (this process and its ffmpegs): on a
busy machine the steadier figure. ``python -m bench.event_episode [runs]``; the default is 3.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from outreach.config import Settings
from outreach.events.episode import prepare
from outreach.events.model import AgendaItem, Event, Speaker
from outreach.podcast.audio import mp3_output_args
from outreach.podcast.ffmpeg import check_capabilities
from outreach.podcast.show import audio_profile

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "bench" / ".cache"
SPEECH = REPO / "media" / "audio" / "farm-gate-to-fob.flac"
MINUTES = 60
GOAL = 1.3


def make_recording() -> Path:
    """The 60-minute 720p recording, made once (about a minute) and cached."""
    target = CACHE / f"event-{MINUTES}min-720p.mp4"
    if target.is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.mp4")
    subprocess.run(
        [
            check_capabilities(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=25:duration={MINUTES * 60}",
            "-stream_loop", "-1", "-i", str(SPEECH),
            "-map", "0:v", "-map", "1:a", "-t", str(MINUTES * 60),
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", "-g", "250",
            "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
            "-movflags", "+faststart", str(partial),
        ],
        check=True,
    )  # fmt: skip
    partial.replace(target)
    return target


def cpu_seconds() -> float:
    """CPU time of this process and of every child it waited for (the ffmpegs)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def plain_encode(source: Path, target: Path, settings: Settings) -> None:
    """What anyone would type: take the audio, encode it to the episode's MP3 format."""
    subprocess.run(
        [
            check_capabilities(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-i", str(source), "-map", "0:a:0", "-vn",
            *mp3_output_args(audio_profile(settings)), "-f", "mp3", str(target),
        ],
        check=True,
    )  # fmt: skip


def bench_event(recording: Path) -> Event:
    """An event whose agenda spans the hour (chapters are checked against the length)."""
    starts = datetime(2026, 7, 15, 13, tzinfo=UTC)
    return Event(
        id="bench-webinar",
        title="Benchmark webinar",
        summary="An hour-long recording.",
        kind="webinar",
        starts=starts,
        ends=starts.replace(hour=14, minute=30),
        timezone="Europe/London",
        speakers=[Speaker(name="A Speaker", role="Host", organisation="Bench")],
        agenda=[
            AgendaItem(start=f"14:{minute:02d}", title=f"Part {n}")
            for n, minute in enumerate(range(0, 60, 10), start=1)
        ],
        topics=["food-agriculture"],
        join_url="https://meet.example.org/j/bench",
        recording=recording.name,
        episode_number=1,
    )


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print("== event episode ==")
    started = time.perf_counter()
    recording = make_recording()
    print(
        f"recording: {recording.name}, {recording.stat().st_size / 1e6:.0f} MB "
        f"(ready in {time.perf_counter() - started:.1f} s; cached in bench/.cache/)"
    )
    plain_times: list[float] = []
    episode_times: list[float] = []
    plain_cpu: list[float] = []
    episode_cpu: list[float] = []
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        settings = Settings.model_validate(
            {"paths": {"media": str(recording.parent), "state": str(folder / "state")}}
        )
        event = bench_event(recording)
        for _ in range(runs):
            start, cpu = time.perf_counter(), cpu_seconds()
            plain_encode(recording, folder / "plain.mp3", settings)
            plain_times.append(time.perf_counter() - start)
            plain_cpu.append(cpu_seconds() - cpu)
            shutil.rmtree(settings.paths.audio_cache, ignore_errors=True)
            start, cpu = time.perf_counter(), cpu_seconds()
            mastered = prepare(event, settings)
            episode_times.append(time.perf_counter() - start)
            episode_cpu.append(cpu_seconds() - cpu)
    assert mastered is not None
    plain, episode = statistics.median(plain_times), statistics.median(episode_times)
    ratio = episode / plain
    cpu_plain, cpu_episode = statistics.median(plain_cpu), statistics.median(episode_cpu)
    print(
        f"{MINUTES}-minute 720p recording, median of {runs}: plain extract+encode {plain:.2f} s, "
        f"mastered episode {episode:.2f} s, ratio {ratio:.2f}x (goal <= {GOAL}x: "
        f"{'met' if ratio <= GOAL else 'MISSED'}; CPU {cpu_plain:.1f} s against "
        f"{cpu_episode:.1f} s, {cpu_episode / cpu_plain:.2f}x); mastered to "
        f"{mastered.output_lufs:.1f} LUFS in {mastered.encodes} encode(s), limiting "
        f"{mastered.limiting_db} dB, {mastered.duration / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
