"""Run the stand-in for a local demo: `python -m paincoach.standin --port 8081 --token TOKEN`."""

import argparse
import asyncio
import contextlib
import logging

from paincoach.standin.server import DEFAULT_TOKEN, BotApiStandIn


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Local stand-in for the Telegram Bot API.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the bot token to accept")
    parser.add_argument("--username", default="paincoach_standin_bot", help="the bot's username")
    parser.add_argument(
        "--rate-limit", type=int, default=None, help="messages per second before answering 429"
    )
    parser.add_argument("--per-chat-rate-limit", type=int, default=None)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each call")
    return parser.parse_args()


async def _serve(args: argparse.Namespace) -> None:
    standin = BotApiStandIn(
        args.token,
        bot_username=args.username,
        messages_per_second=args.rate_limit,
        per_chat_per_second=args.per_chat_rate_limit,
        latency=args.latency,
    )
    await standin.start(args.host, args.port)
    print(f"Bot API stand-in: base_url={standin.base_url} base_file_url={standin.base_file_url}")
    print(f"Control API: {standin.url}/control/state  (Ctrl+C to stop)")
    try:
        await asyncio.Event().wait()
    finally:
        await standin.stop()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(_arguments()))


if __name__ == "__main__":
    main()
