"""The provider's own account: linking their Telegram chat to receive crisis alerts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from paincoach.console.dependencies import ConsoleState, Provider, provider, render
from paincoach.db.models import utcnow

router = APIRouter(prefix="/account", tags=["account"], dependencies=[Depends(provider)])


@router.get("", response_class=HTMLResponse)
def account_page(request: Request, user: Provider) -> HTMLResponse:
    """Whether the provider's Telegram is linked, and a pending link code if there is one."""
    pending = (
        user.telegram_link_code
        if user.telegram_link_expires_at and user.telegram_link_expires_at > utcnow()
        else None
    )
    return render(
        request,
        "account/page.html",
        {"linked": user.telegram_chat_id is not None, "code": pending,
         "expires_at": user.telegram_link_expires_at if pending else None},
    )  # fmt: skip


@router.post("/telegram-link", response_class=HTMLResponse)
def new_link_code(user: Provider, state: ConsoleState) -> RedirectResponse:
    """A fresh one-time code to send to the bot as /link CODE."""
    state.accounts.new_link_code(user.id)
    return RedirectResponse("/account", status_code=303)


@router.post("/telegram-unlink")
def unlink(user: Provider, state: ConsoleState) -> RedirectResponse:
    """Stop sending alerts to the linked Telegram chat."""
    state.accounts.unlink_telegram(user.id)
    return RedirectResponse("/account", status_code=303)
