"""The reader's validation: each mistake named with file, field and fix; all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.finding import FindingsInvalid, read_finding, read_findings

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MEDIA = FIXTURES / "media"
VALID = (FIXTURES / "findings" / "beta-cotton-traceability.md").read_text(encoding="utf-8")


def write(tmp_path: Path, text: str, name: str = "finding.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_for(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(FindingsInvalid) as caught:
        read_finding(path, MEDIA, shown_as="findings/finding.md")
    return [str(problem) for problem in caught.value.problems]


def test_the_fixture_is_valid(tmp_path: Path) -> None:
    finding = read_finding(write(tmp_path, VALID), MEDIA)
    assert finding.id == "beta-cotton-traceability"
    assert finding.topics == ["apparel-textiles", "responsible-sourcing"]
    assert finding.body.startswith("Ginners are the hinge")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "id: beta-cotton-traceability",
            "id: Beta Cotton",
            "findings/finding.md: id: 'Beta Cotton' is not a slug; use lowercase letters, digits and single hyphens, e.g. 'beta-cotton'",
        ),
        (
            "title: Traceable cotton lots from farm to spinner\n",
            "",
            "findings/finding.md: title: missing; add it: the post title on one line",
        ),
        (
            "published: 2026-02-10T10:00:00+02:00",
            "published: 2026-02-10",
            "findings/finding.md: published: '2026-02-10' has no time or timezone; write e.g. '2026-02-10T09:00:00+00:00'",
        ),
        (
            "published: 2026-02-10T10:00:00+02:00",
            "published: 2026-02-10T10:00:00",
            "findings/finding.md: published: has no timezone; write a date and time with a timezone",
        ),
        (
            "topics: [apparel-textiles, responsible-sourcing]",
            "topics: [aparel-textiles]",
            "findings/finding.md: topics[0]: 'aparel-textiles' is not one of the six topics; did you mean 'apparel-textiles'?",
        ),
        (
            "topics: [apparel-textiles, responsible-sourcing]",
            "topics: []",
            "findings/finding.md: topics: is empty; write a list of topic slugs",
        ),
        (
            "topics: [apparel-textiles, responsible-sourcing]",
            "topics: [apparel-textiles, apparel-textiles]",
            "findings/finding.md: topics: lists a topic twice; list each topic once",
        ),
        (
            '  - value: "3 in 5"\n',
            '  - value: ""\n',
            "findings/finding.md: stats[0].value: is empty; write the figure as text",
        ),
        (
            "    source: Fixture ginner survey",
            "    source: Fixture ginner survey\n    source_url: javascript:alert(1)",
            "findings/finding.md: stats[0].source_url: 'javascript:alert(1)' is not a web address; write a full http(s) URL",
        ),
        (
            "  file: images/beta.png",
            "  file: images/missing.png",
            "findings/finding.md: image.file: no file at ",
        ),
        (
            "  file: images/beta.png",
            "  file: ../../etc/passwd",
            "findings/finding.md: image.file: '../../etc/passwd' is not a path inside media/",
        ),
        (
            "  alt: A blue square with a yellow sun",
            '  alt: ""',
            "findings/finding.md: image.alt: is empty; write a short description of the image for screen readers",
        ),
        (
            "summary: Cotton traceability works when ginners share lot data.",
            'summary: "Two\\nlines"',
            "findings/finding.md: summary: contains a line break or control character; write it on one line",
        ),
        (
            "author: Fixture author",
            "autor: Fixture author",
            "findings/finding.md: autor: unknown field; did you mean 'author'?",
        ),
        (
            "regions: [India, Pakistan]",
            "regions: India",
            "findings/finding.md: regions: input should be a valid list; write a list such as [Ghana, West Africa]",
        ),
        (
            "Ginners are the hinge of cotton traceability.\n\n## What worked\n\n- Shared lot numbers\n- Paid data entry\n\n| Step | Who |\n|------|-----|\n| Gin  | Ginner |\n",
            "\n",
            "findings/finding.md: body: is empty; write the Markdown text of the post after the closing '---' line",
        ),
    ],
)
def test_each_mistake_names_file_field_and_fix(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in VALID
    messages = problems_for(tmp_path, VALID.replace(old, new))
    assert len(messages) == 1, messages
    assert messages[0].startswith(expected), messages[0]


def test_episode_fields_are_checked(tmp_path: Path) -> None:
    text = VALID.replace(
        "image:",
        "episode:\n  audio: audio/none.wav\n  number: 0\n  chapters:\n"
        "    - {start: '00:05', title: Intro}\n    - {start: 'soon', title: Later}\nimage:",
    )
    messages = problems_for(tmp_path, text)
    assert any(m.startswith("findings/finding.md: episode.audio: no file at ") for m in messages)
    assert any(
        m.startswith(
            "findings/finding.md: episode.number: input should be greater than or equal to 1"
        )
        for m in messages
    )
    assert any(
        "episode.chapters[1].start: 'soon' is not a time; write HH:MM:SS or MM:SS" in m
        for m in messages
    )


def test_three_mistakes_give_three_messages_at_once(tmp_path: Path) -> None:
    text = (
        VALID.replace("id: beta-cotton-traceability", "id: Beta_Cotton")
        .replace("topics: [apparel-textiles, responsible-sourcing]", "topics: [textiles]")
        .replace("  alt: A blue square with a yellow sun", "  alt: ''")
    )
    messages = problems_for(tmp_path, text)
    assert [m.split(": ")[1] for m in messages] == ["id", "topics[0]", "image.alt"]


def test_missing_front_matter_says_how_to_start_the_file(tmp_path: Path) -> None:
    assert problems_for(tmp_path, "Just a body\n") == [
        "findings/finding.md: front matter: not found; start the file with a '---' line, then "
        "the YAML fields, then another '---' line, then the Markdown body"
    ]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = VALID.replace("summary: Cotton", "summary: Cotton: [unclosed")
    (message,) = problems_for(tmp_path, text)
    assert message.startswith("findings/finding.md: line 4: YAML syntax error")


def test_problems_of_all_files_are_collected_and_duplicates_refused(tmp_path: Path) -> None:
    write(tmp_path, VALID, "one.md")
    write(tmp_path, VALID, "two.md")
    write(tmp_path, VALID.replace("id: beta-cotton-traceability", "id: BAD"), "three.md")
    with pytest.raises(FindingsInvalid) as caught:
        read_findings(tmp_path, MEDIA, relative_to=tmp_path)
    messages = [str(problem) for problem in caught.value.problems]
    assert messages[0].startswith("three.md: id: 'BAD' is not a slug")
    assert (
        messages[1]
        == "two.md: id: 'beta-cotton-traceability' is already the id of one.md; give each finding its own id"
    )
    assert str(caught.value).startswith("2 problems in 2 finding files:")


def test_embargo_holds_until_both_times_have_passed(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    text = VALID.replace(
        "published: 2026-02-10T10:00:00+02:00",
        "published: 2026-02-10T10:00:00+02:00\nembargo: 2026-02-12T08:00:00+00:00",
    )
    finding = read_finding(write(tmp_path, text), MEDIA)
    assert not finding.is_public(datetime(2026, 2, 12, 7, 59, tzinfo=UTC))
    assert finding.is_public(datetime(2026, 2, 12, 8, 0, tzinfo=UTC))


def _with_episode(chapters: str, audio: str = "audio/none.wav") -> str:
    return VALID.replace(
        "image:", f"episode:\n  audio: {audio}\n  number: 1\n  chapters:\n{chapters}image:"
    )


def test_bad_chapter_starts_are_each_a_field_error(tmp_path: Path) -> None:
    """.nan used to pass and crash the build; empty, list and mapping starts crashed check."""
    chapters = (
        "    - {start: '00:00', title: Intro}\n"
        "    - {start: .nan, title: Nan}\n"
        "    - {start: .inf, title: Inf}\n"
        "    - {start: , title: Empty}\n"
        "    - {start: [1, 2], title: List}\n"
        "    - {start: {a: 1}, title: Mapping}\n"
        "    - {start: -3, title: Negative}\n"
    )
    messages = problems_for(tmp_path, _with_episode(chapters))
    chapter_messages = [m for m in messages if "episode.chapters[" in m]
    assert chapter_messages == [
        "findings/finding.md: episode.chapters[1].start: 'nan' is not a time; write HH:MM:SS "
        "or MM:SS, e.g. '02:30'",
        "findings/finding.md: episode.chapters[2].start: 'inf' is not a time; write HH:MM:SS "
        "or MM:SS, e.g. '02:30'",
        "findings/finding.md: episode.chapters[3].start: is empty; write a time such as "
        "'02:30' (MM:SS or HH:MM:SS)",
        "findings/finding.md: episode.chapters[4].start: '[1, 2]' is not a time; write "
        "HH:MM:SS or MM:SS, e.g. '02:30'",
        "findings/finding.md: episode.chapters[5].start: '{'a': 1}' is not a time; write "
        "HH:MM:SS or MM:SS, e.g. '02:30'",
        "findings/finding.md: episode.chapters[6].start: '-3' is not a time; write HH:MM:SS "
        "or MM:SS, e.g. '02:30'",
    ]


def test_first_chapter_message_shows_the_time_not_a_format_code(tmp_path: Path) -> None:
    messages = problems_for(tmp_path, _with_episode("    - {start: '00:02.5', title: Intro}\n"))
    assert (
        "findings/finding.md: episode.chapters: the first chapter starts at 2.5 s; start it at "
        "'00:00'"
    ) in messages
    assert not any("{" in m for m in messages), messages


def test_transcript_path_example_is_a_transcript(tmp_path: Path) -> None:
    text = _with_episode("", audio="/abs/episode.wav").replace(
        "  chapters:\n", "  transcript: /abs/episode.mp3\n"
    )
    messages = problems_for(tmp_path, text)
    assert (
        "findings/finding.md: episode.transcript: '/abs/episode.mp3' is not a path inside "
        "media/; write a relative path such as 'transcripts/episode-1.vtt'"
    ) in messages
    assert (
        "findings/finding.md: episode.audio: '/abs/episode.wav' is not a path inside media/; "
        "write a relative path such as 'audio/episode-1.wav'"
    ) in messages


def test_oversized_finding_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "word " * 250_000)
    with pytest.raises(FindingsInvalid) as caught:
        read_finding(path, MEDIA, shown_as="findings/finding.md")
    (message,) = [str(p) for p in caught.value.problems]
    assert message.startswith("findings/finding.md: file: is 1,250,") and message.endswith(
        "bytes; a finding may be at most 1,000,000 bytes: shorten the body, split the finding "
        "in two, or move data into a linked report"
    ), message


def test_overlong_body_and_fields_have_clear_limits(tmp_path: Path) -> None:
    text = (
        VALID.replace("author: Fixture author", "author: " + "A" * 501)
        .replace("regions: [India, Pakistan]", "regions: [" + ", ".join(["R"] * 51) + "]")
        .replace("Ginners are the hinge", "x" * 200_001 + "\n\nGinners are the hinge")
    )
    body_chars = len(text.split("---\n", 2)[2])
    messages = problems_for(tmp_path, text)
    assert messages == [
        "findings/finding.md: regions: is too long (51 items); shorten it to at most 50 items",
        "findings/finding.md: author: is too long (501 characters); shorten it to at most 500 "
        "characters",
        f"findings/finding.md: body: is too long ({body_chars:,} characters); "
        "shorten it to at most 200,000 (or split the finding in two)",
    ]
