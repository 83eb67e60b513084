"""The action server (`python -m actions`): rasa-sdk's own, with PainCoach's logs, which
carry pseudonyms and event names but never a patient's words."""

from rasa_sdk.__main__ import main

from paincoach.logs import configure_logging

if __name__ == "__main__":
    configure_logging()
    main()
