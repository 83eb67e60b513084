"""The research and administration pages in real headless Chromium, against `paincoach console`
started as its own process on a migrated SQLite database and a tracker store holding a small
study's events as Rasa 3.6 writes them (no Rasa needed: researchers only read).

A researcher logs in, filters transcripts, searches a phrase, opens a transcript, selects words
(an emoji before them, so the page's offsets must be code points), codes them with a new code
and a memo, and downloads the REFI-QDA project and the coded segments; an admin creates a
researcher account, disables it and reads the audit log, which shows the researcher's views.
Screenshots go to results/screenshots/.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from paincoach.research import qdpx
from paincoach.research.synthetic import Conversation, write
from paincoach.settings import PROJECT_ROOT, Settings
from tests.conftest import free_port
from tests.research_world import FREE, NEVER_SHOWN, START, build
from tests.test_browser import SCREENSHOTS, chromium

pytestmark = [pytest.mark.browser]
playwright_api = pytest.importorskip("playwright.async_api")
PASSWORD = "a long research password"
RESEARCHER = "researcher@uni.example"
ADMIN = "admin@clinic.example"
NEWCOMER = "new.researcher@uni.example"
EMOJI_WORDS = "Pain 😖😖 again, knees and hips tonight"


@dataclass
class Console:
    url: str
    settings: Settings
    environment: dict[str, str]


def _cli(environment: dict[str, str], *arguments: str, stdin: str = "") -> None:
    done = subprocess.run(
        [sys.executable, "-m", "paincoach.cli", *arguments],
        input=stdin,
        env=environment,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    folder = tmp_path_factory.mktemp("research-console")
    port = free_port()
    settings = Settings(
        database_url=f"sqlite:///{folder / 'paincoach.db'}",
        tracker_store_url=f"sqlite:///{folder / 'tracker.db'}",
        console_port=port,
        console_secret_key="browser-test-secret-0123456789abcdef",
    )
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "TRACKER_STORE_URL": settings.tracker_store_url,
        "CONSOLE_HOST": "127.0.0.1",
        "CONSOLE_PORT": str(port),
        "CONSOLE_SECRET_KEY": settings.console_secret_key,
    }
    _cli(environment, "db", "upgrade")
    build(settings)
    later = Conversation(FREE.pseudonym, START + timedelta(days=6))
    later.user(EMOJI_WORDS, "flare_up", 0.66).bot("That sounds like a hard evening.").listen()
    write(settings.tracker_store_url, later)
    _cli(environment, "users", "add", RESEARCHER, "--role", "researcher", stdin=PASSWORD + "\n")
    _cli(environment, "users", "add", ADMIN, "--role", "admin", stdin=PASSWORD + "\n")
    log = (folder / "console.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "paincoach.cli", "console"],
        env=environment,
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (folder / "console.log").read_text()
            assert time.monotonic() < deadline, "the console did not start in 60 s"
            time.sleep(0.3)
        yield Console(url, settings, environment)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with playwright_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        await launched.close()


async def log_in(browser, console: Console, email: str, lands: str):  # type: ignore[no-untyped-def]
    context = await browser.new_context(base_url=console.url, accept_downloads=True)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(re.compile(lands))
    return page


async def shot(page, name: str, full_page: bool = True) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


async def download(page, click) -> Path:  # type: ignore[no-untyped-def]
    async with page.expect_download() as waiting:
        await click()
    found = await waiting.value
    assert await found.failure() is None
    return Path(await found.path())


SELECT_WORDS = """([eventId, words]) => {
  const message = document.querySelector(`.message-text[data-event-id="${eventId}"]`);
  const node = message.firstChild;
  const start = node.textContent.indexOf(words);
  const range = document.createRange();
  range.setStart(node, start);
  range.setEnd(node, start + words.length);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  message.dispatchEvent(new MouseEvent("mouseup", {bubbles: true}));
}"""


async def test_a_researcher_reads_searches_codes_and_exports(browser, console: Console) -> None:  # type: ignore[no-untyped-def]
    page = await log_in(browser, console, RESEARCHER, r"/research/participants$")
    participants = page.locator("#participants")
    await participants.get_by_role("link", name=FREE.pseudonym).wait_for()
    await shot(page, "research-participants")

    # Filter: arm A, turns the classifier was unsure of.
    await page.get_by_role("link", name="Transcripts", exact=True).click()
    await page.get_by_label("Study arm").select_option("A")
    await page.get_by_label("Confidence below").fill("0.5")
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_url(re.compile(r"below=0\.5"))
    results = page.locator("#results")
    assert await results.locator("tr.hit").count() >= 1
    assert "(0.88)" not in await results.inner_text()
    await shot(page, "research-transcripts-filtered")

    # Search a phrase; the words are highlighted.
    await page.goto("/research/transcripts")
    await page.get_by_label("Search for").fill("knees and hips")
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_url(re.compile(r"q=knees"))
    marks = await results.locator("mark").all_inner_texts()
    assert {"knees", "hips"} <= {m.lower() for m in marks}
    await shot(page, "research-search")

    # Open the transcript at that message, select words after the emoji and code them.
    await results.get_by_role("link", name=FREE.pseudonym).first.click()
    await page.wait_for_url(re.compile(rf"/research/transcripts/{FREE.pseudonym}"))
    message = page.locator(".message-text", has_text="knees and hips")
    event_id = await message.get_attribute("data-event-id")
    await page.evaluate(SELECT_WORDS, [event_id, "knees and hips"])
    form = page.locator("#coding-form")
    assert await page.locator("#selection-text").inner_text() == "\u201cknees and hips\u201d"
    assert await form.locator("#start").input_value() == str(EMOJI_WORDS.index("knees"))
    await form.get_by_label("New code").fill("Joint pain")
    await form.get_by_label("Memo").fill("Flares in the evening, both joints.")
    await message.scroll_into_view_if_needed()
    await shot(page, "research-coding-selection", full_page=False)
    await form.get_by_role("button", name="Apply codes").click()
    await page.wait_for_url(re.compile(r"coded=1"))
    coded = page.locator(f'.message-text[data-event-id="{event_id}"] .coded')
    assert await coded.inner_text() == "knees and hips"
    assert "Flares in the evening" in await page.locator(f"#turn-{event_id}").inner_text()
    await shot(page, "research-transcript-coded", full_page=False)

    # The codebook shows the new code.
    await page.get_by_role("link", name="Codebook", exact=True).click()
    assert "Joint pain" in await page.locator("#codes").inner_text()

    # Downloads: the REFI-QDA project, the coded segments and a data export.
    await page.get_by_role("link", name="Exports", exact=True).click()
    await shot(page, "research-exports")
    project = qdpx.read_qdpx(str(await download(page, page.locator("#qdpx-link").click)))
    [selection] = project.selections
    assert selection.text == "knees and hips" and selection.codes == ["Joint pain"]
    assert selection.coders == [RESEARCHER]
    assert selection.memos == ["Flares in the evening, both joints."]
    segments_file = await download(page, page.locator("#codings-link").click)
    [segment] = list(csv.DictReader(io.StringIO(segments_file.read_text())))
    assert (segment["code"], segment["text"], segment["pseudonym"]) == (
        "Joint pain",
        "knees and hips",
        FREE.pseudonym,
    )
    await page.get_by_label("What").select_option("checkins")
    checkins = await download(page, page.get_by_role("button", name="Download").click)
    text = checkins.read_text()
    assert FREE.pseudonym in text
    for secret in NEVER_SHOWN:
        assert secret not in text

    await page.get_by_role("link", name="Dashboard", exact=True).click()
    assert await page.locator("figure.chart-figure img").count() == 6
    await shot(page, "research-dashboard")
    await page.context.close()


async def test_an_admin_adds_and_disables_a_researcher_and_reads_the_audit_log(  # type: ignore[no-untyped-def]
    browser, console: Console
) -> None:
    # The researcher has looked at a transcript (in this test too, so it stands alone).
    reader = await log_in(browser, console, RESEARCHER, r"/research/participants$")
    await reader.goto(f"/research/transcripts/{FREE.pseudonym}")
    await reader.context.close()

    page = await log_in(browser, console, ADMIN, r"/admin/users$")
    await page.get_by_label("Email").fill(NEWCOMER)
    await page.get_by_label("Role", exact=True).select_option("researcher")
    await page.get_by_label("First password").fill("a brand new passphrase")
    await page.get_by_role("button", name="Add account").click()
    await page.wait_for_url(re.compile(r"done=added"))
    row = page.locator("tr", has_text=NEWCOMER)
    await row.get_by_role("button", name="Disable").click()
    await page.wait_for_url(re.compile(r"done=disabled"))
    assert "disabled" in await page.locator("tr", has_text=NEWCOMER).inner_text()
    await shot(page, "admin-users")

    await page.get_by_role("link", name="Audit log", exact=True).click()
    await page.get_by_label("Who (part of the email)").fill(RESEARCHER)
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url(re.compile(r"actor="))
    log = await page.locator("table").inner_text()
    assert "Opened a transcript" in log and FREE.pseudonym in log
    assert "Logged in" in log
    await shot(page, "admin-audit")
    await page.get_by_label("Who (part of the email)").fill("")
    await page.get_by_label("What").select_option("account_disable")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url(re.compile(r"action=account_disable"))
    assert NEWCOMER in await page.locator("table").inner_text()
    exported = await download(page, page.get_by_role("link", name="Download CSV").click)
    assert "account_disable" in exported.read_text()
    await page.context.close()
