"""Rasa input channels of PainCoach's own. They run inside Rasa (.venv-rasa, Python 3.10)
and are named in credentials.yml; nothing in .venv imports them."""
