"""Mastering with real ffmpeg, checked by ffprobe and ebur128; tags read back by mutagen."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    decode_and_measure,
    master,
    measure_loudness,
    pcm_input_args,
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


def test_the_same_recording_under_another_name_is_not_encoded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its cache key is read while it is decoded: the key finds the episode mastered.
    first = master(SAMPLE, tmp_path / "cache", AudioProfile())
    copy = tmp_path / "renamed.flac"
    copy.write_bytes(SAMPLE.read_bytes())

    def no_encode(*args: object, **kwargs: object) -> str:
        raise AssertionError("the same recording was encoded again")

    monkeypatch.setattr(audio_module, "run_ffmpeg", no_encode)
    assert master(copy, tmp_path / "cache", AudioProfile()) == first
    assert not [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]


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


def test_loudness_measured_while_decoding_equals_one_ebur128_pass(tmp_path: Path) -> None:
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
        # ebur128 reads the samples the meter read: the decoded PCM, at the recording's rate.
        profile = AudioProfile(channels=1 if layout == "mono" else 2, sample_rate=48000)
        parts, seconds = decode_and_measure(looped, profile, tmp_path / f"{layout}.pcm")
        whole = measure_loudness(tmp_path / f"{layout}.pcm", input_args=pcm_input_args(profile))
        assert abs(parts.integrated - whole.integrated) <= 0.1, (layout, parts, whole)
        assert parts.peak is not None and round(parts.peak, 1) == whole.peak, (parts, whole)
        assert abs(seconds - duration) < 0.01


def test_the_loudness_filter_is_the_standards_at_48_khz() -> None:
    from outreach.podcast.loudness import k_weighting

    # ITU-R BS.1770-4, tables 1 and 2: the two stages' coefficients at 48 kHz.
    shelf_b = [1.53512485958697, -2.69169618940638, 1.19839281085285]
    shelf_a = [1.0, -1.69065929318241, 0.73248077421585]
    high_pass_b, high_pass_a = [1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621]
    b, a = k_weighting(48000)
    expected_b = [sum(shelf_b[i] * high_pass_b[k - i] for i in range(3) if 0 <= k - i < 3)
                  for k in range(5)]  # fmt: skip
    expected_a = [sum(shelf_a[i] * high_pass_a[k - i] for i in range(3) if 0 <= k - i < 3)
                  for k in range(5)]  # fmt: skip
    assert list(b) == pytest.approx(expected_b, abs=1e-12)
    assert list(a) == pytest.approx(expected_a, abs=1e-12)


def test_the_loudness_does_not_depend_on_how_the_decoded_audio_arrives(tmp_path: Path) -> None:
    from outreach.podcast.loudness import LoudnessMeter

    decoded = tmp_path / "decoded.raw"
    subprocess.run(
        [ffmpeg_path(), "-loglevel", "error", "-i", str(SAMPLE), "-ac", "2", "-f", "f32le",
         str(decoded)],
        check=True,
    )  # fmt: skip
    pcm = decoded.read_bytes()
    whole = LoudnessMeter(2, 44100)
    whole.add(pcm)
    pieces = LoudnessMeter(2, 44100)
    position, sizes = 0, [8, 8 * 4409, 8 * 100_003, 8 * 7]
    while position < len(pcm):
        size = sizes[position % len(sizes)]
        pieces.add(pcm[position : position + size])
        position += size
    assert pieces.frames == whole.frames == len(pcm) // 8
    assert pieces.integrated_lufs == pytest.approx(whole.integrated_lufs, abs=1e-9)
    assert pieces.peak_dbfs == whole.peak_dbfs


@needs_ffprobe
def test_a_recording_whose_peaks_stay_under_the_ceiling_gets_a_pure_gain(tmp_path: Path) -> None:
    # Pink noise: about 12 dB between its peaks and its loudness, so the gain to -19 LUFS
    # leaves every peak under the -2 dBFS ceiling and nothing is limited.
    noise = tmp_path / "noise.wav"
    subprocess.run(
        [ffmpeg_path(), "-loglevel", "error", "-f", "lavfi", "-i",
         "anoisesrc=color=pink:amplitude=0.05:duration=20:seed=7", str(noise)],
        check=True,
    )  # fmt: skip
    mastered = master(noise, tmp_path / "cache", AudioProfile())
    assert mastered.limiting_db == 0 and mastered.encodes == 1
    integrated, true_peak = ebur128(mastered.path)
    assert abs(integrated - -19.0) <= 1.0 and true_peak <= -1.0, (integrated, true_peak)


def test_mastering_decodes_the_recording_once_and_encodes_it_once(
    inputs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []

    def counted(step: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def run(arguments: list[str], *args: Any, **kwargs: Any) -> Any:
            calls.append((step, arguments[arguments.index("-i") + 1]))
            return real(arguments, *args, **kwargs)  # the real ffmpeg does the work

        return run

    monkeypatch.setattr(audio_module, "run_ffmpeg", counted("encode", audio_module.run_ffmpeg))
    monkeypatch.setattr(
        audio_module, "stream_ffmpeg", counted("decode", audio_module.stream_ffmpeg)
    )
    monkeypatch.setattr(audio_module, "_DECODED", {})
    monkeypatch.setattr(audio_module, "decoded_seconds", None)  # no separate decode for length
    source = inputs["m4a"]
    mastered = master(source, tmp_path / "cache", AudioProfile())
    # One decode of the recording; one encode of its PCM, as two halves at once (43 s is
    # over HALVES_MIN_SECONDS): each reads the decoded PCM, not the recording.
    assert [step for step, _ in calls] == ["decode", "encode", "encode"]
    assert calls[0][1] == str(source)
    assert {path for _, path in calls[1:]} == {calls[1][1]} != {str(source)}
    # A later release validating the recording reads its decoded length, not decoding it.
    monkeypatch.setattr(audio_module, "_DECODED", {})
    length = audio_module.decoded_duration(source, tmp_path / "cache", remember=False)
    assert abs(length - mastered.duration) < 0.1


def test_the_limiter_keeps_every_sample_under_the_ceiling_and_leaves_the_rest_untouched(
    tmp_path: Path,
) -> None:
    import numpy as np

    from outreach.podcast.limiter import ATTACK_SECONDS, HOLD_SECONDS, limit_in_place
    from outreach.podcast.loudness import LoudnessMeter

    rate, channels, gain_db, ceiling_dbfs = 8000, 2, 6.0, -2.0
    generator = np.random.default_rng(3)
    samples = (generator.standard_normal((rate * 5, channels)) * 0.05).astype("<f4")
    for at in (0, 1234, 1240, 20_000, rate * 5 - 1):  # the very first and last samples too
        samples[at, at % channels] = 0.9
    pcm = tmp_path / "audio.pcm"
    pcm.write_bytes(samples.tobytes())
    meter = LoudnessMeter(channels, rate)
    meter.add(samples.tobytes())
    limit_in_place(pcm, channels, rate, meter.block_peaks, meter.peak_block, gain_db, ceiling_dbfs)
    limited = np.fromfile(pcm, "<f4").reshape(-1, channels)
    ceiling = 10 ** ((ceiling_dbfs - gain_db) / 20)
    assert np.abs(limited).max() <= ceiling * (1 + 1e-6)
    # Only the stretch from one attack before a loud sample to a hold and an attack after it
    # changes; everything else is bit for bit what was decoded.
    reach_back = round(rate * ATTACK_SECONDS)
    reach_on = round(rate * (HOLD_SECONDS + ATTACK_SECONDS))
    loud = np.flatnonzero(np.abs(samples).max(axis=1) > ceiling)
    near = np.zeros(len(samples), bool)
    for at in loud:
        near[max(0, at - reach_back) : at + reach_on] = True
    assert np.array_equal(limited[~near], samples[~near])
    assert (limited[near] != samples[near]).any()


@pytest.mark.parametrize("layout", ["mono", "stereo"])
def test_the_decoded_pcm_is_sample_for_sample_ffmpegs_own_decode(
    inputs: dict[str, Path], layout: str, tmp_path: Path
) -> None:
    # The decode regroups the samples into large frames (fewer hand-offs between ffmpeg's
    # threads); the episode must be made from exactly the samples a plain decode gives.
    profile = AudioProfile(channels=1 if layout == "mono" else 2)
    for source in (REPO / "media" / "video" / "cocoa-farm-gate-webinar.mp4", inputs["m4a"]):
        ours = tmp_path / "ours.pcm"
        _, seconds = decode_and_measure(source, profile, ours)
        plain = subprocess.run(
            [ffmpeg_path(), "-loglevel", "error", "-i", str(source), "-map", "0:a:0", "-vn",
             "-af", f"aformat=channel_layouts={layout},aresample=44100", "-f", "f32le", "-"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        assert len(plain) > 4 * profile.channels * 44100 * 10
        assert ours.read_bytes() == plain, source
        assert seconds == len(plain) / (4 * profile.channels * 44100)


def test_a_killed_masterings_leftovers_are_removed_and_a_running_ones_kept(tmp_path: Path) -> None:
    import os
    import time

    cache = tmp_path / "cache"
    cache.mkdir()
    killed, running = cache / ".decode-killed.pcm", cache / ".decode-running.pcm"
    for leftover in (killed, running):
        leftover.write_bytes(b"\0" * 4096)
    two_days_ago = time.time() - 2 * 86400
    os.utime(killed, (two_days_ago, two_days_ago))
    master(SAMPLE, cache, AudioProfile())
    assert not killed.exists() and running.exists()


def test_a_decoded_audio_that_does_not_fit_is_a_clear_error_that_leaves_nothing(
    tmp_path: Path,
) -> None:
    # A file size limit stands in for a full disk: the decoded audio (7.6 MB) cannot be
    # written to the cache, whose other files are small.
    cache = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        import resource, signal
        from pathlib import Path
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        from outreach.podcast.audio import AudioError, AudioProfile, master
        try:
            master(Path({str(SAMPLE)!r}), Path({str(cache)!r}), AudioProfile())
        except AudioError as exc:
            print("AudioError:", exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.startswith("AudioError: "), (result.stdout, result.stderr)
    assert "farm-gate-to-fob.flac: could not write its decoded audio in" in result.stdout
    assert "File too large" in result.stdout and "free space" in result.stdout
    assert not [path.name for path in cache.iterdir() if path.name.startswith(".decode-")]
