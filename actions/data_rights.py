"""The right to be forgotten: erase everything about the participant."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, AllSlotsReset
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import CoachAction, EnrolledAction, Events, store
from paincoach.research.search import ResearchIndex
from paincoach.research.withdrawal import withdraw_from_research
from paincoach.settings import get_settings

# Rasa saves this turn's events after the action returns, so the channel that delivers the
# reply erases the tracker events afterwards, when it sees this marker.
ERASE_CONVERSATION = {"paincoach": "erase_conversation"}


class ActionDeleteMyData(CoachAction):
    """Erase the participant's rows now and ask the channel to erase the conversation."""

    def name(self) -> str:
        return "action_delete_my_data"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        store().erase_participant(tracker.sender_id)
        settings = get_settings()  # the research index keeps copies of turns: they go too
        ResearchIndex(settings.database_url, settings.tracker_store_url).forget(tracker.sender_id)
        dispatcher.utter_message(
            text="Done. I've erased everything I stored about you, and our conversation "
            "history is being deleted too. Take care — if you ever want to come back, "
            "type /start."
        )
        dispatcher.utter_message(json_message=ERASE_CONVERSATION)
        return [AllSlotsReset(), ActiveLoop(None)]


class ActionWithdrawResearch(EnrolledAction):
    """Leave the research: out of every researcher view and export from now on."""

    def name(self) -> str:
        return "action_withdraw_research"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        if withdraw_from_research(tracker.sender_id):
            dispatcher.utter_message(
                text="Done — you've withdrawn from the research. From now on researchers "
                "won't see anything of yours, and nothing of yours goes into their data "
                "exports. Your coaching carries on exactly as before."
            )
        else:
            dispatcher.utter_message(
                text="You're not part of the research, so researchers don't see your data. "
                "Your coaching carries on as before."
            )
        return []
