"""Escalation end to end in real browsers: the customer asks for a person in the widget, the handoff appears live
in the inbox, the agent claims and replies (the reply appears in the widget with the agent's name), resolves, and
the widget shows it and can start a new conversation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.agent.chat.helpers import MAYA, signed
from tests.agent.fake_openai import answer_json
from tests.browser.conftest import API_KEY, WATCH, Stack
from tests.browser.test_widget import TIMEOUT_MS, _ask, _boot, _frame, _open, _wait_text


def test_escalate_reply_resolve_and_start_anew(browser: Any, stack: Stack, tmp_path: Path) -> None:
    agent_ctx = browser.new_context(viewport={"width": 1400, "height": 800})
    inbox = agent_ctx.new_page()
    customer_ctx = browser.new_context(viewport={"width": 1200, "height": 800})
    customer_ctx.add_init_script(WATCH)
    page = customer_ctx.new_page()
    try:
        # The agent signs in first and watches the inbox (no reload from here on).
        inbox.goto(stack.app + "/inbox")
        inbox.fill("#key", API_KEY)
        inbox.click("#save")
        inbox.fill("#actor", "Sam <b>Agent</b>")
        inbox.locator("#actor").dispatch_event("change")
        inbox.locator("#list").wait_for()

        stack.llm.reply(answer_json("Let me get a colleague.", escalate=True, escalation_reason="customer_request"))
        _boot(page, stack, "/", signed(MAYA))
        _open(page)
        _ask(page, "I want a refund for order #1042 and I want a person")
        _frame(page).locator("#banner").get_by_text("A person from our team will reply").wait_for(timeout=TIMEOUT_MS)

        item = inbox.locator("#list .item", has_text="#1042").first
        item.wait_for(timeout=TIMEOUT_MS)  # appeared live
        inbox.wait_for_function("() => document.title.startsWith('(1)')", timeout=TIMEOUT_MS)
        item.click()
        inbox.locator("#summary pre").wait_for()
        assert inbox.locator("[data-act=reply]").is_enabled()
        inbox.click("[data-act=claim]")
        inbox.locator("#state", has_text="claimed by Sam").wait_for(timeout=TIMEOUT_MS)
        assert inbox.locator("[data-act=claim]").is_disabled()
        inbox.locator("#list .item", has_text="claimed by Sam").wait_for(timeout=TIMEOUT_MS)  # still listed
        page.evaluate("window.ContextDesk.close()")  # the customer closed the chat: the reply shows as unread
        inbox.fill("#text", "Hi Maya, <img src=x onerror=alert(1)> refund approved.")
        inbox.click("[data-act=reply]")
        inbox.locator("#transcript", has_text="refund approved.").wait_for(timeout=TIMEOUT_MS)

        badge = page.locator("[data-contextdesk] .badge")
        badge.wait_for(timeout=TIMEOUT_MS)
        assert badge.inner_text() == "1"
        _open(page)
        badge.wait_for(state="hidden")
        _wait_text(page, "refund approved.")
        frame = _frame(page)
        assert frame.locator("#log").text_content().count("refund approved.") == 1  # caught up once, not twice
        assert "Sam <b>Agent</b>" in frame.locator("#log").inner_text()  # the agent's name, as text
        assert frame.locator("#log img").count() == 0
        frame.locator("#banner").get_by_text("You are chatting with").wait_for(timeout=TIMEOUT_MS)
        page.screenshot(path=str(tmp_path / "widget-with-human.png"))

        inbox.click("[data-act=resolve]")
        inbox.locator("#state", has_text="resolved").wait_for(timeout=TIMEOUT_MS)
        for action in ("claim", "reply", "resolve", "hand-back"):
            assert inbox.locator(f"[data-act={action}]").is_disabled(), action
        inbox.screenshot(path=str(tmp_path / "inbox-resolved.png"))

        frame.locator("#banner").get_by_text("This conversation is resolved.").wait_for(timeout=TIMEOUT_MS)
        frame.locator("#restart").click()
        frame.locator("#restart").wait_for(state="hidden")
        frame.locator("#log").get_by_text("refund approved.").wait_for(state="detached", timeout=TIMEOUT_MS)
        stack.llm.reply(answer_json("Hello again!"))
        _ask(page, "hi")
        _wait_text(page, "Hello again!")
        page.screenshot(path=str(tmp_path / "widget-new-conversation.png"))
    finally:
        agent_ctx.close()
        customer_ctx.close()
