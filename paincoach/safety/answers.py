"""Reading the answer to a safety question: yes, no, not sure, or unclear.

Used for the check question ("Is that something you're thinking about?", "Is this new or
suddenly worse?") and for "Are you safe right now?". Only a plain no counts as no: "no but
sometimes", "not sure", "maybe" and anything the reader cannot place are not a no, so the
patient gets the full response rather than too little.
"""

from __future__ import annotations

import re
from typing import Literal

from paincoach.safety.language import normalise

Answer = Literal["yes", "no", "unsure", "unclear"]

_UNSURE = re.compile(
    r"\b(?:not sure|unsure|do not know|i do not know|dunno|maybe|perhaps|possibly|kind of|"
    r"sort of|kinda|sorta|sometimes|a bit|a little|at times|on and off|now and then|hard to say|"
    r"i guess|not certain|could be|might be|partly|half)\b"
)
# A no that takes something back ("no but...", "no, well...") is not a plain no.
_HEDGE = re.compile(r"\b(?:but|although|though|except|well|sometimes|yet|used to)\b")
_NO = re.compile(
    r"^(?:no+|nope|nah|na|not really|not at all|no way|never|definitely not|certainly not|"
    r"absolutely not|of course not|not now|no i am not|i am not|no it is not|it is not|"
    r"no i do not|i do not|not thinking that|not that|no thank you|no thanks|neither|"
    r"it is the same|same as usual|same as always|not new|nothing new)\b"
)
_YES = re.compile(
    r"^(?:y|ya|ye|yes+|yeah|yea|yep|yup|aye|sure|i am|i do|it is|definitely|absolutely|"
    r"correct|right|true|honestly yes|i think so|it is new|new|worse|suddenly worse)\b"
)


def read_answer(text: str, intent: str | None = None) -> Answer:
    """What a patient's reply to a yes/no safety question means."""
    words = normalise(text).strip(" .!?,")
    if not words:
        return "unclear"
    if _UNSURE.search(words):
        return "unsure"
    if _NO.match(words):
        return "unclear" if _HEDGE.search(words) else "no"
    if _YES.match(words):
        return "yes"
    # A button's payload ("/affirm", "/deny") says it by its intent.
    if text.strip().startswith("/") and intent in ("affirm", "deny"):
        return "yes" if intent == "affirm" else "no"
    return "unclear"
