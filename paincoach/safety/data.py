"""The risk model's training data: `data/safety/` and the NLU examples of `data/nlu/`.

`data/safety/` holds one message per line in files named by their kind (crisis*,
not_crisis*, red_flag*, not_red_flag*; one file per writer) and short conversations in
`context_*.yml`. The NLU examples add the everyday messages of every other intent. The
held-out sets in `tests/safety/heldout/` are never read here.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from paincoach.settings import PROJECT_ROOT

SAFETY_DATA = PROJECT_ROOT / "data" / "safety"
NLU_DATA = PROJECT_ROOT / "data" / "nlu"

# "[lower back](body_part)" in an NLU example is the words "lower back" to a reader.
_ENTITY_MARKUP = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")
NLU_PARTS = 3
# Replies a patient gives in passing: after a worrying message they are not a new alarm.
EVERYDAY_REPLY_INTENTS = (
    "affirm", "deny", "thank", "greet", "goodbye", "inform", "start_checkin", "request_coping",
    "request_relaxation", "ask_progress", "help", "stop", "bot_challenge",
)  # fmt: skip


def phrases(path: Path) -> list[str]:
    """The messages in a phrase file: one a line; '#' lines and blank lines are skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def nlu_examples(folder: Path = NLU_DATA) -> dict[str, list[str]]:
    """Every NLU training example by intent, with entity markup taken out."""
    examples: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.yml")):
        for intent, texts in nlu_examples_of(path).items():
            examples.setdefault(intent, []).extend(texts)
    return examples


def nlu_examples_of(path: Path) -> dict[str, list[str]]:
    """The examples of one Rasa NLU file by intent, with entity markup taken out."""
    examples: dict[str, list[str]] = {}
    for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
        if "intent" not in item:
            continue  # synonyms and lookup tables
        lines = str(item.get("examples") or "").splitlines()
        texts = [_ENTITY_MARKUP.sub(r"\1", line.strip()[2:]) for line in lines if line.strip()]
        examples.setdefault(item["intent"], []).extend(texts)
    return examples


@dataclass(frozen=True)
class Conversation:
    """A few patient messages in order; the label is about the last one, read with the rest."""

    messages: tuple[str, ...]
    crisis: bool

    @property
    def context(self) -> tuple[str, ...]:
        return self.messages[:-1]

    @property
    def last(self) -> str:
        return self.messages[-1]


def conversations(path: Path) -> list[Conversation]:
    """The conversations of a context file (`conversations: [{label, messages}]`)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found = []
    for item in raw.get("conversations") or []:
        messages = tuple(str(message) for message in item.get("messages") or [])
        if len(messages) >= 2 and item.get("label") in ("crisis", "not_crisis"):
            found.append(Conversation(messages, item["label"] == "crisis"))
    return found


@dataclass
class TrainingSet:
    """Messages with two labels (crisis, red flag), and conversations for the context model."""

    texts: list[str] = field(default_factory=list)
    crisis: list[bool] = field(default_factory=list)
    red_flag: list[bool] = field(default_factory=list)
    source: list[str] = field(default_factory=list)  # which kind of file, for stratified folds
    writer: list[str] = field(default_factory=list)  # who wrote it, for cross-writer folds
    conversations: list[Conversation] = field(default_factory=list)

    def add(
        self, texts: list[str], source: str, *, crisis: bool, red_flag: bool, writer: str = ""
    ) -> None:
        self.texts += texts
        self.crisis += [crisis] * len(texts)
        self.red_flag += [red_flag] * len(texts)
        self.source += [source] * len(texts)
        self.writer += [writer or source] * len(texts)

    def subset(self, indices: Sequence[int]) -> TrainingSet:
        """These messages only (no conversations)."""
        return TrainingSet(
            texts=[self.texts[i] for i in indices],
            crisis=[self.crisis[i] for i in indices],
            red_flag=[self.red_flag[i] for i in indices],
            source=[self.source[i] for i in indices],
            writer=[self.writer[i] for i in indices],
        )

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for source in self.source:
            counts[source] = counts.get(source, 0) + 1
        counts["conversations"] = len(self.conversations)
        return counts


def training_set(safety: Path = SAFETY_DATA, nlu: Path = NLU_DATA) -> TrainingSet:
    """Everything the risk model learns from."""
    data = TrainingSet()
    for source, crisis, red_flag in (
        ("crisis", True, False),
        ("not_crisis", False, False),
        ("red_flag", False, True),
        ("not_red_flag", False, False),
    ):
        # crisis.txt, crisis_more.txt, crisis_w3.txt: one file per writer, who is named by
        # what follows the kind ("" for the first writer, "more", "w3")
        for path in sorted(safety.glob(f"{source}*.txt")):
            writer = path.stem.removeprefix(source).lstrip("_") or "w1"
            data.add(phrases(path), source, crisis=crisis, red_flag=red_flag, writer=writer)
    for intent, texts in sorted(nlu_examples(nlu).items()):
        crisis, red_flag = intent == "crisis", intent == "red_flag"
        # The NLU examples are everyday talk, not one writer's style of crisis talk: they
        # join the cross-validation folds in three random parts.
        for part in range(NLU_PARTS):
            writer = f"nlu{part}"
            data.add(texts[part::NLU_PARTS], f"nlu:{intent}", crisis=crisis, red_flag=red_flag,
                     writer=writer)  # fmt: skip
    for path in sorted(safety.glob("context_*.yml")):
        data.conversations += conversations(path)
    data.conversations += everyday_replies_after_worry(data, nlu_examples(nlu))
    return data


def everyday_replies_after_worry(
    data: TrainingSet, examples: dict[str, list[str]], per_conversation: int = 4, seed: int = 7
) -> list[Conversation]:
    """Conversations the context model must not alarm on, made from the training data:
    an everyday reply after a worrying message, and a worrying-sounding last message after
    everyday talk. Without them, "ok thanks" after a crisis would look like a crisis."""
    rng = random.Random(seed)
    replies = [text for intent in EVERYDAY_REPLY_INTENTS for text in examples.get(intent, [])]
    replies += [str(n) for n in range(11)] + ["yes im safe", "im safe", "not right now", "no"]
    everyday = [t for t, c, r in zip(data.texts, data.crisis, data.red_flag, strict=True)
                if not c and not r]  # fmt: skip
    worrying = [t for t, c in zip(data.texts, data.crisis, strict=True) if c]
    made = []
    for conversation in list(data.conversations):
        if not conversation.crisis:
            continue
        for reply in rng.sample(replies, min(per_conversation, len(replies))):
            made.append(Conversation((*conversation.context, reply), crisis=False))
        made.append(Conversation((*rng.sample(everyday, 2), conversation.last), crisis=False))
    for text in rng.sample(worrying, min(len(worrying), 200)):
        made.append(Conversation((text, rng.choice(replies)), crisis=False))
    return made
