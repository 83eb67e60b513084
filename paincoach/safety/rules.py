"""The safety rules: small, named patterns for crisis talk and medical red flags.

A rule that fires is certain: the full crisis or red-flag response follows. So each rule
is narrow, and a rule fires only if the words it found are not negated inside their own
clause ("i'm not suicidal", "no fever"), not about someone else or in the news ("my uncle
died by suicide", "a run for suicide prevention"), and not a past that is over ("years ago
i self harmed, i'm fine now"). Crisis rules are read after pain idioms ("this pain is
killing me") have been taken out; red-flag rules read the whole message. What the rules
do not catch is left to the risk model (`paincoach.safety.model`), which can ask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from paincoach.safety.language import normalise

Kind = Literal["crisis", "red_flag"]

# How far back, in characters, a negation ("not", "no thoughts of") can reach.
NEGATION_REACH = 80


@dataclass(frozen=True)
class RuleHit:
    """What the rules found: the kind of alarm and the rule that raised it."""

    kind: Kind
    rule: str  # short name of the rule that fired, for logs and tests (never the message text)


def _either(*alternatives: str) -> str:
    """One pattern that matches any of the alternatives."""
    return "|".join(f"(?:{alternative})" for alternative in alternatives)


# --------------------------------------------------------------------------- idioms

# Pain idioms that use the words of dying and killing; cut out before crisis rules read.
# Each is narrow on purpose, so that it cannot swallow a real wish to die ("i want to die
# to be honest", "thinking about dying for a while", "i want to die for real").
_PAIN_IDIOMS = re.compile(
    _either(
        r"\b(?:killing|murdering|slaying|destroying) me\b",
        r"\b(?:nearly|almost|practically|literally|totally|absolutely) (?:killed|murdered) me\b",
        r"\bwill kill me if\b",
        r"\b(?:kill|killing|murder) (?:for|to be|to get|to have)\b",
        r"\bcould (?:kill|murder)\b",
        r"\bkill(?:ed|ing)? myself (?:trying|doing|working|laughing|to keep up|at work|"
        r"at the gym)\b",
        # ...but "thinking about dying to escape this" is not "dying to get out in the garden".
        r"(?<!about )(?<!of )(?<!like )\b(?:dying|die) for (?:a|an|some)\b"
        r"(?!\s+(?:while|long|bit|few|couple)\b)",
        r"(?<!about )(?<!of )(?<!like )\bdying to (?!be honest|tell the truth)\w+",
        r"\b(?:dying|died|die) (?:of|from) (?:thirst|hunger|boredom|embarrassment|shame|"
        r"curiosity|laughter|laughing|fright|the heat|heat)\b",
        r"\b(?:nearly|almost) died laughing\b|\bdie laughing\b",
        r"\b(?:is|was|are|were|looks|looked|tastes|tasted|smells|sounds) to die for\b",
        r"\bdie[sd]? down\b",
        r"\bdead (?:on my feet|tired|beat|chuffed|sore|stiff|good|easy|keen|lucky|bored|heavy)\b",
        r"\bhalf dead\b|\bdeath warmed up\b|\bover my dead body\b",
        r"\b(?:the )?(?:death|end) of me\b",
        r"\b(?:sick|bored|scared|frightened|worried|worked|working) (?:myself |me )?to death\b",
        r"\bkiller (?:headache|migraine|day|of a)\b",
        r"\boverdos\w* on (?:chocolate|cake|sugar|caffeine|coffee|sweets|sun|telly|tv|netflix|"
        r"carbs|biscuits)\b",
        r"\bdie (?:my|her|his|your) hair\b",  # a misspelling of "dye"
        r"\brather die than (?:do|doing|go to|going to|eat|wear|sit through|watch|attend|ask|"
        r"admit|use|queue|miss)\b",
    )
)


def _without_idioms(text: str) -> str:
    """The text with pain idioms replaced by a clause break, so nothing bridges across."""
    return _PAIN_IDIOMS.sub(" , ", text)


# --------------------------------------------------------------------------- negation

# A clause ends at punctuation or a joining word; a negation does not reach past it.
_CLAUSE_BREAK = re.compile(r"[.,;:!?]|\b(?:but|and|though|although|however|so|because)\b")

# Words that may stand between a negation and what it negates ("not really feeling").
_FILLER = (
    r"(?:am|is|are|was|were|be|been|being|do|does|did|have|has|had|having|feel|feeling|felt|"
    r"really|currently|actively|at|all|ever|any|anymore|thoughts?|thinking|thought|plans?|"
    r"planning|intentions?|intend|intending|urges?|of|to|about|going|want|wanting|would|"
    r"will|longer|that|actually|seriously|even|remotely|a|the|my|signs?|sign of|(?:\w+ ){1,2}or|"
    r"(?:that|said|say|saying|meant|mean|like|if|though) i|said|say|saying|meant|mean|like|it|"
    r"wanted|the same as|same as)"
)
_NEGATION_CUE = r"(?:not|never|no|without|nor|accidentally|by accident)"
_NEGATED = re.compile(rf"\b{_NEGATION_CUE}\b(?:\s+{_FILLER})*\s*$")

# A question about dosing ("can i take all my tablets at once?") is not a plan to overdose.
_NEGATED_OR_DOSING_QUESTION = re.compile(
    rf"{_NEGATED.pattern}"
    r"|\b(?:can|could|should|may|do) i(?: just)?\s*$"
    r"|\bis it (?:ok|okay|safe|fine|alright|bad) to\s*$"
    r"|\bam i allowed to\s*$"
    r"|\b(?:worried|afraid|scared|frightened|concerned|careful)\b(?:\s+\w+){0,3}\s*$"
)


# Someone else is the subject, with no "i" or "me" between them and the words found:
# "my uncle died by suicide", "she said she wants to die", "a friend who self harms".
_SOMEONE_ELSE = re.compile(
    r"\b(?:he|she|they|his|her|their|him|them|someone|somebody|people|person|friend|friends|"
    r"mum|mom|mother|dad|father|parents?|brother|sister|son|daughter|kids?|uncle|aunt|auntie|"
    r"cousin|husband|wife|partner|boyfriend|girlfriend|colleague|neighbou?r|nan|gran|grandma|"
    r"grandad|grandpa|grandmother|grandfather|niece|nephew|classmate|character|celebrity|"
    r"singer|actor|actress|author|patients|veterans|teenagers?|teens?|men|women|mate|mates|"
    r"grandson|granddaughter|grandchild|grandkids|child|children|baby|pupils?|students?|"
    r"clients?|vicar|podcast|documentary|film|movie|book|memoir|news|radio|article)\b"
    r"(?:\s+(?!i\b|me\b|my\b|myself\b|mine\b)\w+){0,6}\s*$"
    # ...or reports what they say: "my daughter says i want to die when i make her tidy up"
    r"|\b(?:says|said|say|tells|told|goes|went|screams|shouts|yells|jokes)\s+(?:that\s+)?\w+"
    r"(?:\s+\w+){0,2}\s*$"
)
_FIRST_PERSON = re.compile(r"\b(?:i|me|my|myself)\b")
# The words name a cause, a programme or a story, not the patient's own state.
_NOT_A_STATE_AFTER = re.compile(
    r"\s*(?:prevention|awareness|charity|charities|helpline|hotline|lifeline|line|"
    r"crisis line|support line|rates?|statistics|stats|research|training|campaign|walk|run|"
    r"fundraiser|documentary|film|movie|book|novel|article|podcast|squad|bomber|bombing|"
    r"forest|notes? in the (?:film|book|show)|scene|episode|storyline|survivors?|bereavement|"
    r"loss|first aid|mission|doors?|squad|watch|ending|risk|stories|talks?)\b"
)
# A time that is over ("years ago", "as a teenager") with a clear "and now it is not so".
_PAST_MARKER = re.compile(
    r"\b(?:years ago|months ago|a long time ago|long ago|used to|as a teen\w*|when i was "
    r"(?:younger|little|a kid|a child|a teen\w*|at school|at uni|in my \w+)|in my (?:teens|"
    r"twenties|thirties|youth)|back (?:in|then)|in the past|at my lowest|once upon|"
    r"when i was \d+|at \d+|in (?:19|20)\d\d|as a student|at uni|after my \w+ (?:in|years)|"
    r"had|was|were|did|tried|attempted|took|overdosed|history|past|once|during|it was|"
    r"that was|last (?:year|summer|winter|spring|autumn)|behind me|in recovery|survivor)\b"
)
_RESOLVED = re.compile(
    r"\b(?:better place|in a good place|doing (?:ok|okay|well|better|fine|alright)|"
    r"(?:am|feel|i am) (?:ok|okay|fine|safe|better|alright) now|(?:not|no longer|never) "
    r"(?:like that|that way|there) (?:anymore|now)|not anymore|no longer|(?:years?|months?) "
    r"(?:clean|free|since)|recovered|got through it|came through it|got help|"
    r"(?:am|feel) safe|not in danger|nothing like that now|not felt like that|"
    r"have not(?: \w+){0,3} (?:for \w+ years|since)|therapy helped|(?:am|i am) fine now|"
    r"(?:fine|ok|okay|well|good|happy|stable|better|safe|stronger) (?:now|today|these days)|"
    r"i am (?:well|fine|ok|okay|happy|stable|doing well|really happy)|(?:have|has|they have) "
    r"gone|free today|\w+ free|behind me|just that history|not at risk|glad to be alive|"
    r"love my life|proud|settled|sober|in recovery|not happened since|do not anymore|"
    r"feel so much stronger|is not that)\b"
)


@dataclass(frozen=True)
class _Rule:
    """A named rule: every pattern must be found somewhere, each one about the patient now.

    A pattern counts only where its clause does not negate it, its subject is not someone
    else, it does not name a cause or a story, and it is not a past the patient has left.
    """

    name: str
    kind: Kind
    patterns: tuple[re.Pattern[str], ...]
    cancelled_by: re.Pattern[str] = _NEGATED

    def fires(self, text: str) -> bool:
        return all(self._found(pattern, text) for pattern in self.patterns)

    def _found(self, pattern: re.Pattern[str], text: str) -> bool:
        for match in pattern.finditer(text):
            before = text[max(0, match.start() - NEGATION_REACH) : match.start()]
            clause = _CLAUSE_BREAK.split(before)[-1]
            if self.cancelled_by.search(clause):
                continue
            if self.kind == "crisis" and _about_someone_else_or_over(text, match, clause):
                continue
            return True
        return False


def _about_someone_else_or_over(text: str, match: re.Match[str], clause: str) -> bool:
    about_me = _FIRST_PERSON.search(match.group())
    if not about_me and _SOMEONE_ELSE.search(clause):
        return True
    if _NOT_A_STATE_AFTER.match(text, match.end()):
        return True
    start = max(text.rfind(end, 0, match.start()) for end in ".!?") + 1
    ends = [i for i in (text.find(end, match.end()) for end in ".!?") if i >= 0]
    sentence = text[start : min(ends, default=len(text))]
    return bool(_PAST_MARKER.search(sentence)) and bool(_RESOLVED.search(text))


def _rule(kind: Kind, name: str, *all_of: str, cancelled_by: re.Pattern[str] = _NEGATED) -> _Rule:
    return _Rule(name, kind, tuple(re.compile(pattern) for pattern in all_of), cancelled_by)


# --------------------------------------------------------------------------- vocabulary

_GAP = r"(?:\s+\w+){0,3}?\s+"  # up to three other words in between
_DESIRE = (
    r"\b(?:want|wanted|wanting|wish|wished|wishing|need|ready|tempted|deserve|hope|hoping|"
    r"longing|praying|pray|rather|prefer|would like|would love|urge|urges)"
)
_INTENT = (
    r"\b(?:going|planning|plan|planned|decided|deciding|thinking|thought|thoughts|"
    r"considering|tried|trying|attempt\w*|about to|ready|urges?|tempted|feel like|felt like|"
    r"made up my mind|my mind is made up)"
)
_PILLS = (
    r"(?:pills?|tablets?|meds|medications?|medicines?|pain ?killers?|paracetamol|"
    r"acetaminophen|tylenol|ibuprofen|aspirin|co ?codamol|codeine|tramadol|morphine|"
    r"oxycodone|oxycontin|fentanyl|opioids?|opiates?|gabapentin|pregabalin|amitriptyline|"
    r"duloxetine|diazepam|insulin|sleeping pills)"
)
_SELF_INJURY = r"(?:hurt|harm|cut|burn|burnt|scratch|hit|punch|starv|stab|bite|biting|bruis)\w*"
_BODY = (
    r"(?:legs?|arms?|feet|foot|hands?|wrists?|ankles?|knees?|hips?|shoulders?|elbows?|"
    r"fingers?|toes?|ribs?|back|neck|head|face|collarbone|pelvis|spine|coccyx|tailbone)"
)
_SPINE = r"(?:\bbacks?\b|backache|\bspine\b|spinal|\bneck\b|kidneys?|\bloin\b|\bflank\b)"


# --------------------------------------------------------------------------- crisis rules

_CRISIS_RULES = (
    # Saying the word: suicide, suicidal (misspellings are fixed by normalise).
    _rule("crisis", "suicide_word", r"\bsuicid(?:e|es|al|ality)\b"),
    # Answering "are you safe?" with no: not feeling safe with oneself.
    _rule(
        "crisis",
        "not_safe",
        r"\b(?:am not|do not feel|does not feel|not feeling|no longer feel|never feel)\s+"
        r"(?:\w+\s+)?safe\b(?!\s+(?:to\s+(?!be\b)|on|outside|walking|driving|doing|exercising|"
        r"lifting|at work|in the))",
    ),
    # Killing oneself, in plain words and slang (kms, unalive, top myself, do myself in).
    _rule(
        "crisis",
        "kill_myself",
        _either(
            r"\b(?:kill|kills|killing|killed|top|topping|off|offing|end|ending)\s+myself\b",
            r"\bdo(?:ing)? myself in\b",
            r"\b(?:take|taking|took|end|ending|ended)\s+(?:my|me)\s+(?:own\s+)?life\b"
            r"(?!\s+(?:away|over|apart|as i knew it))",
            r"\bend (?:this|my) (?:miserable |pathetic |sad |worthless |useless )?life\b",
        ),
    ),
    # A wish to die or be dead, however it is phrased.
    _rule(
        "crisis",
        "wish_to_die",
        _either(
            rf"{_DESIRE}{_GAP}die\b",
            rf"{_DESIRE}{_GAP}dye\b(?!\s+(?:my|her|his|your|it|the|them|this|that)\b)",
            rf"{_DESIRE}(?:\s+\w+){{0,4}}?\s+(?:just\s+)?kill(?:ed)? me\b",
            rf"(?:{_DESIRE}|\bbetter off|\bmight as well|\bmay as well|\bshould){_GAP}dead\b",
            r"\b(?:want|wish for|long for|longing for|pray for|welcome|ready for)\s+death\b",
            r"\bwish i (?:was|were|had|would) (?:not|never) (?:alive|here|born|been born|around)\b",
            r"\bwish i (?:did not|never) exist(?:ed)?\b",
            r"\blet me (?:just )?die\b",
            r"\b(?:feel|felt|feeling) like dying\b",
            r"\b(?:think|thinking|thought|thoughts)\s+(?:\w+\s+)?(?:about|of)\s+(?:dying|death|"
            r"being dead|not being (?:here|alive|around)|my (?:own )?death)\b",
            rf"{_DESIRE}{_GAP}(?:go to\s+)?sleep (?:forever|for ever|for good|permanently)\b",
            r"\bif i (?:was|were|had|just) (?:dead|died)\b",
            r"\bdeath (?:would|will|could|might) be (?:a |such a )?(?:relief|release|welcome|"
            r"blessing|better|easier|kinder)\b",
            r"\bway out (?:except|but|other than) (?:dying|death|to die)\b",
        ),
    ),
    # Not wanting to live, wake up, or go on.
    _rule(
        "crisis",
        "not_want_to_live",
        _either(
            r"\b(?:do not|does not|no longer|never)\s+(?:really\s+|even\s+|honestly\s+)?"
            r"(?:want|wish|feel like)\s+(?:to\s+)?"
            r"(?:live\b(?!\s+(?:on|off|near|abroad|in (?:a|an|the)\b|with (?:my|him|her|them)))"
            r"|be alive|being alive|exist|wake up\b(?! early)|be here (?:anymore|any longer|"
            r"no more|on this earth|in this world)|be around (?:anymore|any longer)|"
            r"(?:go|carry) on (?:living|anymore|any longer)|keep (?:living|going anymore))",
            rf"\b(?:hope|wish|pray|praying|hoping){_GAP}(?:do not|never|will not|would not|not)"
            r"\s+wake up\b",
            r"\b(?:go to sleep|fall asleep|sleep)(?:\s+\w+){0,3}?\s+and\s+(?:never|not)\s+"
            r"wake(?: up)?\b",
            r"\bnever wake up again\b|\band (?:not|never) wake up\b",
            r"\brather not (?:be alive|be here|exist|live|wake up|be around)\b",
            r"\b(?:not sure|do not know|unsure)(?: if| whether| that)? i (?:even |really )?"
            r"want to (?:live|be alive|be here|go on|carry on|keep going|keep living|exist)\b",
            r"\b(?:cannot|can no longer|not able to)\s+(?:go on|carry on)"
            r"(?:\s+(?:living|like this|anymore|any longer)\b|\s*(?:[.,;:!?]|$))",
            r"\bcannot (?:keep going|keep living|live like this|live with this)"
            r"(?:\s+\w+){0,3}?\s+(?:anymore|any longer)\b",
            r"\bcannot do this (?:anymore|any longer)\b",
            r"\b(?:stop|cease)\s+(?:to\s+)?exist(?:ing)?\b",
            r"\bdisappear\w*\s+(?:forever|for good|for ever|permanently)\b",
        ),
    ),
    # Life not worth living: no point, no reason, nothing to live for, done with life.
    _rule(
        "crisis",
        "no_point_living",
        _either(
            r"\b(?:no|not any|see no|nothing)\s+(?:\w+\s+)?(?:point|reason|purpose)\s+"
            r"(?:in\s+|to\s+|of\s+|for\s+)?(?:me\s+to\s+)?(?:living|live|life|go on|going on|"
            r"carry on|carrying on|being alive|being here|existing|staying alive|stay alive)\b"
            r"(?!\s+(?:with|doing|the)\b)",
            r"\b(?:cannot|do not|no longer)\s+see\s+(?:the|any)\s+point\s+(?:in|of)\s+"
            r"(?:living|life|going on|carrying on|being alive|existing)\b",
            r"\bwhat is the point (?:of|in)\s+(?:living|life|being alive|going on|"
            r"carrying on|existing|it all)\b",
            r"\b(?:not|no longer|never|hardly)\s+worth (?:living|being alive|staying alive)\b",
            r"\blife is (?:not|no longer|hardly|not really|not even) worth (?:it|living)\b",
            r"\bnothing (?:left )?to live for\b|\bno reason to live\b",
            r"\b(?:done|finished|had enough)\s+(?:of\s+|with\s+)?"
            r"(?:life|living|being alive|existing|my life)\b",
            r"\b(?:tired|sick|weary|fed up)\s+(?:of|with)\s+(?:life|living|being alive|existing)"
            r"\b(?!\s+(?:in|with)\b)",
            r"\bgiv(?:e|ing) up on (?:life|living)\b",
            r"\b(?:living|life|existing|being alive)\s+(?:is|feels|seems)\s+(?:so\s+|just\s+|"
            r"completely\s+|totally\s+)?(?:pointless|meaningless|futile)\b",
        ),
    ),
    # Feeling a burden whose death would relieve others (a known warning sign).
    _rule(
        "crisis",
        "better_off_without_me",
        _either(
            r"\b(?:better|happier|easier) (?:off )?without me\b",
            r"\bbetter off (?:not|never) (?:waking up|wake up|being here|being alive|existing|"
            r"alive|living|here|born)\b",
            r"\b(?:better off|better|happier|easier) (?:with me (?:gone|dead)|if i\b"
            r"(?:\s+\w+){0,2}?\s+(?:gone|dead|died|die|not here|not around|never|disappeared))",
            r"\b(?:nobody|no one|no body)\s+(?:would|will|is going to|would even|even would)"
            r"\s+(?:\w+\s+)?(?:miss|notice|care)\b(?:\s+\w+){0,2}?\s+(?:if|when|once) i\b",
        ),
    ),
    # Ending it: "end it all", "a plan to end it", "want it all to stop".
    _rule(
        "crisis",
        "end_it_all",
        _either(
            r"\bend(?:ing|ed)?\s+(?:it|things|everything)\s+(?:all|now|tonight|today|for good|"
            r"once and for all)\b",
            rf"(?:{_DESIRE}|{_INTENT}|\bmight|\bcould|\bwill){_GAP}end(?:ing)?\s+"
            r"(?:it|things|everything)\b(?!\s+(?:with|off|there|here|early|after|before|at|by|"
            r"when|for today|for now|for the day)\b)",
            r"\b(?:it all|everything|all of it|all of this|this all|my life|this life)\s+"
            r"(?:to\s+|would\s+|will\s+|could\s+)?(?:stop|stops|end|ends|be over)\b"
            r"(?!\s+(?:hurting|aching))",
            r"\bend (?:my|this|the) suffering (?:for good|forever|for ever|once and for all|"
            r"permanently)\b",
            r"\b(?:end(?:ing)? it|dying|death|suicide|killing myself)\b(?:\s+\w+){0,4}?\s+"
            r"(?:the )?only (?:option|way|way out|answer|solution|choice)\b",
            r"\bonly (?:way out|option|answer|solution|choice)\b(?:\s+\w+){0,3}?\s+"
            r"(?:to die|dying|death|end(?:ing)? it)\b",
        ),
    ),
    # Methods: hanging, jumping, traffic, cutting wrists, searching for ways to die.
    _rule(
        "crisis",
        "suicide_method",
        _either(
            r"\b(?:hang|hanging|hung|shoot|shooting|drown|drowning|gas|gassing|poison|"
            r"poisoning|suffocate|suffocating|stab|stabbing|electrocute)\s+myself\b",
            r"\bthrow(?:ing)? myself (?:off|under|in front|from)\b",
            r"\bjump\w* (?:off|from|out of)\s+(?:a|the|my|that)?\s*(?:bridge|building|roof|"
            r"cliff|balcony|window|tower|car park|multi storey)",
            r"\b(?:jump\w*|step\w*|lie down|lay down)\s+(?:out\s+)?(?:in front of|under)\s+"
            r"(?:a|the|an oncoming)\s+(?:train|bus|car|lorry|truck|tube|tram)",
            r"\bwalk(?:ing)? into (?:the sea|the river|traffic|the lake)\b",
            r"\b(?:slit|slitting|cut|cutting) my (?:wrists?|throat)\b",
            r"\bnoose\b|\brope\b(?:\s+\w+){0,2}?\s+(?:ready|tied|around my neck|round my neck)",
            r"\b(?:bought|got|have|found|buy|get|getting)\s+(?:a|the|some)\s+rope\b",
            r"\b(?:going to|about to|want to|ready to)\s+jump\s*(?:[.,;:!?]|$)",
            r"\b(?:standing|stood|sitting|sat|am) on (?:the|a|this) (?:bridge|ledge)\b",
            r"\b(?:standing|stood|sitting|sat) on (?:the|a|this) (?:cliff|roof)\b",
            r"\b(?:standing|stood|sitting|sat|am) on the edge of (?:the|a) (?:bridge|cliff|"
            r"roof|building|platform)",
            r"\b(?:lethal|fatal|deadly) (?:dose|amount|overdose)\b",
            r"\b(?:ways?|how|methods?)\s+(?:\w+\s+)?to\s+(?:die|kill myself|end my life)\b",
            r"\bhow (?:many|much)(?:\s+\w+){1,5}?\s+(?:to|would|will|it takes to|takes to)"
            r"\s+(?:die|kill|be fatal|be lethal)\b",
            rf"(?:{_DESIRE}|{_INTENT}){_GAP}(?:crash|drive|driving|steer)\w*\s+"
            r"(?:my car\s+|the car\s+)?(?:into|off)\s+",
        ),
    ),
    # Overdose as an intention or an act, and storing up tablets to take together.
    _rule(
        "crisis",
        "overdose_or_stockpiling",
        _either(
            rf"(?:{_DESIRE}|{_INTENT}){_GAP}overdos\w*",
            r"\b(?:took|taken|had|done|did|swallowed)\s+(?:an?\s+|another\s+)?overdose\b"
            r"(?!\s+(?:call|patient|case|victim|job|shout))",
            r"\boverdosed\b",
            rf"\b(?:sav|stockpil|hoard|stash)\w*\s+(?:up\s+)?(?:all\s+)?(?:of\s+)?"
            rf"(?:my\s+|the\s+|some\s+)?(?:\w+\s+)?{_PILLS}",
            r"\b(?:take|taking|took|swallow\w*|down|downed|neck|necked)\s+"
            r"(?:them\s+|these\s+|those\s+|my\s+)?(?:all|every one|every single one|the lot)\b"
            r"(?:\s+\w+){0,4}?\s+(?:at once|in one go|tonight)\b",
            r"\b(?:take|taking|took|swallow\w*|down|downed|neck|necked)\s+(?:\w+\s+){0,2}?"
            r"(?:whole|entire|full)\s+(?:box|bottle|packet|pack|strip|tub|blister|load)s?\b",
            r"\b(?:took|taken|swallowed)\s+(?:a\s+)?(?:handful|handfuls|load|loads|lot|lots|"
            r"too many)\b",
            r"\b(?:might|could|will|may)\s+(?:just\s+)?overdose\b(?!\s+(?:by accident|if)\b)",
            r"\b(?:swallowed|downed|necked)\s+(?:all|the lot)\b",
            rf"\b(?:took|taken|swallowed)\s+all\s+(?:of\s+)?my\s+(?:\w+\s+)?{_PILLS}"
            r"(?!\s+(?:this morning|today|tonight as|as prescribed|on time|with food|like))",
            rf"\b(?:took|taken|swallowed)\s+(?:[2-9]\d|\d{{3}}|twenty|thirty|forty|fifty)\s+"
            rf"(?:\w+\s+)?{_PILLS}",
            rf"{_INTENT}{_GAP}(?:take|swallow)\s+(?:all|every one|the lot|the whole)\b",
            rf"{_PILLS}\s+(?:\w+\s+){{0,2}}?(?:in front of me|lined up|counted out)\b",
            rf"\b(?:got|have|had)\s+(?:the|my|all my|all the)\s+(?:\w+\s+)?{_PILLS}\s+ready\b",
            r"^overdos\w*\s*[.!?]*$",
        ),
        cancelled_by=_NEGATED_OR_DOSING_QUESTION,
    ),
    # Self-harm: named, or hurting oneself with intent, to cope, or till it bleeds.
    _rule(
        "crisis",
        "self_harm",
        _either(
            r"\bself\s*(?:harm|injur)\w*",
            r"\bharm(?:s|ed|ing)?\s+myself\b",
            r"\b(?:cut|cuts|cutting)\s+(?:myself|my\s+(?:arms?|wrists?|legs?|thighs?|skin|"
            r"stomach|body))\b(?!\s+(?:shaving|cooking|chopping|slicing|peeling|gardening|"
            r"opening|on\b|by accident|accidentally|while|when|in the kitchen|badly))",
            r"\bbeen cutting\b(?!\s+(?:down|back|out|up|the|my hair|grass|onions|vegetables))",
            r"\bbeen (?:hurting|harming|burning|hitting|punching|scratching|starving) myself\b"
            r"(?!\s+(?:doing|by|with|when|while|trying|lifting|at)\b)",
            rf"(?:{_DESIRE}|\bfeel like|\bfelt like|\bthinking (?:of|about)|\bthought about|"
            rf"\bthoughts? (?:of|about)|\bplan|\bplanning|\bgoing to|\babout to)"
            rf"(?:\s+\w+){{0,2}}?\s+{_SELF_INJURY}\s+myself\b(?!\s+(?:if|doing|lifting|"
            r"trying|when|while|by|with (?:the|this|that|all)|on|at|again if)\b)",
            rf"\b{_SELF_INJURY}\s+myself\b(?:\s+\w+){{0,4}}?\s+with (?:a |the |my )?"
            r"(?:razor|blade|knife|lighter|scissors|compass|glass|cigarette)s?\b",
            r"\bi (?:cut|burned|burnt) again\b",
            r"\b(?:hurting|harming|cutting|burning|hitting|scratching)\s+(?:myself|my\s+\w+)\s+"
            r"(?:is the only|is how i cope|helps|makes me feel)\b",
            r"\brelaps\w*\b(?:\s+\w+){0,3}?\s+(?:cut|cutting|self harm\w*|harm\w*|burn\w*)\b",
            rf"\b{_SELF_INJURY}\s+(?:myself|my\s+\w+)\b(?:\s+\w+){{0,5}}?\s+"
            r"(?:on purpose|deliberately|intentionally|purposely|purposefully)\b",
            rf"\b(?:deliberately|intentionally|purposely|purposefully)\s+{_SELF_INJURY}",
            rf"\b(?:{_SELF_INJURY}|pick\w*|pull\w*|claw\w*)\s+(?:at\s+)?(?:myself|my\s+\w+)"
            r"(?:\s+\w+){0,3}?\s+(?:till|until|so)\s+(?:it|they|i|my\s+\w+)\s+"
            r"(?:bleed|bleeds|bled|bleeding|bruise|bruises|bruised)\b",
            rf"\b{_SELF_INJURY}\s+(?:myself|my\s+\w+)\b(?:\s+\w+){{0,5}}?\s+to\s+"
            r"(?:cope|feel something|feel better|feel in control|feel real|punish|numb)\b",
            r"\b(?:cut|cutting|harm\w*|burn\w*)\s+myself\s+again\b",
            rf"\b(?:crash\w*|jump\w*|overdos\w*|(?:took|taken|swallow\w*)\s+(?:\w+\s+){{0,3}}?"
            rf"(?:{_PILLS}|overdose|box|bottle|packet))\b(?:\s+\w+){{0,6}}?\s+"
            r"(?:on purpose|deliberately|intentionally)\b",
        ),
    ),
    # Goodbye notes and saying one will not be around much longer.
    _rule(
        "crisis",
        "goodbye",
        _either(
            r"\b(?:suicide|goodbye|farewell)\s+(?:note|letter|message)s?\b",
            r"\b(?:written|wrote|writing|write|left|leaving|leave)\s+(?:a\s+|my\s+|the\s+)?"
            r"(?:note|letter)s?\s+(?:for|to)\s+(?:my\s+|the\s+)?(?:family|kids|children|wife|"
            r"husband|partner|mum|mom|dad|parents|everyone|loved ones|son|daughter)\b",
            r"\b(?:will not|may not|might not|not going to)\s+be\s+(?:here|around|alive)\s+"
            r"(?:much longer|for long|anymore|any longer)\b",
            r"\b(?:will not|may not|might not|not going to)\s+be\s+alive\b",
            r"\b(?:will not|may not|might not|not going to)\s+be\s+(?:here|around)\s+"
            r"(?:tomorrow|tonight|by (?:the )?morning|next week)\b",
            r"\b(?:this|it) (?:will be|is) my (?:last|final) (?:message|text|words)\b"
            r"(?!\s+(?:for|today|tonight|before|until|till))",
            r"\bthis is (?:my |me saying )?goodbye\b(?! for now| until| till| for a (?:bit|while|"
            r"few))"
            r"|\bgoodbye (?:forever|for good|cruel world)\b",
            r"\b(?:said|saying|say) (?:my )?goodbyes\b|\b(?:said|saying|say) goodbye to "
            r"(?:everyone|everybody|the world|you all|all of you)\b",
            r"\bgiv(?:en|ing|e|ven) away (?:all\s+)?(?:of\s+)?my (?:things|stuff|belongings|"
            r"possessions)\b",
        ),
    ),
)


# --------------------------------------------------------------------------- red-flag rules

_ONSET = (
    r"\b(?:sudden|suddenly|all of a sudden|out of (?:nowhere|the blue)|overnight|just now|"
    r"came on (?:today|this morning|tonight|last night|overnight|suddenly|quickly|fast)|"
    r"since (?:(?:this|last) (?:morning|afternoon|evening|night)|yesterday|earlier|lunch|"
    r"(?:an|one|two|a few) hours?)|started (?:today|this morning|tonight|an hour ago)|"
    r"for the first time|by the hour|worse and worse|(?:getting|got) worse (?:fast|quickly))\b"
)
_DEFICIT = (
    r"\b(?:weak|weakness|numb|numbness|paraly[sz]\w*|gave way|give way|gives way|giving way|"
    r"buckl\w*|collaps\w*|droop\w*|dragging|dropping things|slurr\w*|no feeling|"
    r"(?:cannot|unable to|could not|not able to)\s+(?:feel|move|lift|walk|stand|grip|hold|"
    r"speak|talk)|lost (?:the )?(?:feeling|use|strength|sensation))\b"
)
_SADDLE_AREA = (
    r"(?:bottom\b(?!\s+of)|bum|butt|arse|backside|buttocks?|anus|groin|genitals|privates|"
    r"private (?:parts|area)|inner thighs?|crotch|perineum|back passage|vagina|penis|"
    r"down below|saddle(?: area| region)?)"
)
_SENSORY_LOSS = (
    r"\b(?:numb\w*|no feeling|no sensation|lost (?:the )?(?:feeling|sensation)|pins and needles|"
    r"(?:cannot|could not|unable to|can hardly|can barely)\s+feel)\b"
)
_MOTOR_LOSS = (
    r"\b(?:weak|weakness|gave way|give way|giving way|(?:legs?|arms?|hands?|feet|foot)\s+"
    r"(?:will not|do not|does not|would not)\s+work|(?:cannot|could not|unable to|can hardly|"
    r"can barely)\s+(?:walk|stand|lift|move|grip|hold))\b"
)
# Things that fall off or drop ("my patch fell off", "my pain score fell") are not falls.
_NOT_A_PERSON_FALLING = re.compile(
    rf"{_NEGATED.pattern}"
    r"|\b(?:feel|feels|felt|feeling) (?:like|as if|as though)(?:\s+\w+){0,3}\s*$"
    r"|\b(?:patch|plaster|dressing|bandage|it|that|this|score|scores|pain|level|mood|number|"
    r"temperature|phone|glasses|picture|shelf)\s*$"
)

_RED_FLAG_RULES = (
    # A limb or one side suddenly weak or numb: stroke, cord or nerve-root compression.
    _rule("red_flag", "sudden_weakness_or_numbness", _ONSET, _DEFICIT),
    # Numbness together with weakness: a nerve root or the cord may be compressed.
    _rule("red_flag", "numbness_with_weakness", _SENSORY_LOSS, _MOTOR_LOSS),
    # Losing the feeling or use of the legs, or stroke signs, needs no word of onset.
    _rule(
        "red_flag",
        "loss_of_feeling_or_power",
        _either(
            r"\b(?:cannot|unable to|could not|not able to|can no longer)\s+(?:feel|move)\s+"
            r"(?:my\s+|both\s+)?(?:legs?|face|lower body)\b",
            r"\blegs?\s+(?:\w+\s+)?(?:gave|give|gives|giving|went|gone)\s+(?:way|out)\b",
            r"\b(?:i|i just|i nearly|i almost|legs?|knees?)\s+(?:\w+\s+)?collaps(?:ed|ing)\b"
            r"(?!\s+(?:on|onto|into|in)\s+(?:the|my|a)\s+(?:sofa|couch|bed|chair|armchair|heap))",
            r"\b(?:face|mouth|eye|eyelid|smile)\b(?:\s+\w+){0,2}?\s+(?:droop\w*|dropped|fallen)\b",
            r"\bslurr(?:ed|ing)\b",
            r"\b(?:numb|weak|droop|tingl|dead)\w*\s+(?:\w+\s+){0,3}?(?:down|on|along|in)\s+"
            r"(?:one|the left|the right|my left|my right|half)\s+(?:side|of my)\b",
            r"\bboth\s+(?:my\s+)?(?:legs|arms)\s+(?:\w+\s+){0,2}?(?:weak|numb|useless)\b",
            r"\b(?:pins and needles|tingling|tingly|numb\w*) in both (?:my )?(?:legs|feet|arms)\b",
            r"\bfoot drop\b|\bfoot (?:is |has )?(?:started |been )?dragging\b|"
            r"\bdragging my (?:foot|leg)\b",
            r"\blost (?:the )?(?:use|feeling|sensation|strength) (?:of|in) my\b",
            r"\b(?:legs?|arms?|feet|foot)\s+(?:has|have|had|is|are|just)?\s*(?:gone|went|going)\s+"
            r"(?:all\s+|completely\s+)?(?:numb|dead|weak|floppy)\b",
            r"\blegs (?:are|feel|have been)\s+(?:(?:so|very|really|completely|totally|quite)\s+)?"
            r"numb\b",
            r"\blegs?\s+(?:will not|would not|do not|does not|are not|is not)\s+(?:work|working)\b"
            r"|\blegs?\s+(?:have |has )?stopped working\b",
        ),
    ),
    # Losing control of bladder or bowels: cauda equina until proven otherwise.
    _rule(
        "red_flag",
        "bladder_or_bowel_control",
        _either(
            r"\b(?:lost|lose|losing|no|loss of)\s+control\s+(?:of|over)\s+(?:my\s+)?"
            r"(?:bladder|bowels?|wee|pee|poo|toilet|urine)\b",
            r"\b(?:cannot|unable to|could not|not able to|can no longer)\s+(?:control|hold)\s+"
            r"(?:my\s+|it\s+)?(?:bladder|bowels?|wee|pee|poo|urine|in)\b",
            r"\b(?:lost|losing|lose|no)\s+(?:my\s+)?(?:bladder|bowel)\s+control\b",
            r"\bincontinen\w*",
            r"\b(?:wet|wetting|soiled|soiling|pooed|pooped|peed|weed)\s+myself\b(?!\s+laughing)",
            r"\b(?:bowel|bladder)s?\s+accident|\baccident\w*\s+(?:with|in)\s+my\s+"
            r"(?:bowels?|bladder|pants|underwear|knickers|trousers)\b",
            r"\bleak\w*\s+(?:\w+\s+){0,2}?(?:urine|wee|pee|poo|faeces|feces|stool)\b",
        ),
    ),
    # Unable to pass urine: retention is the other face of cauda equina.
    _rule(
        "red_flag",
        "urinary_retention",
        _either(
            r"\b(?:cannot|unable to|could not|not able to|have not been able to|"
            r"struggling to|can hardly|can barely)\s+(?:\w+\s+)?(?:pee|wee|urinate|"
            r"pass urine|pass water|empty my bladder|go for a (?:wee|pee))\b",
            r"\b(?:have not|did not|not)\s+(?:peed|weed|urinated|passed urine|passed water)\b",
        ),
    ),
    # Numbness of the saddle area (buttocks, groin, genitals, inner thighs).
    _rule(
        "red_flag",
        "saddle_numbness",
        _either(
            rf"\b(?:numb\w*|no feeling|no sensation|lost (?:the )?(?:feeling|sensation)|tingl\w*)"
            rf"\s+(?:\w+\s+){{0,2}}?(?:around|in|between|on|down)\s+(?:my\s+|the\s+)?{_SADDLE_AREA}",
            rf"\b(?:cannot|could not|can hardly|can barely)\s+feel\s+(?:my\s+)?{_SADDLE_AREA}",
            r"\bnumb\w*\s+between my legs\b",
            rf"\b{_SADDLE_AREA}(?:\s+\w+){{0,3}}?\s+(?:numb\w*|no feeling|tingl\w*|dead)\b",
            r"\b(?:cannot|could not|do not|did not|hardly|barely)\s+(?:even\s+)?feel\b"
            r"(?:\s+\w+){0,4}?\s+(?:when|while)\s+i\s+(?:wipe|pee|wee|go to the toilet)\b",
            r"\bnumb\w* when i wipe\b",
        ),
    ),
    # Chest pain or pressure: a possible heart attack.
    _rule(
        "red_flag",
        "chest_pain",
        _either(
            r"\bchest\b(?:\s+\w+){0,2}?\s+(?:pain|pains|ache|aches|aching|hurt|hurts|hurting|"
            r"tight|tightness|pressure|heavy|heaviness|crushing|squeez\w*|discomfort)\b",
            r"\b(?:pain|pains|pressure|tight\w*|crushing|squeez\w*|heav\w*|ache|aching|"
            r"discomfort)\s+(?:\w+\s+){0,2}?(?:in|on|across|around)\s+(?:my\s+|the\s+)?chest\b",
            r"(?<!gave me a )(?<!give me a )(?<!giving me a )\bheart attack\b(?! when)",
            r"\b(?:tight|heavy|painful|crushing)\s+chest\b",
        ),
    ),
    # A sudden, worst-ever headache: possible bleed in the brain.
    _rule(
        "red_flag",
        "thunderclap_headache",
        _either(
            r"\bthunderclap\b",
            r"\bworst (?:headache|head pain)\b(?:\s+\w+){0,2}?\s+(?:of my life|ever|i have)",
            r"\b(?:sudden|suddenly)\s+(?:\w+\s+){0,2}?(?:headache|head pain|pain in my head)\b",
            r"\bheadache\s+(?:\w+\s+){0,3}?(?:came on|started|hit me)\s+(?:suddenly|out of "
            r"nowhere|like a)\b",
        ),
    ),
    # Fever with back or neck pain: a possible spinal infection or meningitis.
    _rule(
        "red_flag",
        "fever_with_back_pain",
        _either(
            r"(?<!hay )(?<!cabin )\bfever\w*|\bfebrile\b|\bchills\b|\brigou?rs\b|"
            r"\bnight sweats\b|\bsweating at night\b|\bhot and (?:cold|shivery)\b|\bburning up\b",
            r"\b(?:a|high|got a|have a|running a|raised|with a)\s+(?:high\s+|raised\s+)?"
            r"temp(?:erature)?\b(?!\s+(?:job|work|agency|contract))",
            r"\btemp(?:erature)?\s+(?:of|is|was)\s+(?:3[89]|4[0-2]|1[01]\d|high|up)|^(?:a\s+|high\s+)?temperature\b",
            r"\bshiver\w* and sweat\w*|\bsweat\w* and shiver\w*",
        ),
        _SPINE,
    ),
    # A new fall, accident or injury: possible fracture, especially in fragile bones.
    _rule(
        "red_flag",
        "fall_or_injury",
        _either(
            r"\bi\s+(?:\w+\s+){0,2}?(?:fell|have fallen|had fallen|have had a fall|had a fall)\b"
            r"(?!\s+(?:asleep|behind|apart|for|in love|out with|through|ill|pregnant|short|silent|"
            r"quiet|to|by|below|under|off the (?:\w+ )?wagon|off my (?:chair|seat) laughing|"
            r"at the last|down (?:a|the) (?:\w+ )?(?:rabbit|youtube|internet|tiktok)|"
            r"into (?:a|the|bad)\s+(?:habit|routine|trap)))",
            r"\b(?:fell|fallen)\s+(?:down|off)\s+(?:the|some|a|my)\s+(?:stairs|steps|ladder|bike|"
            r"horse|kerb|curb|step|wall|roof|stool)\b",
            r"\b(?:had|took|have had)\s+(?:a\s+)?(?:bad\s+|nasty\s+|big\s+|little\s+|small\s+)?"
            r"(?:fall|tumble)\b",
            r"\b(?:tripped|stumbled)\b",
            r"\b(?:keep|keeps|kept|been|started)\s+falling\b(?!\s+(?:asleep|apart|behind|for)\b)",
            r"\b(?:in|after|since|from)\s+(?:the|a|my|that)\s+(?:fall|accident|crash)\b",
            r"\binjured\b|\b(?:new|fresh|recent|bad|nasty|serious)\s+injur(?:y|ies)\b",
            r"\bslipped\s+(?:on|over|down|and|in|off|at)\b",
            r"\b(?:came|fell|knocked) off (?:my|the|a) (?:bike|horse|ladder|chair|motorbike)\b",
            r"\bknocked (?:over|down|off)\s+(?:by|my)\b",
            r"\b(?:got|been|was) knocked (?:over|down|off)\b",
            r"\bhit by (?:a |the )?(?:car|bike|bus|van|lorry|truck|cyclist|motorbike)\b",
            r"\b(?:car|road|traffic|bike|motorbike|cycling|work|workplace)\s+"
            r"(?:accident|crash|collision)\b(?!\s+(?:tv|telly|show|programme|film|of a))",
            r"\b(?:i|we)\s+(?:\w+\s+){0,2}?(?:had|was in|were in|been in|got in)\s+an?\s+"
            r"(?:\w+\s+)?accident\b(?!\s+(?:with the paint|on the rug|on the carpet))",
            r"\bcrashed (?:my|the) (?:car|bike|motorbike|scooter|van)\b|\bcrashed into "
            r"(?:a|the|another) (?:car|wall|tree|lamp|post|van|bus|lorry|truck|cyclist)\b",
            r"\blanded (?:on|awkwardly|hard|badly)\b",
            r"\b(?:banged|bumped|hit|smacked|knocked)\s+my\s+head\b(?!\s+against (?:a|the)"
            r" (?:brick )?wall)",
            rf"\b(?:broke|broken|fractured|cracked|dislocated|sprained|twisted)\s+(?:my\s+)?"
            rf"(?:\w+\s+)?{_BODY}\b",
            r"\b(?:cannot|unable to|could not|not able to)\s+(?:put|bear)\s+(?:any\s+)?weight\b",
            r"\bwhiplash\b",
            rf"\bdropped\s+(?:\w+\s+){{1,3}}?on\s+my\s+{_BODY}\b",
        ),
        cancelled_by=_NOT_A_PERSON_FALLING,
    ),
    # Weight lost without trying, with back pain: a sign of cancer or infection.
    _rule(
        "red_flag",
        "unexplained_weight_loss",
        _either(
            r"\b(?:lost|losing)\s+(?:\w+\s+){0,3}?weight\b(?:\s+\w+){0,3}?\s+(?:without trying|"
            r"without dieting|for no reason|not trying|and i am not dieting)\b",
            r"\bunexplained weight loss\b",
        ),
    ),
)

# A symptom the patient says is known, long-standing or already checked is not certain to be
# a red flag; the rules leave it to the risk model, which may still ask.
_KNOWN_AND_STABLE = re.compile(
    r"\b(?:same as (?:always|usual|ever|before|for (?:months|years|ages))|nothing new|not new|"
    r"for (?:years|months|ages)|as usual|like usual|usual for me|normal for me|diagnosed|"
    r"cleared me|checked (?:it|me) (?:out|over)|years ago|every (?:month|winter|time)|"
    r"old injury|came back after|fine after|went away|known)\b"
)

RULE_NAMES = frozenset(rule.name for rule in (*_CRISIS_RULES, *_RED_FLAG_RULES))


def detect(text: str) -> RuleHit | None:
    """The first alarm a patient's message raises, crisis before red flag, or None."""
    if not isinstance(text, str):
        return None
    normalised = normalise(text)
    if not normalised:
        return None
    crisis_view = _without_idioms(normalised)
    for rule in _CRISIS_RULES:
        if rule.fires(crisis_view):
            return RuleHit("crisis", rule.name)
    if _KNOWN_AND_STABLE.search(normalised):
        return None  # "numb feet for years, nothing new": the risk model decides whether to ask
    for rule in _RED_FLAG_RULES:
        if rule.fires(normalised):
            return RuleHit("red_flag", rule.name)
    return None
