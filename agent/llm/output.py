"""Asking for, parsing and repairing the structured AgentAnswer, and pulling answer text out of a JSON stream."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agent.errors import MalformedOutput
from agent.llm.base import AgentAnswer, ChatMessage

# "answer" comes first so that a streamed reply can show the text before the metadata arrives.
OUTPUT_INSTRUCTIONS = """\
Reply with one JSON object and nothing else (no prose, no code fences), with these keys in this order:
{"answer": "<your reply to the customer, plain text>",
 "cited_passage_ids": ["<id of each passage you relied on, exactly as given>"],
 "context_fields_used": ["<name of each customer context field you relied on>"],
 "confidence": <number from 0 to 1>,
 "escalate": <true if a human should take over, else false>,
 "escalation_reason": "<reason code if escalate is true, else null>"}"""

REPAIR_INSTRUCTION = (
    "Your previous reply could not be used: {problem}. Reply again with only the JSON object described in the "
    "system message, keys in the given order, and nothing else."
)

_RAW_KEPT = 2000  # characters of a malformed reply kept on the exception, for debugging
_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*(.*?)\s*```\s*$", re.DOTALL)
_LIST_FIELDS = ("cited_passage_ids", "context_fields_used")


def with_output_instructions(messages: list[ChatMessage]) -> list[ChatMessage]:
    """The messages with the JSON output instructions appended to the first system message.

    Merged rather than added as a second system message: several chat templates (llama.cpp, Ollama)
    reject or drop a system message that is not the first one.
    """
    return _with_system_text(messages, OUTPUT_INSTRUCTIONS)


def _with_system_text(messages: list[ChatMessage], text: str) -> list[ChatMessage]:
    if messages and messages[0].role == "system":
        return [ChatMessage(role="system", content=f"{messages[0].content}\n\n{text}"), *messages[1:]]
    return [ChatMessage(role="system", content=text), *messages]


def _describe(error: ValidationError) -> str:
    # Field names and messages only: pydantic's default text quotes the input, which may be customer data.
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(x) for x in item["loc"]) or "reply"
        parts.append(f"field {where!r}: {item['msg']}")
    return "; ".join(parts)


def _json_object(text: str, *, model: str | None, attempts: int) -> dict[str, Any]:
    """The first JSON object in a reply, tolerating code fences and prose around it."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    start = body.find("{")
    if start < 0:
        raise MalformedOutput("the reply holds no JSON object", model=model, attempts=attempts, raw=text[:_RAW_KEPT])
    try:
        data, _ = json.JSONDecoder().raw_decode(body, start)
    except json.JSONDecodeError as exc:
        raise MalformedOutput(
            f"the reply is not valid JSON ({exc.msg} at character {exc.pos})",
            model=model,
            attempts=attempts,
            raw=text[:_RAW_KEPT],
        ) from exc
    if not isinstance(data, dict):
        raise MalformedOutput("the reply's JSON is not an object", model=model, attempts=attempts, raw=text[:_RAW_KEPT])
    return data


def parse_answer(text: str, *, model: str | None = None, attempts: int = 0) -> AgentAnswer:
    """Parse a reply into an AgentAnswer, tolerating code fences, prose around the object and null lists."""
    data = _json_object(text, model=model, attempts=attempts)
    cleaned: dict[str, Any] = dict(data)
    for key in _LIST_FIELDS:
        # Small models often write null for "none"; that means the same as an empty list.
        if cleaned.get(key) is None:
            cleaned.pop(key, None)
    try:
        return AgentAnswer.model_validate(cleaned)
    except ValidationError as exc:
        raise MalformedOutput(
            f"the JSON does not match AgentAnswer: {_describe(exc)}",
            model=model,
            attempts=attempts,
            raw=text[:_RAW_KEPT],
        ) from exc


def repair_messages(messages: list[ChatMessage], bad_reply: str, problem: str) -> list[ChatMessage]:
    """The conversation extended with the malformed reply and a request to send valid JSON."""
    return [
        *messages,
        ChatMessage(role="assistant", content=bad_reply[:_RAW_KEPT]),
        ChatMessage(role="user", content=REPAIR_INSTRUCTION.format(problem=problem)),
    ]


_ANSWER_KEY = re.compile(r'"answer"\s*:\s*"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class AnswerTextExtractor:
    """Decodes the `answer` string of a JSON object as its characters stream in.

    `feed(delta)` returns the newly decoded answer text (possibly ""). Escapes split across deltas are
    held back until complete, so the concatenated output equals the parsed `answer` of a valid reply.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._pos = -1  # index in _buffer of the next undecoded answer character; -1 = key not seen yet
        self.done = False
        self.text = ""

    def feed(self, delta: str) -> str:
        """Add raw reply text; return the answer text it completes."""
        if self.done or not delta:
            return ""
        self._buffer += delta
        if self._pos < 0:
            match = _ANSWER_KEY.search(self._buffer)
            if not match:
                return ""
            self._pos = match.end()
        out: list[str] = []
        buf, i = self._buffer, self._pos
        while i < len(buf):
            char = buf[i]
            if char == '"':
                self.done = True
                i += 1
                break
            if char != "\\":
                out.append(char)
                i += 1
                continue
            if i + 1 >= len(buf):
                break  # escape split across deltas: wait for more
            code = buf[i + 1]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                i += 2
                continue
            if code != "u":
                out.append(code)  # invalid escape; the final parse will reject the reply anyway
                i += 2
                continue
            if i + 6 > len(buf):
                break
            unit = int(buf[i + 2 : i + 6], 16) if re.fullmatch(r"[0-9a-fA-F]{4}", buf[i + 2 : i + 6]) else 0xFFFD
            if 0xD800 <= unit < 0xDC00:  # high surrogate: needs its low half
                if i + 12 > len(buf):
                    break
                pair = buf[i : i + 12]
                try:
                    out.append(json.loads(f'"{pair}"'))
                except json.JSONDecodeError:
                    out.append("\ufffd")
                i += 12
                continue
            out.append(chr(unit))
            i += 6
        self._pos = i
        new = "".join(out)
        self.text += new
        return new


# --- any other schema (e.g. the handoff summary) ----------------------------------------------------------------

S = TypeVar("S", bound=BaseModel)


def schema_instructions(schema: type[BaseModel]) -> str:
    """Instructions asking for one JSON object matching `schema` (its JSON schema is included)."""
    return (
        "Reply with one JSON object and nothing else (no prose, no code fences) that matches this JSON schema:\n"
        + json.dumps(schema.model_json_schema(), separators=(",", ":"))
    )


def with_schema_instructions(messages: list[ChatMessage], schema: type[BaseModel]) -> list[ChatMessage]:
    """The messages with `schema_instructions` merged into the first system message (see with_output_instructions)."""
    return _with_system_text(messages, schema_instructions(schema))


def parse_structured(text: str, schema: type[S], *, model: str | None = None, attempts: int = 0) -> S:
    """Parse a reply into `schema`, tolerating code fences and prose around the object."""
    data = _json_object(text, model=model, attempts=attempts)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise MalformedOutput(
            f"the JSON does not match {schema.__name__}: {_describe(exc)}",
            model=model,
            attempts=attempts,
            raw=text[:_RAW_KEPT],
        ) from exc
