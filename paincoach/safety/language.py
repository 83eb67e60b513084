"""Reading a patient's message: plain lowercase text, and the sentences of a long one.

Phones and patients write the same words many ways; the rules and the risk model read the
one form `normalise` makes, so neither has to know about curly quotes or "im".
"""

from __future__ import annotations

import re
import unicodedata

# Telegram's own limit for one message, so no real patient message is cut.
MAX_CHARS = 4096

# Curly quotes, primes and backticks that phones put in place of a plain apostrophe.
_PLAIN_QUOTES = str.maketrans(
    {"’": "'", "‘": "'", "ʼ": "'", "´": "'", "`": "'", "′": "'", "“": '"', "”": '"', "„": '"'}
)

# Invisible characters: a zero-width space separates words, the others join or split them.
_ZERO_WIDTH_SPACE = re.compile(r"\u200b")
_INVISIBLE = re.compile(r"[\u00ad\u200c-\u200f\u2060\ufeff]")

# Contractions written with an apostrophe, spelled out so patterns need one form only.
_APOSTROPHE_CONTRACTIONS = (
    (re.compile(r"\bcan'?t\b"), "cannot"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bain't\b"), "am not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'m\b"), " am"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"'ve\b"), " have"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'d\b"), " would"),
    # "the pain's killing me", "my back's agony"; possessives come out odd, no rule reads them.
    (re.compile(r"'s\b"), " is"),
)

# Words patients type without apostrophes, text-speak and frequent misspellings.
_WORD_FIXES = {
    "im": "i am", "ive": "i have", "id": "i would", "dont": "do not", "doesnt": "does not",
    "didnt": "did not", "cant": "cannot", "cnt": "cannot", "wont": "will not",
    "isnt": "is not", "wasnt": "was not", "werent": "were not", "arent": "are not",
    "havent": "have not", "hasnt": "has not", "hadnt": "had not", "couldnt": "could not",
    "wouldnt": "would not", "shouldnt": "should not", "aint": "am not", "dnt": "do not",
    "whats": "what is", "thats": "that is", "theres": "there is", "theyd": "they would",
    "youd": "you would", "wanna": "want to", "wana": "want to", "wnat": "want",
    "wnt": "want", "gonna": "going to", "gona": "going to", "gunna": "going to",
    "gotta": "got to", "tryna": "trying to", "wud": "would", "wld": "would",
    "cud": "could", "shud": "should", "u": "you", "idk": "i do not know",
    "idc": "i do not care", "kms": "kill myself", "myslef": "myself", "mysefl": "myself",
    "myselfe": "myself", "myslf": "myself", "meself": "myself", "lfie": "life",
    "lief": "life", "lyf": "life", "lyfe": "life", "kil": "kill", "diee": "die",
    "dyin": "dying", "dieing": "dying", "tonite": "tonight", "2nite": "tonight",
    "2day": "today", "2moro": "tomorrow", "tmrw": "tomorrow", "noone": "no one",
    "no1": "no one", "every1": "everyone", "some1": "someone", "ppl": "people",
    "od": "overdose", "oding": "overdosing", "oded": "overdosed",
}  # fmt: skip
_WORD_FIX_PATTERN = re.compile(r"\b(" + "|".join(map(re.escape, _WORD_FIXES)) + r")\b")

# Several words that mean one thing to the rules below, written one way.
_PHRASE_FIXES = (
    # "suicide" is misspelled in many ways: sucidal, suicde, suicidle, siucide, su1c1de.
    (re.compile(r"\bs(?:ui|iu|u)[cs]{1,2}[i1y]?d(?:al|ial|el|le|l|ale)(?:ly)?\b"), "suicidal"),
    (re.compile(r"\bs(?:ui|iu|u|u1)[cs]{1,2}[i1y]?de?s?\b"), "suicide"),
    (re.compile(r"\bsewer ?slide\b"), "suicide"),
    (re.compile(r"\b(?:unaliv\w*|self ?delet\w*) (?:my ?self|me)\b"), "kill myself"),
    (re.compile(r"\bself ?delete\b"), "kill myself"),
    (re.compile(r"\bunaliv\w*\b"), "dead"),
    (re.compile(r"\bmy self\b"), "myself"),
    (re.compile(r"\bcan not\b"), "cannot"),
    (re.compile(r"\bany more\b"), "anymore"),
    # "2" for "to" only after words that take "to", so pain scores ("a 2 today") stay.
    (re.compile(r"\b(want|wanted|going|got|have|need|ready|like|plan|planning|try|about)\s*2\b"),
     r"\1 to"),
    (re.compile(r"\bwan2\b"), "want to"),
)  # fmt: skip


def normalise(text: str) -> str:
    """Lowercase plain text with contractions spelled out and common typos corrected."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS])
    text = _ZERO_WIDTH_SPACE.sub(" ", text)
    text = _INVISIBLE.sub("", text).translate(_PLAIN_QUOTES).lower()
    for pattern, replacement in _APOSTROPHE_CONTRACTIONS:
        text = pattern.sub(replacement, text)
    text = text.replace("'", "")
    text = re.sub(r"[^a-z0-9.,;:!?\s]", " ", text)
    text = re.sub(r"([a-z])\1{2,}", r"\1\1", text)  # "sooooo" -> "soo", "dieeee" -> "diee"
    text = _WORD_FIX_PATTERN.sub(lambda match: _WORD_FIXES[match.group(1)], text)
    for pattern, replacement in _PHRASE_FIXES:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


# A sentence ends at . ! ? or a line break; "7.5" and "e.g." are not ends.
_SENTENCE_END = re.compile(r"(?<=[!?])\s+|(?<=[a-z)][.])\s+|\s*\n+\s*")


def sentences(text: str) -> list[str]:
    """The sentences of a message, as written (not normalised), without empty ones."""
    return [part.strip() for part in _SENTENCE_END.split(text[:MAX_CHARS]) if part.strip()]


# Clause-aware scope: a negation, someone else, or a past reaches to the end of its clause.
_CLAUSE_BREAK = re.compile(r"([.,;:!?]|\b(?:but|and|though|although|however|so|because)\b)")
_SCOPE_CUES = {
    "not": re.compile(r"\b(?:not|never|no|nor|without|nothing|nobody)\b"),
    "other": re.compile(
        r"\b(?:he|she|they|his|her|their|him|them|someone|friend|mum|mom|dad|brother|sister|"
        r"son|daughter|uncle|aunt|cousin|husband|wife|partner|colleague|mate|charity|documentary|"
        r"news|film|book|podcast)\b"
    ),
    "past": re.compile(r"\b(?:ago|used|history|past|once|formerly|previously)\b"),
}


def scoped(normalised: str) -> str:
    """The normalised text with each word after a scope cue in its clause also written with
    the cue's mark ("not suicidal" adds "not_suicidal"), so a linear model can tell "i am
    suicidal" from "i am not suicidal" and "my friend is suicidal"."""
    out = []
    for clause in _CLAUSE_BREAK.split(normalised):
        words = clause.split()
        marks: list[str] = []
        for word in words:
            out.append(word)
            out.extend(f"{mark}_{word}" for mark in marks)
            for mark, cue in _SCOPE_CUES.items():
                if mark not in marks and cue.fullmatch(word):
                    marks.append(mark)
        out.append("|")
    return " ".join(out)
