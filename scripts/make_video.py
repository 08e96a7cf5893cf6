"""The narrated training video of the user manual (docs/manual/training-video.md): `make video`.

Starts a real Wardbook server (sign-in on, demonstration patients, a nurse assigned to every
ward), drives Debian's Chromium with Playwright through the main journeys while recording the
screen, speaks each narration line with espeak-ng, writes WebVTT captions timed to the
speech, and joins picture and sound with ffmpeg into a VP9/Opus WebM.

The journeys are paced by the narration: every line's browser action starts with the line,
and the next line starts only when this one has been spoken (and its action is done), so
sound, captions and picture stay in step however slow the machine is.

    .venv/bin/python scripts/make_video.py               # docs/media/wardbook-training.webm + .vtt
    .venv/bin/python scripts/make_video.py --quick --output-dir /tmp/v   # first segment only
    .venv/bin/python scripts/make_video.py --plan        # narration length, no browser

Needs espeak-ng and ffmpeg (scripts/ensure_media_tools.sh) and Chromium
(scripts/ensure_browser.sh).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.parse
import urllib.request
import wave
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_DIR = ROOT / "docs" / "media"
NAME = "wardbook-training"
WARDBOOK = str(Path(sys.executable).parent / "wardbook")
VOICE = "en-gb"
WORDS_PER_MINUTE = 150
LINE_PAUSE = 0.35  # seconds of silence after each spoken line
SEGMENT_PAUSE = 0.8  # and after the last line of a segment
CAPTION_WIDTH = 42  # characters per caption line (BBC subtitle guidelines: 37-42)
VIEWPORT = {"width": 1280, "height": 720}
USERNAME = "nurse.jones"
PASSWORD = "ward round at seven"  # a throwaway demo account in a temporary database
DEMO_PATIENTS = 20
DEMO_SEED = 1
# From `wardbook demo --patients 20 --seed 1`: an inpatient on a ward (so in the nurse's care)
# and a patient who is not admitted (outside it, so the glass must be broken).
WARD_PATIENT = "Maureen Lewis"
OTHER_PATIENT = "Susan Akhtar"

Action = Callable[["Tour"], None]


@dataclass(frozen=True, slots=True)
class Line:
    """One thing the narrator says, and what the browser does (in order) as it is said."""

    say: str
    do: tuple[Action, ...] = ()


def line(say: str, *do: Action) -> Line:
    """A narration line with the browser actions that start with it."""
    return Line(say, do)


@dataclass(frozen=True, slots=True)
class Segment:
    """One journey of the video."""

    title: str
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class Cue:
    """One caption: its text and when it is on screen (seconds from the start)."""

    start: float
    end: float
    text: str


@dataclass(slots=True)
class Tour:
    """What the journeys share: the browser tab and the demo account's TOTP secret."""

    page: Page
    totp_secret: str
    used_codes: set[str] = field(default_factory=set)

    def point(self, target: Locator) -> None:
        """Show what is about to be pressed: scroll it into view and give it focus."""
        target.scroll_into_view_if_needed()
        target.focus()
        self.page.wait_for_timeout(700)

    def press(self, target: Locator) -> None:
        """Point at a link or button, then select it."""
        self.point(target)
        target.click()
        self.page.wait_for_load_state()

    def type(self, target: Locator, text: str) -> None:
        """Type into a field at a speed a viewer can follow."""
        self.point(target)
        target.fill("")
        target.press_sequentially(text, delay=70)

    def scroll_to(self, target: Locator) -> None:
        """Scroll so that ``target`` is near the top of the window, smoothly."""
        target.evaluate(
            "el => window.scrollTo({top: el.getBoundingClientRect().top + window.scrollY - 90,"
            " behavior: 'smooth'})"
        )
        self.page.wait_for_timeout(900)

    def code(self) -> str:
        """A TOTP code the server has not seen yet (it refuses a code used twice)."""
        import pyotp

        totp = pyotp.TOTP(self.totp_secret)
        code = totp.now()
        while code in self.used_codes:
            time.sleep(1)
            code = totp.now()
        self.used_codes.add(code)
        return code


# -- the journeys ------------------------------------------------------------------------


def _label(tour: Tour, text: str) -> Locator:
    return tour.page.get_by_label(text, exact=True)


def _button(tour: Tour, name: str) -> Locator:
    return tour.page.get_by_role("button", name=name, exact=True)


def _link(tour: Tour, name: str) -> Locator:
    return tour.page.get_by_role("link", name=name, exact=True).first


def _option(tour: Tour, group: str, option: str) -> Locator:
    return tour.page.get_by_role("group", name=group).get_by_label(option, exact=True)


def _choose(tour: Tour, group: str, option: str) -> None:
    target = _option(tour, group, option)
    tour.point(target)
    target.check()


def _menu(tour: Tour, name: str) -> Locator:
    return tour.page.get_by_role("navigation", name="Menu").get_by_role("link", name=name)


def _open_help(tour: Tour) -> None:
    summary = tour.page.locator("details.wb-help summary")
    tour.scroll_to(summary)
    summary.click()


INTRO = Segment(
    "Welcome",
    (
        line(
            "Welcome to Wardbook, the electronic patient record for the ward.",
            lambda t: t.page.goto("/"),
        ),
        line("This short video shows you the main tasks, one step at a time."),
        line("Every step is also written out in the user manual."),
    ),
)

SIGN_IN = Segment(
    "Signing in",
    (
        line(
            "To start, sign in with the username and password your administrator gave you.",
            lambda t: t.type(_label(t, "Username"), USERNAME),
        ),
        line(
            "Type your password, and select Sign in.",
            lambda t: t.type(_label(t, "Password"), PASSWORD),
        ),
        line(
            "The first time you sign in, you set up an authenticator app on your phone.",
            lambda t: t.press(_button(t, "Sign in")),
        ),
        line(
            "Scan the QR code with the app. "
            "It then shows a six digit code that changes every thirty seconds."
        ),
        line(
            "Type the code it shows now, and select Continue.",
            lambda t: t.type(_label(t, "Authentication code"), t.code()),
        ),
        line(
            "Wardbook then shows ten recovery codes, once only.",
            lambda t: t.press(_button(t, "Continue")),
        ),
        line("Keep them somewhere safe. Each one signs you in once if you lose your phone."),
        line(
            "Next time, you will only need your password and a fresh code from the app.",
            lambda t: t.press(_link(t, "Continue")),
        ),
    ),
)

FIND = Segment(
    "Find a patient",
    (
        line(
            "You are now on Find a patient. "
            "The patients on your wards are listed under the search box."
        ),
        line(
            "To find a patient, type part of their name, their date of birth, or their MRN.",
            lambda t: t.type(t.page.get_by_role("search").get_by_label("Find a patient"), "lewis"),
        ),
        line(
            "Results appear as you type, with the date of birth, sex, MRN and NHS number.",
            lambda t: t.page.locator("#search-results a").first.wait_for(),
        ),
        line(
            "Check these against the patient's wristband, then select the name.",
            lambda t: t.point(
                t.page.locator("#search-results").get_by_role("link", name=re.compile("Maureen"))
            ),
        ),
    ),
)

CHART = Segment(
    "Read the chart",
    (
        line(
            "This is the patient summary.",
            lambda t: t.press(
                t.page.locator("#search-results").get_by_role("link", name=re.compile("Maureen"))
            ),
        ),
        line(
            "The banner at the top shows whose record this is: the name, date of birth, "
            "NHS number, MRN, and the allergies, in red.",
            lambda t: t.point(t.page.locator(".wb-banner__link")),
        ),
        line("Always check the banner before you record anything."),
        line(
            "On the left are the active problems, the allergies, and the current medicines.",
            lambda t: t.scroll_to(t.page.get_by_role("heading", name="Active problems")),
        ),
        line(
            "On the right are the latest vital signs with the NEWS2 score, "
            "and the latest results, flagged High or Low when out of range.",
            lambda t: t.scroll_to(t.page.get_by_role("heading", name="Latest results")),
        ),
        line(
            "At the bottom, the timeline lists encounters and notes, newest first.",
            lambda t: t.scroll_to(t.page.get_by_role("heading", name="Timeline")),
        ),
    ),
)


def _temperature_error(tour: Tour) -> None:
    tour.type(_label(tour, "Temperature"), "101.1")
    tour.press(_button(tour, "Save"))


def _fix_temperature(tour: Tour) -> None:
    link = tour.page.locator(".nhsuk-error-summary").get_by_role("link").first
    tour.point(link)
    link.click()
    field_ = _label(tour, "Temperature")
    field_.fill("")
    field_.press_sequentially("38.4", delay=90)


VITALS = Segment(
    "Record vital signs and NEWS2",
    (
        line(
            "Now let's record a set of observations. Select Record vital signs.",
            lambda t: t.press(_link(t, "Record vital signs")),
        ),
        line("Enter each value in its box. The unit is shown beside it."),
        line(
            "The respiratory rate, in breaths per minute.",
            lambda t: t.type(_label(t, "Respiratory rate"), "22"),
        ),
        line(
            "The oxygen saturation, as a percentage.",
            lambda t: t.type(_label(t, "Oxygen saturation (SpO2)"), "95"),
        ),
        line(
            "Whether the patient is breathing air or oxygen.",
            lambda t: _choose(t, "Supplemental oxygen", "Air"),
        ),
        line(
            "The blood pressure: systolic, then diastolic.",
            lambda t: t.type(_label(t, "Systolic blood pressure"), "118"),
            lambda t: t.type(_label(t, "Diastolic blood pressure"), "74"),
        ),
        line("The heart rate.", lambda t: t.type(_label(t, "Heart rate"), "104")),
        line(
            "And the level of consciousness, on the ACVPU scale.",
            lambda t: _choose(t, "Level of consciousness", "Alert"),
        ),
        line(
            "Suppose you type the temperature in Fahrenheit by mistake, and select Save.",
            _temperature_error,
        ),
        line(
            "Wardbook shows the problem at the top, and next to the field. "
            "Everything else you typed is kept.",
            lambda t: t.page.locator(".nhsuk-error-summary").wait_for(),
        ),
        line(
            "Select the message to go to the field, and enter degrees Celsius.",
            _fix_temperature,
        ),
        line(
            "Select Save. Wardbook saves the set and works out the NEWS2 score: "
            "five, a medium clinical risk.",
            lambda t: t.press(_button(t, "Save")),
        ),
        line(
            "It also says what response this score calls for. Follow your local escalation policy.",
            lambda t: t.point(t.page.locator(".wb-news2__response").first),
        ),
        line(
            "The new set is added to the charts, and to the table of all observations.",
            lambda t: t.scroll_to(t.page.get_by_role("heading", name="Charts")),
        ),
    ),
)

NOTE = Segment(
    "Write a note",
    (
        line(
            "To write a note, go back to the summary, and select Write a note.",
            lambda t: t.press(
                t.page.get_by_role("navigation", name="Patient record").get_by_text("Summary")
            ),
            lambda t: t.press(_link(t, "Write a note")),
        ),
        line(
            "Give it a short title,",
            lambda t: t.type(_label(t, "Title"), "Ward round"),
        ),
        line(
            "then write the note in plain words.",
            lambda t: t.type(
                _label(t, "Note"), "Febrile, NEWS2 5. Sepsis screen sent. Review in one hour."
            ),
        ),
        line(
            "Select Save. The note appears at once in the timeline, with the time and your name.",
            lambda t: t.press(_button(t, "Save")),
            lambda t: t.scroll_to(t.page.get_by_role("heading", name="Timeline")),
        ),
    ),
)

ALLERGY = Segment(
    "Add an allergy",
    (
        line(
            "To record an allergy, select Add an allergy, under Allergies on the summary.",
            lambda t: t.press(_link(t, "Add an allergy")),
        ),
        line(
            "Type the substance, and the reaction.",
            lambda t: t.type(_label(t, "Substance"), "Latex"),
            lambda t: t.type(_label(t, "Reaction"), "Hives"),
        ),
        line(
            "Choose how severe the reaction was, and the risk of a future reaction.",
            lambda t: _choose(t, "Severity of the reaction", "Moderate"),
            lambda t: _choose(t, "Risk of a future reaction", "High risk"),
        ),
        line(
            "Select Save. The allergy is now in red in the banner, on every page of the record.",
            lambda t: t.press(_button(t, "Save")),
            lambda t: t.point(t.page.locator(".wb-banner__allergies")),
        ),
    ),
)

BREAK_GLASS = Segment(
    "Break the glass",
    (
        line(
            "Sometimes you need the record of a patient who is not in your care, "
            "for example in an emergency on another ward.",
            lambda t: t.press(_menu(t, "Find a patient")),
            lambda t: t.type(
                t.page.get_by_role("search").get_by_label("Find a patient"), OTHER_PATIENT
            ),
            lambda t: t.page.locator("#search-results a").first.wait_for(),
        ),
        line(
            "Wardbook asks you why first. This is called breaking the glass.",
            lambda t: t.press(t.page.locator("#search-results a").first),
        ),
        line(
            "Your name, the time and your reason are recorded, "
            "and the privacy team reviews every one."
        ),
        line(
            "Type a reason that a reviewer will understand,",
            lambda t: t.type(_label(t, "Reason"), "Called to a cardiac arrest on Ward 5"),
        ),
        line(
            "and select Break the glass. The record opens, for sixty minutes.",
            lambda t: t.press(_button(t, "Break the glass")),
        ),
    ),
)

HELP = Segment(
    "Help and feedback",
    (
        line(
            "Every page has help at the bottom. Select it to open a short explanation.",
            _open_help,
        ),
        line(
            "The Help centre, in the header, answers common questions.",
            lambda t: t.press(_menu(t, "Help")),
            lambda t: t.press(t.page.locator("details summary").nth(1)),
        ),
        line(
            "To tell us what works, or what does not, select Give feedback. "
            "Do not include patient details.",
            lambda t: t.press(t.page.get_by_role("link", name="Give feedback").first),
            lambda t: _choose(t, "What is your feedback about?", "An idea or suggestion"),
            lambda t: t.type(_label(t, "Your feedback"), "Please add a ward handover list."),
        ),
        line(
            "Select Send feedback. The team reads every comment.",
            lambda t: t.press(_button(t, "Send feedback")),
        ),
    ),
)

CLOSING = Segment(
    "Signing out",
    (
        line(
            "When you leave the computer, select Sign out.",
            lambda t: t.press(_button(t, "Sign out")),
        ),
        line(
            "If you do nothing for fifteen minutes, Wardbook signs you out itself, after a warning."
        ),
        line("The user manual has every step written out. Thank you for watching."),
    ),
)

SEGMENTS: tuple[Segment, ...] = (
    INTRO,
    SIGN_IN,
    FIND,
    CHART,
    VITALS,
    NOTE,
    ALLERGY,
    BREAK_GLASS,
    HELP,
    CLOSING,
)
QUICK_SEGMENTS: tuple[Segment, ...] = (INTRO,)


# -- narration and captions ------------------------------------------------------------


def sentences(text: str) -> list[str]:
    """A line's sentences: each is spoken and captioned on its own."""
    return [part for part in re.split(r"(?<=[.!?])\s+", text.strip()) if part]


def speak(text: str, path: Path) -> float:
    """Speak ``text`` into a WAV file with espeak-ng; its length in seconds."""
    subprocess.run(
        ["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    return wav_seconds(path)


def wav_seconds(path: Path) -> float:
    """The length of a WAV file in seconds."""
    with wave.open(str(path)) as audio:
        return audio.getnframes() / audio.getframerate()


@dataclass(frozen=True, slots=True)
class Spoken:
    """A sentence ready to play: its text, audio file and length."""

    text: str
    wav: Path
    seconds: float


def narrate(segments: Sequence[Segment], folder: Path) -> list[list[list[Spoken]]]:
    """Every sentence of every line spoken to a file: [segment][line][sentence]."""
    folder.mkdir(parents=True, exist_ok=True)
    spoken: list[list[list[Spoken]]] = []
    count = 0
    for segment in segments:
        lines: list[list[Spoken]] = []
        for line in segment.lines:
            parts = []
            for text in sentences(line.say):
                count += 1
                wav = folder / f"{count:03d}.wav"
                parts.append(Spoken(text, wav, speak(text, wav)))
            lines.append(parts)
        spoken.append(lines)
    return spoken


def line_seconds(parts: Sequence[Spoken]) -> float:
    """How long a line takes to say, with the pause after each sentence."""
    return sum(part.seconds + LINE_PAUSE for part in parts)


def plan_seconds(spoken: Sequence[Sequence[Sequence[Spoken]]]) -> float:
    """The narration's length: every line and pause (the video is at least this long)."""
    return sum(sum(line_seconds(line) for line in lines) + SEGMENT_PAUSE for lines in spoken)


def caption_cues(start: float, part: Spoken) -> list[Cue]:
    """A sentence as cues of at most two lines of CAPTION_WIDTH characters each.

    A longer sentence is split at word boundaries into several cues, each shown for a share
    of the sentence's time in proportion to its length.
    """
    chunks = even_chunks(part.text)
    total = sum(len(chunk) for chunk in chunks)
    cues, at = [], start
    for chunk in chunks:
        length = part.seconds * len(chunk) / total
        text = "\n".join(balanced_rows(chunk))
        cues.append(Cue(round(at, 3), round(at + length, 3), text))
        at += length
    return cues


def even_chunks(text: str) -> list[str]:
    """The fewest pieces of about equal length that each fit in two caption lines."""
    words = text.split()
    count = -(-len(text) // (2 * CAPTION_WIDTH))
    while True:
        # Cut at the word boundaries nearest to 1/count, 2/count ... of the text.
        ends = [len(" ".join(words[: i + 1])) for i in range(len(words))]
        cuts = sorted(
            {
                min(range(1, len(words)), key=lambda i: abs(ends[i - 1] - len(text) * k / count))
                for k in range(1, count)
            }
            if len(words) > 1
            else set()
        )
        bounds = [0, *cuts, len(words)]
        chunks = [" ".join(words[a:b]) for a, b in itertools.pairwise(bounds) if a < b]
        if all(len(balanced_rows(chunk)) <= 2 for chunk in chunks) or count >= len(words):
            return chunks
        count += 1


def balanced_rows(text: str) -> list[str]:
    """One caption line, or two of about equal length (each at most CAPTION_WIDTH)."""
    if len(text) <= CAPTION_WIDTH:
        return [text]
    words = text.split()
    splits = [
        (" ".join(words[:i]), " ".join(words[i:]))
        for i in range(1, len(words))
        if len(" ".join(words[:i])) <= CAPTION_WIDTH and len(" ".join(words[i:])) <= CAPTION_WIDTH
    ]
    if not splits:
        return textwrap.wrap(text, CAPTION_WIDTH)
    top, bottom = min(splits, key=lambda pair: abs(len(pair[0]) - len(pair[1])))
    return [top, bottom]


def vtt_time(seconds: float) -> str:
    """WebVTT timestamp hh:mm:ss.ttt."""
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def write_vtt(cues: Sequence[Cue], path: Path) -> None:
    """WebVTT captions (W3C WebVTT: the header, then numbered cues separated by blank lines)."""
    blocks = ["WEBVTT\n"]
    for number, cue in enumerate(cues, 1):
        text = cue.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        blocks.append(f"{number}\n{vtt_time(cue.start)} --> {vtt_time(cue.end)}\n{text}\n")
    path.write_text("\n".join(blocks), encoding="utf-8")


def mix_narration(placed: Sequence[tuple[float, Path]], seconds: float, path: Path) -> None:
    """One mono WAV of ``seconds``: each sentence's audio starting at its time."""
    with wave.open(str(placed[0][1])) as first:
        rate, width = first.getframerate(), first.getsampwidth()
    track = bytearray(int(seconds * rate) * width)
    for start, wav in placed:
        with wave.open(str(wav)) as clip:
            assert clip.getframerate() == rate and clip.getnchannels() == 1
            samples = clip.readframes(clip.getnframes())
        offset = int(start * rate) * width
        end = min(len(track), offset + len(samples))
        track[offset:end] = samples[: end - offset]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(bytes(track))


# -- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def demo_server(folder: Path) -> Iterator[tuple[str, str]]:
    """A signed-in-only Wardbook with demo patients; yields (base URL, the nurse's TOTP secret)."""
    database = f"sqlite:///{folder}/wardbook.db"
    run = {"check": True, "capture_output": True}
    subprocess.run([WARDBOOK, "migrate", "--database", database], **run)
    subprocess.run(
        [
            *(WARDBOOK, "demo", "--patients", str(DEMO_PATIENTS), "--seed", str(DEMO_SEED)),
            *("--database", database),
        ],
        **run,
    )
    added = subprocess.run(
        [
            *(WARDBOOK, "user", "add", USERNAME, "--role", "nurse", "--ward", "all"),
            *("--password-stdin", "--database", database),
        ],
        input=PASSWORD.encode(),
        **run,
    )
    uri = re.search(rb"otpauth://\S+", added.stdout)
    if uri is None:
        raise SystemExit(f"wardbook user add printed no otpauth URI: {added.stdout!r}")
    query = urllib.parse.urlsplit(uri.group().decode()).query
    secret = urllib.parse.parse_qs(query)["secret"][0]
    port = free_port()
    log = (folder / "server.log").open("ab")
    server = subprocess.Popen(
        [WARDBOOK, "serve", "--database", database, "--port", str(port)],
        env={**os.environ, "WARDBOOK_LOG_LEVEL": "warning"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/livez", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the Wardbook server did not start: see " + log.name) from None
                time.sleep(0.2)
        yield base, secret
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


# -- recording -----------------------------------------------------------------------------


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise SystemExit("Chromium is not installed: run scripts/ensure_browser.sh")
    return path


def debian_ffmpeg_for_playwright(folder: Path) -> Path:
    """A Playwright registry folder whose ffmpeg is Debian's; returns the folder.

    Playwright encodes ``record_video_dir`` screencasts by running an ffmpeg it looks up in its
    registry (``PLAYWRIGHT_BROWSERS_PATH/ffmpeg-<revision>/ffmpeg-linux``) and would download.
    Debian's ffmpeg takes the same options (image2pipe MJPEG in, VP8 WebM out), so the
    registry entry is a link to it and nothing is downloaded.
    """
    import playwright

    listing = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    browsers = json.loads(listing.read_text(encoding="utf-8"))["browsers"]
    revision = next(entry["revision"] for entry in browsers if entry["name"] == "ffmpeg")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("ffmpeg is not installed: run scripts/ensure_media_tools.sh")
    link = folder / f"ffmpeg-{revision}" / "ffmpeg-linux"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(ffmpeg)
    return folder


def record(
    segments: Sequence[Segment],
    spoken: Sequence[Sequence[Sequence[Spoken]]],
    base: str,
    secret: str,
    folder: Path,
) -> tuple[Path, list[Cue], list[tuple[float, Path]], float]:
    """Play the journeys in Chromium, paced by the narration; the screen recording and timings."""
    from playwright.sync_api import sync_playwright

    cues: list[Cue] = []
    placed: list[tuple[float, Path]] = []
    # The Playwright driver reads the registry location when it starts.
    os.environ["PLAYWRIGHT_BROWSERS_PATH"] = str(debian_ffmpeg_for_playwright(folder / "registry"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(
            base_url=base,
            viewport=VIEWPORT,
            record_video_dir=str(folder),
            record_video_size=VIEWPORT,
        )
        page = context.new_page()
        page.set_default_timeout(30_000)
        started = time.monotonic()  # the recording starts with the page
        tour = Tour(page, secret)
        for segment, lines in zip(segments, spoken, strict=True):
            print(f"  {segment.title}", flush=True)
            for line, parts in zip(segment.lines, lines, strict=True):
                at = time.monotonic() - started
                for part in parts:
                    placed.append((at, part.wav))
                    cues.extend(caption_cues(at, part))
                    at += part.seconds + LINE_PAUSE
                for action in line.do:
                    action(tour)
                wait = at - (time.monotonic() - started)
                if wait > 0:
                    page.wait_for_timeout(wait * 1000)
            page.wait_for_timeout(SEGMENT_PAUSE * 1000)
        page.wait_for_timeout(1000)
        seconds = time.monotonic() - started
        video = page.video
        context.close()
        assert video is not None
        recorded = Path(video.path())
        browser.close()
    return recorded, cues, placed, seconds


def mux(video: Path, audio: Path, output: Path, *, quick: bool) -> None:
    """VP9 picture and Opus sound in a WebM, small enough to keep in git."""
    speed = (
        ["-deadline", "realtime", "-cpu-used", "8"]
        if quick
        else ["-deadline", "good", "-cpu-used", "4"]
    )
    subprocess.run(
        [
            *("ffmpeg", "-y", "-loglevel", "error", "-i", str(video), "-i", str(audio)),
            *("-map", "0:v:0", "-map", "1:a:0"),
            *("-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "50" if quick else "42"),
            *speed,
            *("-row-mt", "1", "-threads", "2", "-g", "250", "-pix_fmt", "yuv420p"),
            *("-vf", "scale=640:-2" if quick else "scale=1280:-2"),
            *("-c:a", "libopus", "-b:a", "32k", "-ac", "1", "-ar", "48000"),
            str(output),
        ],
        check=True,
    )


def make_video(output_dir: Path, *, quick: bool) -> dict[str, object]:
    """Record, narrate, caption and mux; returns what was made (paths and seconds)."""
    segments = QUICK_SEGMENTS if quick else SEGMENTS
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wardbook-video-") as work:
        folder = Path(work)
        print("Speaking the narration", flush=True)
        spoken = narrate(segments, folder / "speech")
        print(f"Recording the journeys ({plan_seconds(spoken):.0f} s of narration)", flush=True)
        with demo_server(folder) as (base, secret):
            recorded, cues, placed, seconds = record(
                segments, spoken, base, secret, folder / "recording"
            )
        narration = folder / "narration.wav"
        mix_narration(placed, seconds, narration)
        print("Encoding", flush=True)
        video = output_dir / f"{NAME}.webm"
        captions = output_dir / f"{NAME}.vtt"
        mux(recorded, narration, video, quick=quick)
        write_vtt(cues, captions)
    return {
        "video": str(video),
        "captions": str(captions),
        "seconds": round(seconds, 1),
        "bytes": video.stat().st_size,
        "cues": len(cues),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the first segment only (tests)")
    parser.add_argument("--plan", action="store_true", help="print the narration plan and stop")
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR)
    args = parser.parse_args(argv)
    segments = QUICK_SEGMENTS if args.quick else SEGMENTS
    if args.plan:
        with tempfile.TemporaryDirectory(prefix="wardbook-plan-") as work:
            spoken = narrate(segments, Path(work))
            plan = {
                "segments": [
                    {"title": s.title, "seconds": round(sum(map(line_seconds, lines)), 1)}
                    for s, lines in zip(segments, spoken, strict=True)
                ],
                "seconds": round(plan_seconds(spoken), 1),
            }
        print(json.dumps(plan, indent=2))
        return 0
    made = make_video(args.output_dir, quick=args.quick)
    print(json.dumps(made, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
