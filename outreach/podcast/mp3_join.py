"""Two MP3 encodes of one recording, joined into one gapless file.

Why: LAME encodes on one core, and the encode is most of an hour-long episode's mastering;
the two halves of a recording, encoded at once, take about half as long on two cores. The
halves overlap: the second encode starts some frames before the join, so near it both
encoders have seen the same audio. LAME starts a frame every 1152 samples after a fixed
delay, so a second encode started a whole number of frames into the recording lines up
with the first, frame for frame. The join is made at a frame where

- both sides use long blocks: the decoder's overlap-add then meets the window it expects;
- the second encode's first kept frame finds the bytes it borrowed from earlier frames (the
  bit reservoir: ``main_data_begin``) in room the first encode left free there: they are
  copied into it.

The first encode's Info frame (ffmpeg's LAME tag) is kept, with its frame and byte counts,
seek table, end padding and CRCs written again as ffmpeg writes them, so a player sees one
constant-bit-rate file of the right length. Hand-written because no MP3 library joins
encodes: it reads only what the join needs (frame headers, the side information's
``main_data_begin`` and block types) of MPEG-1 Layer III, the episodes' format.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from outreach.errors import OutreachError

if TYPE_CHECKING:
    from collections.abc import Callable

SAMPLES_PER_FRAME = 1152
"""MPEG-1 Layer III: samples per channel in a frame."""
_BITRATES_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_SAMPLE_RATES = (44100, 48000, 32000)
_LONG_BLOCK = 0

# The Info tag, as ffmpeg writes it (offsets from the "Info" word in the first frame).
_TAG_FRAMES, _TAG_BYTES, _TAG_TOC = 8, 12, 16
_TOC_SIZE = 100
_TAG_DELAY_PADDING = 141
_TAG_AUDIO_SIZE, _TAG_AUDIO_CRC, _TAG_CRC = 148, 152, 154
_TAG_CRC_SPAN = 190
"""ffmpeg's tag CRC covers the first 190 bytes of the Info frame (its own field still 0)."""
_SEEK_BAGS = 400
"""ffmpeg's seek table samples the stream in this many bags, halved as the stream grows."""


class JoinError(OutreachError, ValueError):
    """The encodes cannot be joined (not the expected MP3, or no frame to join at): the
    caller encodes the recording in one piece instead."""


@dataclass(frozen=True)
class Frame:
    offset: int
    size: int
    main_data: int
    """Where the frame's main data area starts (after header, CRC and side information)."""
    main_data_begin: int
    """How many bytes of main data the frame keeps before its header (the bit reservoir)."""
    block_types: tuple[tuple[int, ...], ...]
    """Per granule, per channel: 0 long, 1 start, 2 short, 3 stop."""

    @property
    def end(self) -> int:
        return self.offset + self.size


def parse_frames(data: bytes) -> list[Frame]:
    """Every frame of an MPEG-1 Layer III stream that is nothing but frames (ffmpeg's MP3
    without ID3 tags), the Info frame first."""
    frames: list[Frame] = []
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise JoinError(f"a truncated frame at byte {offset}")
        header = int.from_bytes(data[offset : offset + 4], "big")
        bitrate, rate = (header >> 12) & 15, (header >> 10) & 3
        mpeg1_layer3 = header >> 21 == 0x7FF and (header >> 19) & 3 == 3 and (header >> 17) & 3 == 1
        if not mpeg1_layer3 or bitrate in (0, 15) or rate == 3:
            raise JoinError(f"no MPEG-1 Layer III frame at byte {offset}")
        size = 144000 * _BITRATES_KBPS[bitrate] // _SAMPLE_RATES[rate] + ((header >> 9) & 1)
        channels = 1 if (header >> 6) & 3 == 3 else 2
        side = offset + 4 + (0 if (header >> 16) & 1 else 2)  # a 16-bit CRC when protected
        side_bytes = 17 if channels == 1 else 32
        if offset + size > len(data):
            raise JoinError(f"a truncated frame at byte {offset}")
        frames.append(_frame(data, offset, size, side, side_bytes, channels))
        offset += size
    return frames


def _frame(data: bytes, offset: int, size: int, side: int, side_bytes: int, channels: int) -> Frame:
    bits = int.from_bytes(data[side : side + side_bytes], "big")
    total = side_bytes * 8

    def field(position: int, width: int) -> int:
        return (bits >> (total - position - width)) & ((1 << width) - 1)

    position = 9 + (5 if channels == 1 else 3) + 4 * channels  # main_data_begin, private, scfsi
    granules = []
    for _granule in range(2):
        types = []
        for _channel in range(channels):
            switching = field(position + 33, 1)  # after part2_3_length, big_values, gains
            types.append(field(position + 34, 2) if switching else _LONG_BLOCK)
            position += 59
        granules.append(tuple(types))
    return Frame(offset, size, side + side_bytes, field(0, 9), tuple(granules))


def _tag_offset(data: bytes | bytearray, info: Frame) -> int:
    if data[info.main_data : info.main_data + 4] not in (b"Info", b"Xing"):
        raise JoinError("the first frame holds no Info tag")
    return info.main_data


def _reservoir(frames: list[Frame], before: int, count: int) -> list[tuple[int, int]]:
    """Byte ranges holding the last ``count`` bytes of main data before frame ``before``."""
    ranges: list[tuple[int, int]] = []
    index = before - 1
    while count > 0:
        if index < 0:
            raise JoinError("the bit reservoir reaches before the first frame")
        frame = frames[index]
        take = min(count, frame.end - frame.main_data)
        ranges.insert(0, (frame.end - take, frame.end))
        count -= take
        index -= 1
    return ranges


def join_point(first: list[Frame], second: list[Frame], shift: int, candidates: range) -> int:
    """The first audio frame ``j`` in ``candidates`` (indexes into ``first``'s audio frames;
    ``second``'s frame ``j - shift`` is the same stretch of audio) where the join is clean:
    long blocks on both sides, and room in ``first`` for what ``second`` borrowed."""
    for j in candidates:
        k = j - shift
        if not (1 <= j < len(first) and 1 <= k < len(second)):
            continue
        long_blocks = all(t == _LONG_BLOCK for t in first[j - 1].block_types[-1]) and all(
            t == _LONG_BLOCK for t in second[k].block_types[0]
        )
        if long_blocks and second[k].main_data_begin <= first[j].main_data_begin:
            return j
    raise JoinError("no frame in the overlap where the two encodes can be joined")


def join(first: bytes, second: bytes, shift: int, candidates: range) -> bytearray:
    """One MP3 from ``first`` (up to the join) and ``second`` (from it on). ``second``'s
    audio frame ``i`` encodes the audio of ``first``'s frame ``i + shift``; the join is at
    the first clean frame of ``candidates`` (``join_point``)."""
    a_info, *a = parse_frames(first)
    b_info, *b = parse_frames(second)
    j = join_point(a, b, shift, candidates)
    k = j - shift
    joined = bytearray(first[: a[j].offset])
    borrowed = b"".join(second[s:e] for s, e in _reservoir(b, k, b[k].main_data_begin))
    taken = 0
    for start, end in _reservoir(a, j, len(borrowed)):
        joined[start:end] = borrowed[taken : taken + end - start]
        taken += end - start
    joined += second[b[k].offset :]
    sizes = [frame.size for frame in a[:j]] + [frame.size for frame in b[k:]]
    _fill_info(joined, a_info, sizes, _delay_padding(second, b_info)[1])
    return joined


def _delay_padding(data: bytes | bytearray, info: Frame) -> tuple[int, int]:
    at = _tag_offset(data, info) + _TAG_DELAY_PADDING
    value = int.from_bytes(data[at : at + 3], "big")
    return value >> 12, value & 0xFFF


def _fill_info(data: bytearray, info: Frame, sizes: list[int], end_padding: int) -> None:
    """Make ``data``'s Info frame (in place) describe ``sizes`` (the audio frames after it)
    and ``end_padding``, field for field as ffmpeg's MP3 muxer fills it in."""
    tag = _tag_offset(data, info)
    total = len(data)
    data[tag + _TAG_FRAMES : tag + _TAG_FRAMES + 4] = len(sizes).to_bytes(4, "big")
    data[tag + _TAG_BYTES : tag + _TAG_BYTES + 4] = total.to_bytes(4, "big")
    data[tag + _TAG_TOC : tag + _TAG_TOC + _TOC_SIZE] = _seek_table(info.size, sizes)
    delay = _delay_padding(data, info)[0]
    data[tag + _TAG_DELAY_PADDING : tag + _TAG_DELAY_PADDING + 3] = (
        (delay << 12) | end_padding
    ).to_bytes(3, "big")
    data[tag + _TAG_AUDIO_SIZE : tag + _TAG_AUDIO_SIZE + 4] = total.to_bytes(4, "big")
    audio_crc = _crc16()(memoryview(data)[info.size :])
    data[tag + _TAG_AUDIO_CRC : tag + _TAG_AUDIO_CRC + 2] = audio_crc.to_bytes(2, "big")
    data[tag + _TAG_CRC : tag + _TAG_CRC + 2] = b"\0\0"
    tag_crc = _crc16()(bytes(data[:_TAG_CRC_SPAN]))
    data[tag + _TAG_CRC : tag + _TAG_CRC + 2] = tag_crc.to_bytes(2, "big")


def _seek_table(info_size: int, sizes: list[int]) -> bytes:
    """The Info tag's 100-entry seek table, sampled as ffmpeg's muxer samples it."""
    bags = [0] * _SEEK_BAGS
    size, want, seen, position = info_size, 1, 0, 0
    for frame_size in sizes:
        seen += 1
        size += frame_size
        if seen == want:
            bags[position] = size
            position += 1
            if position == _SEEK_BAGS:
                for i in range(1, _SEEK_BAGS, 2):
                    bags[i >> 1] = bags[i]
                want *= 2
                position = _SEEK_BAGS // 2
            seen = 0
    table = [0]
    for i in range(1, _TOC_SIZE):
        table.append(min(256 * bags[i * position // _TOC_SIZE] // size, 255))
    return bytes(table)


def rewrite_info(data: bytes) -> bytes:
    """``data`` with its Info frame filled in again from its own frames: the same bytes for
    a file ffmpeg wrote (the tests check the tag writing this way)."""
    info, *audio = parse_frames(data)
    filled = bytearray(data)
    _fill_info(filled, info, [frame.size for frame in audio], _delay_padding(data, info)[1])
    return bytes(filled)


@lru_cache(maxsize=1)
def _crc16() -> Callable[[bytes], int]:
    """CRC-16/ARC (polynomial 0x8005, reflected), the LAME tag's checksum."""
    import crcmod

    return crcmod.mkCrcFun(0x18005, initCrc=0, rev=True, xorOut=0)
