"""The weekly activity goal: set it, see it, and say how it went."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.checkin import validate_rating
from actions.common import (
    CoachFormValidation,
    EnrolledAction,
    EnrolledFormValidation,
    Events,
    probably_enrolled,
    reset,
    store,
)
from paincoach.db.store import StoreError


def times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


class ValidateGoalForm(EnrolledFormValidation):
    """A small, concrete activity and how often."""

    def name(self) -> str:
        return "validate_goal_form"

    def validate_goal_activity(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        activity = " ".join(str(value or "").split())
        if len(activity) < 2:
            dispatcher.utter_message(text="What would you like to do? A few words is plenty.")
            return {"goal_activity": None}
        if len(activity) > 200:
            dispatcher.utter_message(text="Could you say it more briefly, in a sentence?")
            return {"goal_activity": None}
        return {"goal_activity": activity}

    def validate_goal_frequency(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"goal_frequency": validate_rating(value, dispatcher, low=1, high=14)}


class ActionSubmitGoal(EnrolledAction):
    """Store the goal (retiring the previous one) and confirm it."""

    def name(self) -> str:
        return "action_submit_goal"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        goal = store().set_goal(
            tracker.sender_id,
            str(tracker.get_slot("goal_activity")),
            int(tracker.get_slot("goal_frequency")),
        )
        dispatcher.utter_message(
            text=f"Your goal for this week: {goal.activity}, {times(goal.times_per_week)}. "
            "Start small and pace it — I'll ask you how it went."
        )
        return reset("goal_activity", "goal_frequency")


class ActionShowGoal(EnrolledAction):
    """Show the current weekly goal and the latest review of it."""

    def name(self) -> str:
        return "action_show_goal"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        goal = store().active_goal(tracker.sender_id)
        if goal is None:
            dispatcher.utter_message(
                text="You haven't set a weekly goal yet. Would you like to?",
                buttons=[{"title": "Set a goal", "payload": "/set_goal"}],
            )
            return []
        dispatcher.utter_message(
            text=f"Your weekly goal: {goal.activity}, {times(goal.times_per_week)} a week.",
            buttons=[{"title": "Tell you how it went", "payload": "/review_goal"}],
        )
        return []


class ValidateGoalReviewForm(CoachFormValidation):
    """How many times the patient managed their goal."""

    def name(self) -> str:
        return "validate_goal_review_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if not probably_enrolled(tracker):
            return []
        try:
            has_goal = store().active_goal(tracker.sender_id) is not None
        except StoreError:
            has_goal = True
        return domain_slots if has_goal else []

    def validate_goal_times_done(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"goal_times_done": validate_rating(value, dispatcher, low=0, high=30)}


class ActionSubmitGoalReview(EnrolledAction):
    """Record how the week went and respond to it with encouragement."""

    def name(self) -> str:
        return "action_submit_goal_review"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        done = tracker.get_slot("goal_times_done")
        goal = store().active_goal(tracker.sender_id)
        if goal is None or done is None:
            dispatcher.utter_message(
                text='You don\'t have a weekly goal yet. Say "set a goal" to make one.'
            )
            return reset("goal_times_done")
        store().review_goal(tracker.sender_id, int(done))
        if done >= goal.times_per_week:
            text = f"You did it {times(int(done))} — goal reached! That's really worth celebrating."
        elif done > 0:
            text = (
                f"You managed {times(int(done))} out of {goal.times_per_week}. Every time "
                "counts. Would a smaller goal make next week easier?"
            )
        else:
            text = (
                "It didn't happen this week, and that's okay — weeks with pain are "
                "unpredictable. We could make the goal smaller so it fits your life better."
            )
        dispatcher.utter_message(text=text)
        return reset("goal_times_done")
