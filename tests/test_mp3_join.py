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
from outreach.podcast.ffmpeg import ffmpeg_path
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
    encode_in_halves(pcm, halves, GAIN_DB, profile, None)

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
