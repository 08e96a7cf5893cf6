"""The training video pipeline (scripts/make_video.py) and the committed video.

The quick mode runs the whole pipeline on the first segment: a real server, Chromium
recording, espeak-ng narration, WebVTT captions and the ffmpeg mux; ffprobe must find a VP9
picture and an Opus sound track, and the captions must parse as WebVTT with cues that say
the narration's words in order. The full narration plan is spoken (no browser) and must last
at least three minutes. The committed docs/media copy must match the current narration.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts import make_video

pytestmark = pytest.mark.xdist_group("video")

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_video.py"
TIMING = re.compile(
    r"^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})"
)


@dataclass(frozen=True)
class ParsedCue:
    start: float
    end: float
    text: str


def seconds_of(hours: str, minutes: str, secs: str, millis: str) -> float:
    return int(hours) * 3600 + int(minutes) * 60 + int(secs) + int(millis) / 1000


def parse_webvtt(text: str) -> list[ParsedCue]:
    """A strict reading of the WebVTT file syntax (W3C WebVTT 4.1): header, then cue blocks."""
    assert text.startswith("WEBVTT"), "a WebVTT file starts with the string WEBVTT"
    blocks = re.split(r"\n{2,}", text.strip("\n"))
    header = blocks[0].splitlines()[0]
    assert header == "WEBVTT" or header.startswith(("WEBVTT ", "WEBVTT\t")), header
    cues = []
    for block in blocks[1:]:
        lines = block.splitlines()
        if not TIMING.match(lines[0]):
            assert "-->" not in lines[0], f"cue identifier contains -->: {lines[0]!r}"
            lines = lines[1:]
        timing = TIMING.match(lines[0])
        assert timing is not None, f"no cue timings in {block!r}"
        body = lines[1:]
        assert body, f"a cue without text: {block!r}"
        assert all("-->" not in line for line in body)
        start = seconds_of(*timing.groups()[:4])
        end = seconds_of(*timing.groups()[4:])
        assert start < end, block
        cues.append(ParsedCue(start, end, " ".join(body)))
    return cues


def ffprobe(path: Path) -> tuple[set[tuple[str, str]], float]:
    """The (type, codec) of each stream and the duration in seconds."""
    result = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-of", "json"),
            *("-show_entries", "stream=codec_type,codec_name:format=duration", str(path)),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    probed = json.loads(result.stdout)
    streams = {(str(s["codec_type"]), str(s["codec_name"])) for s in probed["streams"]}
    return streams, float(probed["format"]["duration"])


def narration_text(segments: tuple[make_video.Segment, ...]) -> str:
    return " ".join(
        s for seg in segments for line in seg.lines for s in make_video.sentences(line.say)
    )


def assert_captions_follow_narration(
    cues: list[ParsedCue], segments: tuple[make_video.Segment, ...]
) -> None:
    assert " ".join(cue.text for cue in cues) == narration_text(segments)
    for before, after in itertools.pairwise(cues):
        assert before.end <= after.start, f"cues overlap: {before} {after}"


def test_webvtt_times_and_escaping(tmp_path: Path) -> None:
    assert make_video.vtt_time(3661.5) == "01:01:01.500"
    assert make_video.vtt_time(0.0004) == "00:00:00.000"
    cues = [make_video.Cue(0.5, 2.25, "Fish & <chips>"), make_video.Cue(2.5, 4.0, "Two\nlines")]
    make_video.write_vtt(cues, tmp_path / "c.vtt")
    text = (tmp_path / "c.vtt").read_text(encoding="utf-8")
    assert "Fish &amp; &lt;chips&gt;" in text
    assert parse_webvtt(text) == [
        ParsedCue(0.5, 2.25, "Fish &amp; &lt;chips&gt;"),
        ParsedCue(2.5, 4.0, "Two lines"),
    ]


def test_long_sentences_become_cues_of_two_short_lines() -> None:
    sentence = (
        "The banner at the top shows whose record this is: the name, date of birth, "
        "NHS number, MRN, and the allergies, in red."
    )
    cues = make_video.caption_cues(10.0, make_video.Spoken(sentence, Path("x.wav"), 8.0))
    assert len(cues) > 1
    assert " ".join(c.text.replace("\n", " ") for c in cues) == sentence
    for cue in cues:
        rows = cue.text.split("\n")
        assert len(rows) <= 2 and all(len(row) <= make_video.CAPTION_WIDTH for row in rows)
    assert cues[0].start == 10.0 and cues[-1].end == pytest.approx(18.0, abs=0.002)


def test_full_narration_lasts_at_least_three_minutes(tmp_path: Path) -> None:
    spoken = make_video.narrate(make_video.SEGMENTS, tmp_path)
    assert make_video.plan_seconds(spoken) >= 180
    titles = [segment.title for segment in make_video.SEGMENTS]
    for journey in (
        "Find a patient",
        "Read the chart",
        "Record vital signs and NEWS2",
        "Write a note",
        "Add an allergy",
        "Break the glass",
        "Help and feedback",
    ):
        assert journey in titles


def test_quick_pipeline_makes_a_webm_with_sound_and_captions(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    video = tmp_path / "wardbook-training.webm"
    streams, duration = ffprobe(video)
    assert ("video", "vp9") in streams and ("audio", "opus") in streams, streams
    cues = parse_webvtt((tmp_path / "wardbook-training.vtt").read_text(encoding="utf-8"))
    assert_captions_follow_narration(cues, make_video.QUICK_SEGMENTS)
    assert cues[-1].end <= duration + 0.5


def test_committed_video_matches_the_narration() -> None:
    video = make_video.OUTPUT_DIR / f"{make_video.NAME}.webm"
    captions = make_video.OUTPUT_DIR / f"{make_video.NAME}.vtt"
    assert video.is_file() and captions.is_file(), "run make video and commit docs/media"
    cues = parse_webvtt(captions.read_text(encoding="utf-8"))
    assert_captions_follow_narration(cues, make_video.SEGMENTS)
    streams, duration = ffprobe(video)
    assert ("video", "vp9") in streams and ("audio", "opus") in streams, streams
    assert duration >= 180
    assert cues[-1].end <= duration + 0.5
