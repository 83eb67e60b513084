"""Short, accurate answers to common questions about chronic pain."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import CoachAction, Events, latest_text
from paincoach import content


class ActionPainEducation(CoachAction):
    """Answer the topic asked about, or offer the topics as buttons."""

    def name(self) -> str:
        return "action_pain_education"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        topic = content.find_topic(latest_text(tracker), tracker.get_slot("education_topic"))
        if topic is None:
            dispatcher.utter_message(
                text="Happy to explain. Which of these would you like to know about?",
                buttons=[
                    {
                        "title": t.title,
                        "payload": f'/ask_pain_education{{"education_topic": "{t.id}"}}',
                    }
                    for t in content.topics().values()
                ],
            )
        else:
            dispatcher.utter_message(text=f"{topic.title}\n\n{topic.answer}")
        return [SlotSet("education_topic", None)]
