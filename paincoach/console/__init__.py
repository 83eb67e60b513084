"""The provider console: a web app where clinicians follow their own patients.

FastAPI with server-rendered Jinja2 pages and htmx, every asset served from this package.
`create_app` in `app.py` builds it; `paincoach console` serves it with uvicorn.
"""
