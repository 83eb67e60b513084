"""The action server (`python -m actions`): rasa-sdk's own, with PainCoach's logs and, when
SERVICE_SECRET is set, a shared-secret check (see actions/server.py)."""

from actions.server import main

if __name__ == "__main__":
    main()
