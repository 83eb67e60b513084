"""The action server: rasa-sdk's own, with PainCoach's logs and a shared-secret check.

rasa-sdk answers any caller, and a forged call with a made-up tracker could run any action
(`action_delete_my_data` included). When SERVICE_SECRET is set, every request but `/health`
must carry it in the X-PainCoach-Secret header (endpoints.yml makes Rasa send it), or it
gets 401 and no action runs.
"""

from __future__ import annotations

import hmac
import logging
import os
from functools import partial
from typing import Any

from rasa_sdk import utils
from rasa_sdk.constants import (
    APPLICATION_ROOT_LOGGER_NAME,
    DEFAULT_ENDPOINTS_PATH,
    DEFAULT_KEEP_ALIVE_TIMEOUT,
)
from rasa_sdk.endpoint import create_app_for_serve, create_argument_parser, create_ssl_config
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.worker.loader import AppLoader

from paincoach.logs import configure_logging
from paincoach.settings import SERVICE_SECRET_HEADER, get_settings

OPEN_PATHS = frozenset({"/health"})  # the stack's readiness check, which carries no data


def require_secret(app: Sanic, secret: str) -> None:
    """Refuse every request but the health check that does not carry `secret`."""
    expected = secret.encode()

    @app.on_request
    async def check_secret(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get(SERVICE_SECRET_HEADER, "").encode()
        if hmac.compare_digest(given, expected):
            return None
        return response.json({"error": "missing or wrong shared secret"}, status=401)


def create_app(
    action_executor: ActionExecutor, secret: str, endpoints: str, **options: Any
) -> Sanic:
    """rasa-sdk's app, behind the secret check when there is a secret (one per worker)."""
    app = create_app_for_serve(action_executor, endpoints=endpoints, **options)
    if secret:
        require_secret(app, secret)
    return app


def serve(
    action_executor: ActionExecutor,
    port: int,
    secret: str,
    cors_origins: str | list[str] | None = "*",
    auto_reload: bool = False,
    endpoints: str = DEFAULT_ENDPOINTS_PATH,
    ssl: dict[str, str | None] | None = None,
) -> None:
    """What rasa_sdk.endpoint.run does (rasa-sdk 3.21), with our app factory; on 127.0.0.1
    unless SANIC_HOST says otherwise (rasa-sdk's own default is every interface)."""
    loader = AppLoader(
        factory=partial(
            create_app,
            action_executor,
            secret,
            endpoints,
            cors_origins=cors_origins,
            auto_reload=auto_reload,
            keep_alive_timeout=DEFAULT_KEEP_ALIVE_TIMEOUT,
        )
    )
    app = loader.load()
    app.prepare(
        host=os.environ.get("SANIC_HOST", "127.0.0.1"),
        port=port,
        ssl=ssl,
        workers=utils.number_of_sanic_workers(),
    )
    Sanic.serve(primary=app, app_loader=loader)


def main() -> None:
    """`python -m actions`: rasa-sdk's arguments and logging, and PainCoach's logs, which
    carry pseudonyms and event names but never a patient's words."""
    args = create_argument_parser().parse_args()
    if args.grpc:
        raise SystemExit("PainCoach's action server speaks HTTP only (no --grpc).")
    configure_logging()
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME),
        args.log_file,
        args.loglevel,
        args.logging_config_file,
    )
    utils.update_sanic_log_level()
    executor = ActionExecutor()
    executor.register_package(args.actions_module or args.actions)
    serve(
        executor,
        args.port,
        get_settings().service_secret,
        cors_origins=args.cors,
        auto_reload=args.auto_reload,
        endpoints=args.endpoints,
        ssl=create_ssl_config(args.ssl_certificate, args.ssl_keyfile, args.ssl_password),
    )
