"""Alerts for the care team: crisis, red flag, pain rising, silence, a stalled module."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paincoach.alerts import MEANINGS, AlertStore
from paincoach.console.dependencies import (
    ConsoleState,
    Provider,
    is_htmx,
    not_found,
    provider,
    render,
)

router = APIRouter(prefix="/alerts", tags=["alerts"], dependencies=[Depends(provider)])


def _page(
    request: Request, state: ConsoleState, user_id: int, *, everything: bool, block: str | None
) -> HTMLResponse:
    alerts = AlertStore(state.settings.database_url).alerts(
        user_id, include_acknowledged=everything
    )
    settings = state.settings
    meanings = {
        kind: meaning.replace("ALERT_SILENT_DAYS", str(settings.alert_silent_days)).replace(
            "MODULE_STALLED_DAYS", str(settings.module_stalled_days)
        )
        for kind, meaning in MEANINGS.items()
    }
    context = {"alerts": alerts, "everything": everything, "meanings": meanings}
    return render(request, "alerts/page.html", context, block=block)


@router.get("", response_class=HTMLResponse)
def alert_page(
    request: Request, user: Provider, state: ConsoleState, all: bool = False
) -> HTMLResponse:
    """Open alerts about this provider's patients, newest first (or every alert)."""
    return _page(request, state, user.id, everything=all, block=None)


@router.post("/{alert_id}/acknowledge")
def acknowledge(
    alert_id: int, request: Request, user: Provider, state: ConsoleState, all: bool = False
) -> Response:
    """Mark an alert as seen and dealt with; another provider's alert is not found."""
    if not AlertStore(state.settings.database_url).acknowledge(alert_id, user.id):
        raise not_found()
    if is_htmx(request):
        return _page(request, state, user.id, everything=all, block="alert_list")
    return RedirectResponse("/alerts?all=1" if all else "/alerts", status_code=303)
