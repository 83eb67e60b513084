"""Push pending updates to the bot's webhook, in order, retrying like Telegram does."""

import asyncio
import contextlib

import aiohttp

from paincoach.standin.state import State

_MAX_BACKOFF = 2.0


async def deliver_forever(state: State) -> None:
    """Run until cancelled: POST the oldest pending update whenever a webhook is set."""
    timeout = aiohttp.ClientTimeout(total=10)
    backoff = 0.05
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while not state.notifier.closing:
            webhook = state.webhook
            if webhook is None or not state.pending_updates:
                await state.notifier.wait(5.0)
                continue
            update = state.pending_updates[0]
            headers = {}
            if webhook.secret_token:
                headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret_token
            error: str | None = None
            try:
                async with session.post(webhook.url, json=update, headers=headers) as response:
                    if not 200 <= response.status < 300:
                        error = (
                            f"Wrong response from the webhook: {response.status} {response.reason}"
                        )
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = _describe(exc)
            if error is None:
                # the queue may have been reset or dropped meanwhile: remove only what was sent
                with contextlib.suppress(ValueError):
                    state.pending_updates.remove(update)
                backoff = 0.05
                state.notifier.notify()
                continue
            webhook.last_error_date = state.now()
            webhook.last_error_message = error
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "Read timeout expired"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "Connection refused"
    return f"Failed to connect: {type(exc).__name__}"
