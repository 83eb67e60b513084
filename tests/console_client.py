"""The provider console under test: the real app on a real database, driven like a browser."""

from __future__ import annotations

import re
from typing import Any

import httpx
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paincoach.console.accounts import Accounts
from paincoach.console.app import create_app
from paincoach.settings import Settings

PASSWORD = "correct horse battery staple"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test console: its own database and secret, nothing read from var/."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "console_secret_key": "test-console-secret-0123456789abcdef",
        **overrides,
    }
    return Settings(**values)


# argon2id at a test's cost: the production cost (~0.5 s a hash on a busy CI machine) times
# hundreds of logins would make the suite crawl; what is tested is behaviour, not cost.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def console_app(database_url: str, **overrides: Any) -> FastAPI:
    app = create_app(console_settings(database_url, **overrides))
    accounts(app).hasher = FAST_HASHER
    return app


def accounts(app: FastAPI) -> Accounts:
    found: Accounts = app.state.console.accounts
    return found


def add_user(app: FastAPI, email: str, role: str = "provider") -> int:
    return accounts(app).add_user(email, role, PASSWORD).id


def csrf_from(html: str) -> str:
    """The page's CSRF token, checking that every form that posts carries it (a browser
    sends each form's own field, not the first one on the page)."""
    tokens = CSRF_INPUT.findall(html)
    assert tokens, "the page has no form with a CSRF token"
    posting = len(re.findall(r"<form[^>]*method=\"post\"", html, re.IGNORECASE))
    assert len(tokens) >= posting, f"{posting} forms post but {len(tokens)} carry a token"
    assert len(set(tokens)) == 1, "the forms of one page carry different tokens"
    return str(tokens[0])


class Browser:
    """One person's browser: cookies kept, forms sent with the page's CSRF token."""

    def __init__(self, app: FastAPI, base_url: str = "http://testserver") -> None:
        self.client = TestClient(app, base_url=base_url, follow_redirects=False)
        self.token: str | None = None

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.get(path, **kwargs)
        if "csrf_token" in response.text:
            self.token = csrf_from(response.text)
        return response

    def csrf(self) -> str:
        if self.token is None:
            self.get("/login")
        assert self.token is not None
        return self.token

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = "page",
        **kwargs: Any,
    ) -> httpx.Response:  # fmt: skip
        """A form post with the page's token (csrf="page"), another token, or none (None)."""
        form = dict(data or {})
        if csrf == "page":
            form["csrf_token"] = self.csrf()
        elif csrf is not None:
            form["csrf_token"] = csrf
        response = self.client.post(path, data=form, **kwargs)
        if "csrf_token" in response.text:
            self.token = csrf_from(response.text)
        return response

    def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        self.get("/login")
        return self.post("/login", {"email": email, "password": password})

    def logout(self) -> httpx.Response:
        return self.post("/logout")


def logged_in(app: FastAPI, email: str, base_url: str = "http://testserver") -> Browser:
    browser = Browser(app, base_url)
    response = browser.login(email)
    assert response.status_code == 303, response.text
    return browser
