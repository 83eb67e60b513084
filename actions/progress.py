"""How am I doing? A two-line summary of the last 30 days."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import EnrolledAction, Events, store
from paincoach.progress import summarise

PROGRESS_CHART = {"paincoach": "progress_chart"}


class ActionProgressSummary(EnrolledAction):
    """Summarise the last 30 days of check-ins in plain words."""

    def name(self) -> str:
        return "action_progress_summary"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        checkins = store().recent_checkins(tracker.sender_id, days=30)
        dispatcher.utter_message(text=summarise(checkins, days=30))
        if checkins:
            # The channel draws the chart itself: Rasa has no way to carry image bytes.
            dispatcher.utter_message(json_message=PROGRESS_CHART)
        return []
