"""Whether a body part the NLU found is really about the body ("my back", "back pain"),
not "get back to the gym", "back home" or "come back"."""

from __future__ import annotations

import re

_BEFORE = (
    r"(?:my|the|his|her|lower|upper|middle|mid|left|right|both|sore|bad|stiff|achy|aching|"
    r"painful|dodgy|bloody|whole|neck and|shoulders and|knees and|hips and|legs and|back and)"
)
_AFTER = (
    r"(?:pain|pains|ache|aches|aching|hurts|hurting|hurt|is|was|has|have|are|were|feels|felt|"
    r"spasm|spasms|spasming|killing|throbbing|sore|stiff|locked|went|gone|gave|keeps|flare)"
)


def body_part_meant(text: str, part: str | None) -> str | None:
    """`part` if the message uses it about the body, otherwise None."""
    if not part or not text:
        return None
    word = re.escape(part.lower().strip())
    lowered = " ".join(text.lower().replace("’", "'").split())
    about_the_body = re.compile(rf"\b{_BEFORE}\s+{word}\b|\b{word}(?:s)?\s+{_AFTER}\b|\b{word}'s\b")
    return part if about_the_body.search(lowered) else None
