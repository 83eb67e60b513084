"""The provider console in real headless Chromium, against the whole stack `make up` runs,
with the Bot API stand-in as Telegram: the journey from a provider's login to a patient's
answers, a care-team conversation, and a crisis alert that reaches the provider's phone.

Screenshots of the main pages are saved under results/screenshots/ for a reviewer.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from paincoach.modules.catalogue import load
from paincoach.modules.runner import CARRY_ON, NEXT, SKIP_EXERCISE
from paincoach.settings import PROJECT_ROOT
from paincoach.stack import Stack
from tests.conftest import ON_CI
from tests.standin_chat import StandInChat, buttons, text

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
playwright_api = pytest.importorskip("playwright.async_api")
SCREENSHOTS = PROJECT_ROOT / "results" / "screenshots"
PASSWORD = "a long clinic password"
PATIENT_CHAT, PROVIDER_CHAT = 71001, 71002


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Chromium is not installed (`make test` installs Debian's chromium package)"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def add_user(stack: Stack, email: str, role: str = "provider") -> None:
    """Through the CLI, as a study team would: the password on standard input."""
    done = subprocess.run(
        [sys.executable, "-m", "paincoach.cli", "users", "add", email, "--role", role],
        input=PASSWORD + "\n",
        env=stack.environment(),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with playwright_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        await launched.close()


async def log_in(browser, stack: Stack, email: str):  # type: ignore[no-untyped-def]
    context = await browser.new_context(base_url=stack.console_url)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(re.compile(r"/patients$"))
    return page


async def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def answer_module(patient: StandInChat, module_id: str) -> None:
    """Go through every step the way a patient would: buttons where there are buttons."""
    module = load().modules[module_id]
    await patient.wait_for(module.steps[0].text[:40])  # type: ignore[union-attr]
    typed = {"question": "Maybe my nervous system got stuck on high alert."}
    for index, step in enumerate(module.steps):
        last = index == len(module.steps) - 1
        until = "end of" if last else None
        if step.kind == "question":
            await patient.says(typed["question"], until=until or _next_text(module, index))
            continue
        title = {"message": NEXT, "checkpoint": CARRY_ON, "exercise": SKIP_EXERCISE,
                 "scale": "7"}.get(step.kind)  # fmt: skip
        if title is None:  # a choice: the first option
            title = step.options[0]  # type: ignore[union-attr]
        await patient.presses(title, until=until or _next_text(module, index))


def _next_text(module, index: int) -> str:  # type: ignore[no-untyped-def]
    following = module.steps[index + 1]
    return (following.text or "Let's try")[:40]


async def test_the_provider_journey(browser, full_stack: Stack) -> None:  # type: ignore[no-untyped-def]
    add_user(full_stack, "physio@clinic.example")
    add_user(full_stack, "other@clinic.example")
    page = await log_in(browser, full_stack, "physio@clinic.example")
    await shot(page, "01-patients-empty")

    # 2. An enrolment code, shown with its invite link and QR code.
    await page.goto("/enrolment")
    await page.get_by_label("Study arm").fill("coach")
    await page.get_by_role("button", name="Create code").click()
    created = page.get_by_role("status")
    code = (await created.locator(".code").inner_text()).strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,32}", code)
    assert await page.locator("svg").count() >= 1  # the QR code
    await shot(page, "02-enrolment")

    # 3. The patient enrols through Telegram with /start CODE.
    patient = StandInChat(full_stack.standin_url, PATIENT_CHAT, "Robin")
    provider_phone = StandInChat(full_stack.standin_url, PROVIDER_CHAT, "Physio")
    try:
        await patient.command("start", args=code, until="Do you agree")
        await patient.presses("Yes, I agree", until="optional")
        await patient.presses("No", until="call you")
        await patient.says("Robin", until="time of day")
        await patient.says("8pm", until="time zone")
        await patient.says("Oslo", until="what we can do")

        await page.goto("/patients")
        link = page.locator("a[href^='/patients/p-']").first
        pseudonym = (await link.get_attribute("href") or "").rsplit("/", 1)[1]
        assert "Robin" in await page.content()
        await shot(page, "03-patients")

        # 4-5. The provider pushes module 1 now; the patient completes it in the chat.
        await page.goto("/push")
        await page.get_by_label("Module or programme").select_option("understanding-pain")
        await page.locator(f"input[name=pseudonyms][value='{pseudonym}']").check()
        await page.get_by_role("button", name="Push").click()
        await page.get_by_role("status").wait_for()
        await shot(page, "04-push")
        await patient.wait_for("shared a module with you")
        await answer_module(patient, "understanding-pain")

        # 6. The answers are on the patient's page.
        await page.goto(f"/patients/{pseudonym}")
        content = await page.content()
        assert "Maybe my nervous system got stuck on high alert." in content
        assert "Understanding chronic pain" in content
        await shot(page, "05-patient")

        # 7-8. The patient writes to the care team; the reply from /inbox reaches the chat.
        await patient.says("I'd like to message my physio", until="pass on")
        await patient.says("Could we talk about pacing at my next visit?", until="passed")
        await page.goto("/inbox")
        assert "Could we talk about pacing at my next visit?" in await page.content()
        await page.locator("textarea[name=body]").first.fill("Yes, let's plan it on Thursday.")
        await page.get_by_role("button", name="Send reply").first.click()
        await page.get_by_role("status").wait_for()
        await shot(page, "06-inbox")
        reply = await patient.wait_for("Yes, let's plan it on Thursday.")
        assert [b["text"] for b in buttons(reply)] == ["Reply"]

        # A crisis: the provider links their phone, the alert reaches it, they acknowledge.
        await page.goto("/account")
        await page.get_by_role("button", name=re.compile("link code")).click()
        link_code = (await page.locator(".link-code").inner_text()).split()[-1]
        await provider_phone.command("link", args=link_code, until="Linked")
        await patient.says("I want to end my life, I can't go on", until="safe")
        alert = await provider_phone.wait_for("Crisis alert")
        assert pseudonym in text(alert) and "end my life" not in text(alert)
        assert f"/patients/{pseudonym}" in text(alert)
        await page.goto("/alerts")
        assert pseudonym in await page.content()
        await shot(page, "07-alerts")
        await page.get_by_role("button", name="Acknowledge").first.click()  # htmx swaps the list
        await playwright_api.expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
        await playwright_api.expect(page.get_by_text("No open alerts.")).to_be_visible()

        # Another provider's patient does not exist for this provider.
        other = await log_in(browser, full_stack, "other@clinic.example")
        response = await other.goto(f"/patients/{pseudonym}")
        assert response is not None and response.status == 404
        unknown = await other.goto("/patients/p-0000000000000000")
        assert unknown is not None and unknown.status == 404
    finally:
        await patient.close()
        await provider_phone.close()


def test_screenshots_folder_is_not_committed() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(SCREENSHOTS / "x.png")], cwd=PROJECT_ROOT
    )
    assert ignored.returncode == 0 or not (PROJECT_ROOT / ".git").exists()
