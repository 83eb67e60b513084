"""PainCoach's custom actions for the Rasa action server, one module per feature."""

from actions import (  # noqa: F401  (importing registers the actions with rasa-sdk)
    care_team,
    checkin,
    conversation,
    coping,
    data_rights,
    education,
    flare_up,
    goals,
    onboarding,
    preferences,
    progress,
    prompts,
    safety,
)
