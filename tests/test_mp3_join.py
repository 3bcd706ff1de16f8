"""The encode in two halves at once: one gapless MP3, heard as one encode would sound.

Checked with real ffmpeg (its decoder, with errors on), ffprobe, mutagen and ebur128 against
an encode of the same audio in one piece; the Info tag against the bytes ffmpeg writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from mutagen.mp3 import MP3

from audio_tools import ebur128, ffprobe, needs_ffprobe
from conftest import REPO
from outreach.podcast import audio as audio_module
from outreach.podcast import mp3_join
from outreach.podcast.audio import AudioProfile, encode_in_halves, master
from outreach.podcast.ffmpeg import FfmpegError, ffmpeg_path
from outreach.podcast.mp3_join import SAMPLES_PER_FRAME, JoinError, parse_frames, rewrite_info

SAMPLE = REPO / "media" / "audio" / "farm-gate-to-fob.flac"
RATE = 44100
GAIN_DB = 3.0
PROFILES = {"mono": AudioProfile(1, 64), "stereo": AudioProfile(2, 128)}


def speech_pcm(folder: Path, profile: AudioProfile, seconds: int = 150) -> Path:
    """``seconds`` of the sample speech, looped, as the float PCM the mastering encodes."""
    pcm = folder / f"speech-{profile.channels}.pcm"
    subprocess.run(
        [
            ffmpeg_path(), "-v", "error", "-y", "-stream_loop", "-1", "-i", str(SAMPLE),
            "-t", str(seconds), "-ac", str(profile.channels), "-ar", str(RATE),
            "-f", "f32le", str(pcm),
        ],
        check=True,
    )  # fmt: skip
    return pcm


def decoded(path: Path, channels: int) -> np.ndarray:
    """ffmpeg's decode of an MP3, gapless (encoder delay and end padding removed by its Info
    tag); any decoding error fails the test."""
    result = subprocess.run(
        [ffmpeg_path(), "-v", "error", "-i", str(path), "-f", "f32le", "-ac", str(channels), "-"],
        capture_output=True,
        check=True,
    )
    assert not result.stderr, result.stderr.decode()
    return np.frombuffer(result.stdout, np.float32).reshape(-1, channels)


def in_one_piece(pcm: Path, target: Path, profile: AudioProfile) -> Path:
    samples = pcm.stat().st_size // (4 * profile.channels)
    audio_module._encode_part(pcm, target, GAIN_DB, profile, samples / RATE, None)
    return target


def frame_errors(heard: np.ndarray, original: np.ndarray) -> np.ndarray:
    """RMS of the coding error in each frame-long stretch."""
    count = len(original) // SAMPLES_PER_FRAME * SAMPLES_PER_FRAME
    error = (heard[:count] - original[:count]).reshape(-1, SAMPLES_PER_FRAME * original.shape[1])
    return np.sqrt((error**2).mean(axis=1))


@pytest.mark.parametrize("layout", sorted(PROFILES))
def test_ffmpegs_info_tag_is_written_again_byte_for_byte(layout: str, tmp_path: Path) -> None:
    profile = PROFILES[layout]
    whole = in_one_piece(speech_pcm(tmp_path, profile, 40), tmp_path / "whole.mp3", profile)
    data = whole.read_bytes()
    assert rewrite_info(data) == data


@needs_ffprobe
@pytest.mark.parametrize("layout", sorted(PROFILES))
def test_two_halves_join_into_one_gapless_file_without_a_click(layout: str, tmp_path: Path) -> None:
    profile = PROFILES[layout]
    pcm = speech_pcm(tmp_path, profile)
    original = np.fromfile(pcm, np.float32).reshape(-1, profile.channels) * 10 ** (GAIN_DB / 20)
    whole = in_one_piece(pcm, tmp_path / "whole.mp3", profile)
    halves = tmp_path / "halves.mp3"
    encodes: list[int] = []
    real_encode = audio_module._encode_part

    def counted(*args: object, **kwargs: object) -> None:
        encodes.append(1)
        real_encode(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audio_module, "_encode_part", counted)
        encode_in_halves(pcm, halves, GAIN_DB, profile, None)
    assert len(encodes) == 2  # joined: not encoded in one piece after all

    heard, heard_whole = decoded(halves, profile.channels), decoded(whole, profile.channels)
    assert len(heard) == len(original) == len(heard_whole)  # not a sample gained or lost
    (stream,) = ffprobe(halves)["streams"]
    assert stream["bit_rate"] == str(profile.bitrate_kbps * 1000)
    assert MP3(halves).info.length == MP3(whole).info.length  # the Info tag's own account
    assert parse_frames(halves.read_bytes())[0].size == parse_frames(whole.read_bytes())[0].size

    # Up to the join the halves are the one-piece encode, frame for frame; from it on the
    # coding error stays what an encode's error is: nowhere near the join is it larger than
    # the one-piece encode's worst frame anywhere (a click would be many times larger).
    middle = len(original) // 2 // SAMPLES_PER_FRAME
    assert np.array_equal(heard[: middle * SAMPLES_PER_FRAME], heard_whole[: middle * 1152])
    errors, errors_whole = frame_errors(heard, original), frame_errors(heard_whole, original)
    near_join = errors[middle - 4 : middle + 44]
    assert near_join.max() <= errors_whole.max()
    assert np.median(errors) <= np.median(errors_whole) * 1.02
    assert abs(ebur128(halves)[0] - ebur128(whole)[0]) <= 0.05


def test_the_join_copies_what_the_second_half_borrowed_from_its_reservoir(tmp_path: Path) -> None:
    """The join frame of the sample speech keeps main data in the frames before it: those
    bytes must come across, or the decoder reads the first half's bytes as the second's."""
    profile = PROFILES["mono"]
    pcm = speech_pcm(tmp_path, profile)
    seen: list[int] = []
    real = mp3_join.join_point

    def recorded(first, second, shift, candidates):
        j = real(first, second, shift, candidates)
        seen.append(second[j - shift].main_data_begin)
        return j

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mp3_join, "join_point", recorded)
        encode_in_halves(pcm, tmp_path / "halves.mp3", GAIN_DB, profile, None)
    assert seen and seen[0] > 0
    decoded(tmp_path / "halves.mp3", 1)  # and it decodes without an error


def test_with_no_clean_frame_to_join_at_the_recording_is_encoded_in_one_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = PROFILES["mono"]
    pcm = speech_pcm(tmp_path, profile, 40)

    def nowhere(*args: object) -> int:
        raise JoinError("no frame in the overlap where the two encodes can be joined")

    monkeypatch.setattr(mp3_join, "join_point", nowhere)
    encode_in_halves(pcm, tmp_path / "fallback.mp3", GAIN_DB, profile, None)
    whole = in_one_piece(pcm, tmp_path / "whole.mp3", profile)
    assert (tmp_path / "fallback.mp3").read_bytes() == whole.read_bytes()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        ["fallback.mp3", "whole.mp3", pcm.name]
    )  # the halves are removed


def test_a_long_recording_is_mastered_in_halves_to_the_same_loudness(tmp_path: Path) -> None:
    """Mastering takes the halves from ``HALVES_MIN_SECONDS`` on; the episode comes out the
    same length and loudness as the recording would in one piece."""
    source = tmp_path / "talk.flac"
    subprocess.run(
        [ffmpeg_path(), "-v", "error", "-y", "-stream_loop", "-1", "-i", str(SAMPLE),
         "-t", "90", str(source)],
        check=True,
    )  # fmt: skip
    assert audio_module.HALVES_MIN_SECONDS <= 90
    mastered = master(source, tmp_path / "cache", AudioProfile())
    assert abs(mastered.duration - 90) < 0.05  # mutagen's reckoning from the Info tag
    assert len(decoded(mastered.path, 1)) == 90 * RATE  # the decode's: to the sample
    integrated, true_peak = ebur128(mastered.path)
    assert abs(integrated - -19.0) <= 0.5 and true_peak <= -1.0


@pytest.mark.parametrize("layout", sorted(PROFILES))
def test_a_join_where_the_encodes_differ_carries_the_borrowed_bytes_across(
    layout: str, tmp_path: Path
) -> None:
    """Joined a few frames after the second encode began, where its frames are not yet the
    first's: the bytes its first kept frame borrowed must be copied in, or that frame decodes
    from the first encode's bytes (ffmpeg says nothing; the sound is garbled)."""
    profile = PROFILES[layout]
    pcm = speech_pcm(tmp_path, profile, 40)
    original = np.fromfile(pcm, np.float32).reshape(-1, profile.channels) * 10 ** (GAIN_DB / 20)
    first = in_one_piece(pcm, tmp_path / "first.mp3", profile).read_bytes()
    shift = 600  # the second encode starts at frame 600 of 1,532
    second_path = tmp_path / "second.mp3"
    samples = len(original)
    start = shift * SAMPLES_PER_FRAME
    audio_module._encode_part(
        pcm, second_path, GAIN_DB, profile, (samples - start) / RATE, None, start
    )
    second = second_path.read_bytes()
    _, *a = parse_frames(first)
    _, *b = parse_frames(second)
    joins = []
    for j in range(shift + 2, shift + 40):
        try:
            mp3_join.join_point(a, b, shift, range(j, j + 1))
        except JoinError:
            continue
        need = b[j - shift].main_data_begin
        borrowed = b"".join(second[s:e] for s, e in mp3_join._reservoir(b, j - shift, need))
        there = b"".join(first[s:e] for s, e in mp3_join._reservoir(a, j, need))
        if sum(x != y for x, y in zip(borrowed, there, strict=True)) >= 64:
            joins.append(j)  # a join where many borrowed bytes are not the first's
    assert joins, "no early join point where the two encodes differ"
    j = joins[0]
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(mp3_join.join(first, second, shift, range(j, j + 1)))
    uncopied = tmp_path / "uncopied.mp3"
    with pytest.MonkeyPatch.context() as patch:  # the same join without the copy
        patch.setattr(mp3_join, "_reservoir", lambda frames, before, count: [])
        uncopied.write_bytes(mp3_join.join(first, second, shift, range(j, j + 1)))

    heard = decoded(joined, profile.channels)
    assert len(heard) == samples
    worst_anywhere = frame_errors(decoded(tmp_path / "first.mp3", profile.channels), original)
    near = slice(j - 3, j + 10)
    with_copy = frame_errors(heard, original)[near]
    without_copy = frame_errors(decoded(uncopied, profile.channels), original)[near]
    assert with_copy.max() <= worst_anywhere.max()
    # Without the copy some frame at the join is several times worse: the test can tell.
    assert (without_copy / np.maximum(with_copy, 1e-4)).max() > 3


def test_a_recording_too_short_to_overlap_is_encoded_in_one_piece(tmp_path: Path) -> None:
    profile = PROFILES["mono"]
    pcm = speech_pcm(tmp_path, profile, 2)  # 76 frames: the second half would start before 0
    encode_in_halves(pcm, tmp_path / "short.mp3", GAIN_DB, profile, None)
    whole = in_one_piece(pcm, tmp_path / "whole.mp3", profile)
    assert (tmp_path / "short.mp3").read_bytes() == whole.read_bytes()


def test_a_joined_file_that_cannot_be_written_is_the_encodes_clear_error(tmp_path: Path) -> None:
    """Writing the joined file can fail as ffmpeg's own write can (a full disk; here a folder
    that is not there): the same error, which mastering reports with the recording's name,
    and the halves are removed."""
    profile = PROFILES["mono"]
    pcm = speech_pcm(tmp_path, profile, 30)
    with pytest.raises(FfmpegError, match=r"could not write .*missing/episode\.mp3"):
        encode_in_halves(pcm, tmp_path / "missing" / "episode.mp3", GAIN_DB, profile, None)
    assert sorted(path.name for path in tmp_path.iterdir()) == [pcm.name]
