"""Mastering with real ffmpeg, checked by ffprobe and ebur128; tags read back by mutagen."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mutagen.id3 import ID3, CTOCFlags
from mutagen.mp3 import MP3

from audio_tools import FFPROBE, convert, ebur128, ffprobe, needs_ffprobe
from conftest import REPO
from outreach.podcast import audio as audio_module
from outreach.podcast.audio import (
    AudioError,
    AudioProfile,
    audio_duration,
    master,
    measure_input,
    measure_loudness,
)
from outreach.podcast.ffmpeg import check_capabilities, ffmpeg_path
from outreach.podcast.tags import EpisodeTags, chapter_marks, tag_mp3

SAMPLE = REPO / "media" / "audio" / "farm-gate-to-fob.flac"


def test_the_shipped_ffmpeg_has_what_mastering_needs() -> None:
    assert Path(check_capabilities()).is_file()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    return {
        "wav": convert(SAMPLE, folder / "in.wav", "-ar", "48000", "-ac", "2"),
        "flac": SAMPLE,
        "mp3": convert(SAMPLE, folder / "in.mp3", "-c:a", "libmp3lame", "-b:a", "96k"),
        "m4a": convert(SAMPLE, folder / "in.m4a", "-c:a", "aac", "-b:a", "96k"),
    }


@needs_ffprobe
@pytest.mark.parametrize("kind", ["wav", "flac", "mp3", "m4a"])
def test_any_common_input_becomes_a_normalised_cbr_mp3(
    inputs: dict[str, Path], kind: str, tmp_path: Path
) -> None:
    mastered = master(inputs[kind], tmp_path / "cache", AudioProfile(channels=1, bitrate_kbps=64))
    probe = ffprobe(mastered.path)
    (stream,) = probe["streams"]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == ("mp3", "44100", 1)
    assert stream["bit_rate"] == "64000"
    integrated, true_peak = ebur128(mastered.path)
    assert abs(integrated - -19.0) <= 1.0, integrated
    assert true_peak <= -1.0, true_peak


@needs_ffprobe
def test_stereo_profile_targets_minus_16_lufs(inputs: dict[str, Path], tmp_path: Path) -> None:
    mastered = master(inputs["wav"], tmp_path / "cache", AudioProfile(channels=2, bitrate_kbps=128))
    (stream,) = ffprobe(mastered.path)["streams"]
    assert (stream["channels"], stream["bit_rate"]) == (2, "128000")
    integrated, true_peak = ebur128(mastered.path)
    assert abs(integrated - -16.0) <= 1.0 and true_peak <= -1.0, (integrated, true_peak)


def test_a_quiet_recording_with_loud_peaks_goes_through_the_limiter(tmp_path: Path) -> None:
    # -30 LUFS speech with near-full-scale clicks: the gain pushes peaks far into the limiter.
    quiet = convert(SAMPLE, tmp_path / "quiet.wav", "-af", "volume=-12dB")
    clicks = convert(
        quiet,
        tmp_path / "clicks.wav",
        "-af",
        "aeval='val(0)+if(lt(mod(t\\,5)\\,0.002)\\,0.95\\,0)':c=same",
    )
    mastered = master(clicks, tmp_path / "cache", AudioProfile())
    assert mastered.verified and mastered.limiting_db > 6
    integrated, true_peak = ebur128(mastered.path)
    assert abs(integrated - -19.0) <= 1.0 and true_peak <= -1.0, (integrated, true_peak)


def test_an_unchanged_recording_is_never_encoded_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = master(SAMPLE, tmp_path / "cache", AudioProfile())

    def no_ffmpeg(*args: object, **kwargs: object) -> str:
        raise AssertionError("ffmpeg ran for a cached recording")

    monkeypatch.setattr(audio_module, "run_ffmpeg", no_ffmpeg)
    again = master(SAMPLE, tmp_path / "cache", AudioProfile())
    assert again == first


def test_a_corrupt_recording_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    with pytest.raises(AudioError, match=r"broken\.wav: not a (readable|recognised) audio file"):
        master(broken, tmp_path / "cache", AudioProfile())


def test_tags_chapters_and_cover_read_back(tmp_path: Path) -> None:
    mastered = master(SAMPLE, tmp_path / "cache", AudioProfile())
    cover = (REPO / "media/podcast/cover.jpg").read_bytes()
    tags = EpisodeTags(
        title="Beyond the farm: ünïcode title",
        artist="Show author",
        album="Show title",
        track=7,
        date=datetime(2026, 7, 8, 9, tzinfo=UTC),
        comment="Summary text",
        link="https://example.org/blog/x/",
        cover=cover,
        cover_mime="image/jpeg",
        chapters=chapter_marks(
            [(0.0, "Introduction", None), (13.793, "Where value leaks", "https://example.org/c")],
            mastered.duration,
        ),
    )
    path = tmp_path / "tagged.mp3"
    path.write_bytes(tag_mp3(mastered.path.read_bytes(), tags))

    id3 = ID3(path)
    assert id3.version == (2, 3, 0)
    assert str(id3["TIT2"]) == "Beyond the farm: ünïcode title"
    assert (str(id3["TPE1"]), str(id3["TALB"]), str(id3["TCON"]), str(id3["TRCK"])) == (
        "Show author",
        "Show title",
        "Podcast",
        "7",
    )
    assert str(id3.getall("COMM")[0]) == "Summary text"
    assert id3.getall("WXXX")[0].url == "https://example.org/blog/x/"
    (picture,) = id3.getall("APIC")
    assert (picture.type, picture.mime, picture.data) == (3, "image/jpeg", cover)
    chapters = sorted(id3.getall("CHAP"), key=lambda c: c.start_time)
    assert [(c.start_time, str(c.sub_frames["TIT2"])) for c in chapters] == [
        (0, "Introduction"),
        (13793, "Where value leaks"),
    ]
    assert chapters[-1].end_time == int(mastered.duration * 1000)
    (toc,) = id3.getall("CTOC")
    assert toc.flags == CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED
    assert str(toc.sub_frames["TIT2"]) == "Chapters"
    assert toc.child_element_ids == [c.element_id for c in chapters]
    assert abs(MP3(path).info.length - mastered.duration) < 0.05
    if FFPROBE is not None:
        probed = ffprobe(path)
        assert [c["tags"]["title"] for c in probed["chapters"]] == [
            "Introduction",
            "Where value leaks",
        ]
        assert probed["format"]["tags"]["title"] == "Beyond the farm: ünïcode title"


def test_measuring_in_parallel_parts_equals_one_pass(tmp_path: Path) -> None:
    padded = convert(
        SAMPLE, tmp_path / "padded.wav", "-af", "apad=pad_dur=3", "-ar", "48000", "-ac", "2"
    )
    looped = tmp_path / "looped.wav"
    subprocess.run(
        [
            ffmpeg_path(),
            "-loglevel",
            "error",
            "-y",
            "-stream_loop",
            "3",
            "-i",
            str(padded),
            str(looped),
        ],
        check=True,
    )
    duration = audio_duration(looped)
    assert duration > 150
    for layout in ("mono", "stereo"):
        whole = measure_loudness(looped, layout)
        parts = measure_input(looped, layout, duration, parts=3)
        assert abs(parts.integrated - whole.integrated) <= 0.1, (layout, parts, whole)
        assert parts.peak == whole.peak
