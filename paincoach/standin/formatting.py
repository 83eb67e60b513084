"""Telegram's parse_mode handling: turn HTML / Markdown / MarkdownV2 into text plus entities.

Follows the server's (tdlib) parsers closely enough that text Telegram would reject with
"can't parse entities" is rejected here too, with the same kind of message.
"""

import re
from dataclasses import dataclass, field
from typing import Any

Entity = dict[str, Any]

PARSE_MODES = {"html": "HTML", "markdown": "Markdown", "markdownv2": "MarkdownV2"}

_HTML_TAGS = {
    "a": "text_link",
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "tg-emoji": "custom_emoji",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_NAMED_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")
_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "code": "Code",
    "pre": "Pre",
    "custom_emoji": "CustomEmoji",
}


class EntityParseError(ValueError):
    """The text does not parse in the requested parse_mode."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


@dataclass
class _Output:
    """Accumulates the plain text and tracks its UTF-16 length as it grows."""

    parts: list[str] = field(default_factory=list)
    u16: int = 0
    chars: int = 0
    entities: list[Entity] = field(default_factory=list)

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.u16 += utf16_len(chunk)
        self.chars += len(chunk)

    def since(self, chars: int) -> str:
        return "".join(self.parts)[chars:]

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.u16 > start:  # Telegram silently drops empty entities
            self.entities.append(
                {"type": kind, "offset": start, "length": self.u16 - start, **extra}
            )

    def result(self) -> tuple[str, list[Entity]]:
        return "".join(self.parts), sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))


def render(text: str, parse_mode: str | None) -> tuple[str, list[Entity]]:
    """Return (plain text, entities) for `text` sent with `parse_mode` (None = plain)."""
    if parse_mode is None:
        return text, []
    mode = PARSE_MODES.get(parse_mode.lower())
    if mode == "HTML":
        return _parse_html(text)
    if mode == "MarkdownV2":
        return _parse_markdown_v2(text)
    if mode == "Markdown":
        return _parse_markdown(text)
    raise EntityParseError(f"unsupported parse_mode {parse_mode}")


def strip_text(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Trim surrounding whitespace like Telegram does, keeping entities aligned."""
    stripped_left = text.lstrip()
    shift = utf16_len(text) - utf16_len(stripped_left)
    result = stripped_left.rstrip()
    end = utf16_len(result)
    kept: list[Entity] = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        stop = min(entity["offset"] + entity["length"] - shift, end)
        if stop > start:
            kept.append({**entity, "offset": start, "length": stop - start})
    return result, kept


def _parse_html(text: str) -> tuple[str, list[Entity]]:
    out = _Output()
    # (tag name, argument, utf16 start) of each open tag
    stack: list[list[Any]] = []
    n = len(text)
    i = 0
    while i < n:
        char = text[i]
        if char == "&":
            match = _HTML_ENTITY_RE.match(text, i)
            decoded = _decode_html_entity(match) if match else None
            if match and decoded is not None:
                out.add(decoded)
                i = match.end()
                continue
        if char != "<":
            out.add(char)
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":
            if not stack:
                raise EntityParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(text, begin)}"
                )
            i += 1
            name_start = i
            while i < n and not text[i].isspace() and text[i] != ">":
                i += 1
            end_name = text[name_start:i].lower()
            while i < n and text[i].isspace():
                i += 1
            if i >= n or text[i] != ">":
                raise EntityParseError(
                    f"Unclosed end tag at byte offset {_byte_offset(text, begin)}"
                )
            i += 1
            tag, argument, start = stack.pop()
            if end_name and end_name != tag:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{tag}>", found "</{end_name}>"'
                )
            _close_html_tag(out, stack, tag, argument, start)
            continue
        while i < n and not text[i].isspace() and text[i] != ">":
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        tag = text[begin + 1 : i].lower()
        if tag not in _HTML_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
            )
        attributes, i = _html_attributes(text, i, tag, begin)
        argument = _html_argument(tag, attributes)
        if tag == "span" and argument != "spoiler":
            offset = _byte_offset(text, begin)
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
            )
        stack.append([tag, argument, out.u16])
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _decode_html_entity(match: re.Match[str]) -> str | None:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return _NAMED_HTML_ENTITIES.get(name)
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def _html_attributes(text: str, i: int, tag: str, begin: int) -> tuple[dict[str, str], int]:
    """Parse attributes up to the closing '>' of a start tag; return them and the next index."""
    n = len(text)
    attributes: dict[str, str] = {}
    unclosed = f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise EntityParseError(unclosed)
        if text[i] == ">":
            return attributes, i + 1
        name_start = i
        while i < n and not text[i].isspace() and text[i] not in "=>":
            i += 1
        name = text[name_start:i].lower()
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise EntityParseError(unclosed)
        if text[i] != "=":
            attributes[name] = ""  # e.g. <blockquote expandable>
            continue
        i += 1
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise EntityParseError(unclosed)
        if text[i] in "'\"":
            quote = text[i]
            end = text.find(quote, i + 1)
            if end == -1:
                raise EntityParseError(unclosed)
            raw = text[i + 1 : end]
            attributes[name] = _HTML_ENTITY_RE.sub(lambda m: _decode_html_entity(m) or m[0], raw)
            i = end + 1
        else:
            token_start = i
            while i < n and (text[i].isalnum() or text[i] in ".-"):
                i += 1
            if i < n and not text[i].isspace() and text[i] != ">":
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {_byte_offset(text, token_start)}"
                )
            attributes[name] = text[token_start:i].lower()


def _html_argument(tag: str, attributes: dict[str, str]) -> str:
    if tag == "a":
        return attributes.get("href", "")
    if tag == "code":
        language = attributes.get("class", "")
        return language.removeprefix("language-") if language.startswith("language-") else ""
    if tag == "span":
        css = attributes.get("class", "")
        return css.removeprefix("tg-") if css.startswith("tg-") else ""
    if tag == "tg-emoji":
        return attributes.get("emoji-id", "")
    if tag == "blockquote":
        return "expandable" if "expandable" in attributes else ""
    return ""


def _close_html_tag(
    out: _Output, stack: list[list[Any]], tag: str, argument: str, start: int
) -> None:
    kind = _HTML_TAGS[tag]
    if tag == "code" and stack and stack[-1][0] == "pre" and stack[-1][2] == start and argument:
        stack[-1][1] = argument  # <pre><code class="language-x"> becomes one pre entity
        return
    if kind == "text_link":
        if argument:
            out.entity(kind, start, url=argument)
    elif kind == "pre":
        out.entity(kind, start, **({"language": argument} if argument else {}))
    elif kind == "custom_emoji":
        out.entity(kind, start, custom_emoji_id=argument)
    elif kind == "blockquote":
        out.entity("expandable_blockquote" if argument else kind, start)
    else:
        out.entity(kind, start)


def _reserved(char: str) -> EntityParseError:
    return EntityParseError(
        f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
    )


def _parse_markdown_v2(text: str) -> tuple[str, list[Entity]]:
    out = _Output()
    # open entities: [kind, argument, utf16 start, byte offset of the marker, char start]
    stack: list[list[Any]] = []
    quote_start: int | None = None
    n = len(text)
    i = 0

    def at(index: int) -> str:
        return text[index] if index < n else ""

    while i < n:
        char = text[i]
        if char == "\n" and quote_start is not None and at(i + 1) != ">":
            out.entity("blockquote", quote_start)
            quote_start = None
        line_start = i == 0 or text[i - 1] == "\n"
        if line_start and char == ">" and not any(e[0] in ("code", "pre") for e in stack):
            if quote_start is None:
                quote_start = out.u16
            i += 1
            continue
        if char == "\\" and 0 < ord(at(i + 1) or "\0") <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        reserved = "`" if stack and stack[-1][0] in ("code", "pre") else _MDV2_RESERVED
        if char not in reserved:
            out.add(char)
            i += 1
            continue
        top = stack[-1][0] if stack else None
        closes = {
            "bold": char == "*",
            "italic": char == "_" and at(i + 1) != "_",
            "underline": char == "_" and at(i + 1) == "_",
            "strikethrough": char == "~",
            "spoiler": char == "|" and at(i + 1) == "|",
            "code": char == "`",
            "pre": char == "`" and at(i + 1) == "`" and at(i + 2) == "`",
            "text_link": char == "]",
            "custom_emoji": char == "]",
        }.get(top or "", False)
        if not closes:
            i = _open_markdown_v2(text, i, stack, out)
            continue
        kind, argument, start, _, char_start = stack.pop()
        if kind in ("underline", "spoiler"):
            i += 2
        elif kind == "pre":
            i += 3
        elif kind in ("text_link", "custom_emoji"):
            url, i = _markdown_v2_url(text, i, out.since(char_start))
            if url:
                key = "url" if kind == "text_link" else "custom_emoji_id"
                value = url if kind == "text_link" else url.rpartition("id=")[2]
                out.entity(kind, start, **{key: value})
            continue
        else:
            i += 1
        out.entity(kind, start, **({"language": argument} if kind == "pre" and argument else {}))
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    if stack:
        kind, _, _, byte_offset, _ = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset {byte_offset}"
        )
    return out.result()


def _open_markdown_v2(text: str, i: int, stack: list[list[Any]], out: _Output) -> int:
    """Open the entity whose marker starts at text[i]; return the index after the marker."""
    char = text[i]
    nxt = text[i + 1 : i + 2]
    byte_offset = _byte_offset(text, i)
    argument = ""
    if char == "_":
        kind, i = ("underline", i + 2) if nxt == "_" else ("italic", i + 1)
    elif char == "*":
        kind, i = "bold", i + 1
    elif char == "~":
        kind, i = "strikethrough", i + 1
    elif char == "|" and nxt == "|":
        kind, i = "spoiler", i + 2
    elif char == "[":
        kind, i = "text_link", i + 1
    elif char == "!" and nxt == "[":
        kind, i = "custom_emoji", i + 2
    elif char == "`" and text[i : i + 3] == "```":
        kind, i = "pre", i + 3
        end = i
        while end < len(text) and not text[end].isspace() and text[end] != "`":
            end += 1
        if end != i and end < len(text) and text[end] != "`":
            argument, i = text[i:end], end
        if text[i : i + 2] in ("\r\n", "\n\r"):
            i += 2
        elif text[i : i + 1] in ("\n", "\r"):
            i += 1
    elif char == "`":
        kind, i = "code", i + 1
    else:
        raise _reserved(char)
    stack.append([kind, argument, out.u16, byte_offset, out.chars])
    return i


def _markdown_v2_url(text: str, i: int, inner_text: str) -> tuple[str, int]:
    """Read the (url) after a link's closing ']' at text[i]; return url and the next index."""
    if text[i + 1 : i + 2] != "(":
        return inner_text, i + 1
    i += 2
    url_start = i
    url: list[str] = []
    while i < len(text) and text[i] != ")":
        if text[i] == "\\" and i + 1 < len(text) and 0 < ord(text[i + 1]) <= 126:
            url.append(text[i + 1])
            i += 2
            continue
        url.append(text[i])
        i += 1
    if i >= len(text):
        raise EntityParseError(
            f"Can't find end of a URL at byte offset {_byte_offset(text, url_start)}"
        )
    return "".join(url), i + 1


def _parse_markdown(text: str) -> tuple[str, list[Entity]]:
    out = _Output()
    n = len(text)
    i = 0
    while i < n:
        char = text[i]
        if char == "\\" and text[i + 1 : i + 2] in ("_", "*", "`", "["):
            out.add(text[i + 1])
            i += 2
            continue
        if char not in "_*`[":
            out.add(char)
            i += 1
            continue
        begin = i
        is_pre = char == "`" and text[i : i + 3] == "```"
        end_char = "]" if char == "[" else char
        i += 3 if is_pre else 1
        language = ""
        if is_pre:
            end = i
            while end < n and not text[end].isspace() and text[end] != "`":
                end += 1
            if end != i and end < n and text[end] != "`":
                language, i = text[i:end], end
        start = out.u16
        while i < n and not (text[i] == end_char and (not is_pre or text[i + 1 : i + 3] == "``")):
            out.add(text[i])
            i += 1
        if i >= n:
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        i += 3 if is_pre else 1
        if char == "[":
            url = ""
            if text[i : i + 1] == "(":
                close = text.find(")", i)
                if close != -1:
                    url, i = text[i + 1 : close], close + 1
            if url:
                out.entity("text_link", start, url=url)
        elif is_pre:
            out.entity("pre", start, **({"language": language} if language else {}))
        else:
            out.entity({"_": "italic", "*": "bold", "`": "code"}[char], start)
    return out.result()
