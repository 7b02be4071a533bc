"""Realtime server events in, the record of a conversation out — sans I/O.

`Transcript` is a plain object fed server events (dicts decoded from JSON) one at a time. It keeps
what the record needs: one `TurnState` per conversation item that is a user or assistant message,
one `UsageState` per `response.done`, and the upstream session id. It imports nothing from Django,
does no I/O and reads no clock, so the consumer, the sideband watcher, the local engine and the
benchmarks all wrap the same rules. See /work/shared/realtime-protocol.md §4 for the events.

The rules, in one place:
- a user's words are the `…input_audio_transcription.completed` transcript, or the `input_text`
  of a typed message; an assistant's are `response.output_audio_transcript.done` /
  `response.output_text.done` (beta names too), or the content of `response.done` /
  `…output_item.done` / `conversation.item.done` items when those events never came;
- order is the item chain (`previous_item_id`), never arrival;
- feeding an event twice, or an event whose effect is already recorded, changes nothing;
- a reply cut off (`response.done` cancelled / incomplete, `conversation.item.truncated`) is
  interrupted, and keeps the words that were heard when the event says which ones;
- a malformed event is rejected with a reason; nothing raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

USER = "user"
ASSISTANT = "assistant"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
INTERRUPTED = "interrupted"
FAILED = "failed"

_CUT_OFF = {"cancelled", "incomplete"}


@dataclass(slots=True)
class TurnState:
    """One user or assistant message item. `previous_item_id` is "" for the first or unknown."""

    item_id: str
    role: str
    text: str = ""
    status: str = IN_PROGRESS
    previous_item_id: str = ""
    response_id: str = ""


@dataclass(frozen=True, slots=True)
class UsageState:
    """One response's outcome: its status and its `usage` object exactly as received."""

    response_id: str
    status: str
    usage: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one event did: changed the record, changed nothing, or was rejected (with why)."""

    kind: Literal["changed", "unchanged", "rejected"]
    event_type: str = ""
    event_id: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class UsageTotals:
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Changes:
    """What a transcript's feeding changed since it was last asked (`Transcript.take_changes`)."""

    items: set[str]  # items created, changed or relinked (tool-call items among them)
    usages: tuple[str, ...]  # response ids whose usage was added or changed, in that order
    reordered: bool  # the chain order was rebuilt: any turn's position may have moved


class Malformed(Exception):
    """Raised inside a handler; `feed` turns it into a rejected `Outcome`."""


def _str(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"{key} is missing or not a string")
    return value


def _optional_str(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Malformed(f"{key} is not a string")
    return value


def _text(event: Mapping[str, Any], key: str) -> str:
    """Final words: a string, possibly empty (silence transcribes to "")."""
    value = event.get(key)
    if not isinstance(value, str):
        raise Malformed(f"{key} is missing or not a string")
    return value


def _mapping(event: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = event.get(key)
    if not isinstance(value, Mapping):
        raise Malformed(f"{key} is missing or not an object")
    return value


def content_text(item: Mapping[str, Any]) -> str:
    """The words in an item's `content` parts (`transcript` of audio, `text` of text)."""
    content = item.get("content")
    if not isinstance(content, Sequence) or isinstance(content, str):
        return ""
    words = []
    for part in content:
        if not isinstance(part, Mapping):
            continue
        value = part.get("transcript") or part.get("text")
        if isinstance(value, str) and value:
            words.append(value)
    return " ".join(words)


def _is_typed_message(item: Mapping[str, Any]) -> bool:
    content = item.get("content")
    if not isinstance(content, Sequence) or isinstance(content, str):
        return False
    return any(isinstance(p, Mapping) and p.get("type") == "input_text" for p in content)


def order_by_chain(items: Sequence[tuple[str, str]]) -> list[str]:
    """Item ids in conversation order, each after its `previous_item_id`.

    `items` are `(item_id, previous_item_id)` pairs in the order they were first seen. An item
    whose predecessor is empty or unknown starts a new run; runs keep the order given, so the
    result is stable however often it is recomputed. Cycles (only malformed input makes them)
    are broken at the earliest item given, after every run.
    """
    return _chain_order(items)[0]


def _chain_order(items: Sequence[tuple[str, str]]) -> tuple[list[str], bool]:
    """`order_by_chain`, and whether no cycle was broken (every item hangs from a run's start,
    so a new run goes at the very end)."""
    known = {item_id for item_id, _ in items}
    children: dict[str, list[str]] = {}
    roots = []
    for item_id, previous in items:
        if previous in known and previous != item_id:
            children.setdefault(previous, []).append(item_id)
        else:
            roots.append(item_id)
    ordered: list[str] = []
    seen: set[str] = set()

    def walk(start: str) -> None:
        stack = [start]
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                ordered.append(node)
                stack.extend(reversed(children.get(node, [])))

    for root in roots:
        walk(root)
    rooted = len(ordered) == len(known)
    for item_id, _ in items:  # what only a cycle links
        walk(item_id)
    return ordered, rooted


def _count(value: Any) -> int:
    # bool is an int subclass; a negative count is garbage, not a refund.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def usage_totals(usages: Iterable[Any]) -> UsageTotals:
    """Sums raw `usage` objects. Cached tokens are part of input tokens, never added twice."""
    totals = {"input": 0, "cached": 0, "output": 0, "total": 0}
    for usage in usages:
        if not isinstance(usage, Mapping):
            continue
        details = usage.get("input_token_details")
        cached = _count(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
        input_tokens = _count(usage.get("input_tokens"))
        output_tokens = _count(usage.get("output_tokens"))
        totals["input"] += input_tokens
        totals["cached"] += min(cached, input_tokens)
        totals["output"] += output_tokens
        totals["total"] += _count(usage.get("total_tokens")) or input_tokens + output_tokens
    return UsageTotals(totals["input"], totals["cached"], totals["output"], totals["total"])


@dataclass
class Transcript:
    """The record of one conversation, built from server events. Seed it with what is stored."""

    turns: dict[str, TurnState] = field(default_factory=dict)
    usages: dict[str, UsageState] = field(default_factory=dict)
    session_id: str = ""

    def __post_init__(self) -> None:
        # Every item seen, message or not (tool calls are links in the chain too), first-seen order.
        self._links: dict[str, str] = {i: t.previous_item_id for i, t in self.turns.items()}
        # Every previous_item_id some item names: an item arriving later that one of them names
        # moves those items after itself.
        self._named: set[str] = {previous for previous in self._links.values() if previous}
        self._by_response: dict[str, list[str]] = {}
        for turn in self.turns.values():
            self._index_response(turn)
        self._event_ids: set[str] = set()
        # Bumped by every change to what is stored; `feed` compares it to report "changed".
        self._version = 0
        # Items created, changed or relinked, and usage added or changed, since `take_changes`
        # was last called; seeded turns and usage count, as their rows have not been compared
        # with anything yet.
        self._touched: set[str] = set(self.turns)
        self._touched_usages: dict[str, None] = dict.fromkeys(self.usages)  # (in touch order)
        # The chain order, kept between batches: an item that joins the end of the chain (nearly
        # every item of a call) is appended to it; any other change has it rebuilt, and then
        # every turn's position may have moved (`Changes.reordered`). None: to be rebuilt.
        self._chain: list[str] | None = None
        self._rooted = True  # no cycle in the chain: a new run goes at the very end
        self._ordered: list[TurnState] = []
        self._positions: dict[str, int] = {}
        self._reordered = True

    @classmethod
    def seeded(
        cls, *, turns: Iterable[TurnState], usages: Iterable[UsageState], session_id: str = ""
    ) -> Transcript:
        """A transcript continuing from stored turns (in their stored order) and usage."""
        return cls(
            turns={t.item_id: t for t in turns},
            usages={u.response_id: u for u in usages},
            session_id=session_id,
        )

    def feed(self, event: Any) -> Outcome:
        """Apply one server event and say what it did. Never raises on bad input."""
        if not isinstance(event, Mapping):
            return Outcome("rejected", reason="event is not an object")
        event_type, event_id = event.get("type"), event.get("event_id")
        if not isinstance(event_type, str) or not event_type:
            return Outcome("rejected", reason="type is missing or not a string")
        if event_id is not None and not isinstance(event_id, str):
            return Outcome("rejected", event_type, reason="event_id is not a string")
        if event_id and event_id in self._event_ids:
            return Outcome("unchanged", event_type, event_id, "duplicate event_id")
        before = self._version
        try:
            self._dispatch(event_type, event)
        except Malformed as exc:
            return Outcome("rejected", event_type, event_id or "", str(exc))
        if event_id:
            self._event_ids.add(event_id)
        changed = self._version != before
        return Outcome("changed" if changed else "unchanged", event_type, event_id or "")

    @property
    def events_seen(self) -> int:
        """How many event ids this transcript remembers (to skip them when fed again)."""
        return len(self._event_ids)

    def feed_all(self, events: Iterable[Any]) -> list[Outcome]:
        return [self.feed(event) for event in events]

    def take_changes(self) -> Changes:
        """What was seeded, created, changed or relinked since the last call."""
        changes = Changes(self._touched, tuple(self._touched_usages), self._reordered)
        self._touched, self._touched_usages, self._reordered = set(), {}, False
        return changes

    def ordered_turns(self) -> list[TurnState]:
        """The turns in conversation order (the item chain), tool-call items left out."""
        self._ensure_order()
        return list(self._ordered)

    def position(self, item_id: str) -> int:
        """The turn's index in `ordered_turns()`."""
        self._ensure_order()
        return self._positions[item_id]

    def _ensure_order(self) -> None:
        if self._chain is None:
            self._chain, self._rooted = _chain_order(list(self._links.items()))
            self._ordered = [self.turns[i] for i in self._chain if i in self.turns]
            self._positions = {turn.item_id: n for n, turn in enumerate(self._ordered)}

    def _reorder(self) -> None:
        self._chain, self._reordered = None, True

    def _add_link(self, item_id: str, previous: str) -> None:
        """A new item in the chain: appended to the kept order when it joins its end (a new
        run, or right after the last item) and no item seen earlier names it; else reordered."""
        chain = self._chain
        named = item_id in self._named
        self._links[item_id] = previous
        if previous:
            self._named.add(previous)
        if chain is None:
            return
        starts_run = previous in ("", item_id) or previous not in self._links
        if named or not ((starts_run and self._rooted) or previous == chain[-1]):
            self._reorder()
            return
        chain.append(item_id)
        turn = self.turns.get(item_id)
        if turn is not None:
            self._positions[item_id] = len(self._ordered)
            self._ordered.append(turn)

    def _relink(self, item_id: str, previous: str) -> None:
        """An item known with no predecessor gets one. The order stays as it is only when the
        item is the last and its new predecessor the one before it (how an item's own events
        usually arrive: `conversation.item.added` after its turn was opened)."""
        chain = self._chain
        self._links[item_id] = previous
        self._named.add(previous)
        if chain is None:
            return
        if not (len(chain) > 1 and chain[-1] == item_id and chain[-2] == previous):
            self._reorder()

    def _index_response(self, turn: TurnState) -> None:
        if turn.response_id:
            self._by_response.setdefault(turn.response_id, []).append(turn.item_id)

    def totals(self) -> UsageTotals:
        return usage_totals(u.usage for u in self.usages.values())

    # --- Handlers -------------------------------------------------------------------------------
    # Each handler reads and checks everything it needs before changing anything, so a rejected
    # event leaves no trace.

    def _dispatch(self, event_type: str, event: Mapping[str, Any]) -> None:
        handler = _HANDLERS.get(event_type)
        if handler is not None:
            handler(self, event)

    def _on_session(self, event: Mapping[str, Any]) -> None:
        session_id = _optional_str(_mapping(event, "session"), "id")
        if session_id and not self.session_id:
            self.session_id = session_id
            self._version += 1

    def _on_committed(self, event: Mapping[str, Any]) -> None:
        item_id, previous = _str(event, "item_id"), _optional_str(event, "previous_item_id")
        self._turn(item_id, USER)
        self._link(item_id, previous)

    def _on_item(self, event: Mapping[str, Any]) -> None:
        item = _mapping(event, "item")
        item_id, previous = _str(item, "id"), _optional_str(event, "previous_item_id")
        role, kind = item.get("role"), item.get("type", "message")
        if kind == "message" and role in (USER, ASSISTANT):
            turn = self._turn(item_id, role)
            if role == USER and _is_typed_message(item):
                self._set_text(turn, content_text(item))
            else:
                self._fill_from_item(turn, item)
        self._link(item_id, previous)

    def _on_user_transcript(self, event: Mapping[str, Any]) -> None:
        item_id, transcript = _str(event, "item_id"), _text(event, "transcript")
        self._set_text(self._turn(item_id, USER), transcript)

    def _on_user_transcript_failed(self, event: Mapping[str, Any]) -> None:
        turn = self._turn(_str(event, "item_id"), USER)
        if turn.status != COMPLETED:
            self._set(turn, status=FAILED)

    def _on_assistant_text(self, event: Mapping[str, Any], key: str) -> None:
        item_id, text = _str(event, "item_id"), _text(event, key)
        response_id = _optional_str(event, "response_id")
        turn = self._turn(item_id, ASSISTANT)
        self._set_response(turn, response_id)
        self._set_text(turn, text)

    def _on_assistant_transcript(self, event: Mapping[str, Any]) -> None:
        self._on_assistant_text(event, "transcript")

    def _on_assistant_output_text(self, event: Mapping[str, Any]) -> None:
        self._on_assistant_text(event, "text")

    def _on_output_item(self, event: Mapping[str, Any]) -> None:
        item, response_id = _mapping(event, "item"), _optional_str(event, "response_id")
        for message in self._assistant_messages([item]):
            self._apply_output_message(message, response_id)

    def _on_response_done(self, event: Mapping[str, Any]) -> None:
        response = _mapping(event, "response")
        response_id, status = _str(response, "id"), _optional_str(response, "status")
        usage = response.get("usage")
        output = response.get("output")
        messages = self._assistant_messages(output if isinstance(output, list) else [])
        self._set_usage(
            UsageState(response_id, status, usage if isinstance(usage, Mapping) else {})
        )
        for message in messages:
            self._apply_output_message(message, response_id)
        for item_id in self._by_response.get(response_id, []):
            self._close(self.turns[item_id], status)

    def _on_truncated(self, event: Mapping[str, Any]) -> None:
        turn = self._turn(_str(event, "item_id"), ASSISTANT)
        heard = event.get("transcript", event.get("text"))
        if isinstance(heard, str):
            self._set(turn, text=heard)
        self._set(turn, status=INTERRUPTED)

    def _assistant_messages(self, items: Iterable[Any]) -> list[Mapping[str, Any]]:
        """The assistant message items among `items` (tool calls skipped), each one checked."""
        messages = []
        for item in items:
            if not isinstance(item, Mapping):
                raise Malformed("an output item is not an object")
            if item.get("type", "message") == "message" and item.get("role") == ASSISTANT:
                self._check_role(_str(item, "id"), ASSISTANT)
                messages.append(item)
        return messages

    def _apply_output_message(self, item: Mapping[str, Any], response_id: str) -> None:
        turn = self._turn(item["id"], ASSISTANT)
        self._set_response(turn, response_id)
        self._fill_from_item(turn, item)

    # --- State changes: each bumps the version only when a stored value really changes ----------

    def _check_role(self, item_id: str, role: str) -> None:
        turn = self.turns.get(item_id)
        if turn is not None and turn.role != role:
            raise Malformed(f"item {item_id} is a {turn.role} item, not {role}")

    def _turn(self, item_id: str, role: str) -> TurnState:
        self._check_role(item_id, role)
        turn = self.turns.get(item_id)
        if turn is None:
            turn = self.turns[item_id] = TurnState(item_id, role)
            if item_id in self._links:
                self._reorder()  # a link already (named as another item's kind): now a turn
            else:
                self._add_link(item_id, "")
            self._touched.add(item_id)
            self._version += 1
        return turn

    def _link(self, item_id: str, previous_item_id: str) -> None:
        if item_id not in self._links:
            self._touched.add(item_id)
            self._add_link(item_id, previous_item_id)
        elif previous_item_id and not self._links[item_id]:
            self._touched.add(item_id)  # a new link: positions after it may move
            self._relink(item_id, previous_item_id)
        turn = self.turns.get(item_id)
        if turn is not None and not turn.previous_item_id and previous_item_id:
            self._set(turn, previous_item_id=previous_item_id)

    def _set(self, turn: TurnState, **changes: str) -> None:
        for name, value in changes.items():
            if getattr(turn, name) != value:
                setattr(turn, name, value)
                if name == "response_id":
                    self._index_response(turn)
                self._touched.add(turn.item_id)
                self._version += 1

    def _set_text(self, turn: TurnState, text: str) -> None:
        """Final words for an item. Words kept for a cut-off reply are not overwritten."""
        if not (turn.status == INTERRUPTED and turn.text):
            self._set(turn, text=text)
        # A transcription that failed and was then retried successfully is complete after all.
        if turn.status in (IN_PROGRESS, FAILED):
            self._set(turn, status=COMPLETED)

    def _fill_from_item(self, turn: TurnState, item: Mapping[str, Any]) -> None:
        """Item content is a fallback: it only fills words no dedicated event has given."""
        text = content_text(item)
        if text and not turn.text:
            self._set(turn, text=text)
        status = item.get("status")
        if status == "incomplete":
            self._set(turn, status=INTERRUPTED)
        elif status == "completed" and turn.text and turn.status == IN_PROGRESS:
            self._set(turn, status=COMPLETED)

    def _set_response(self, turn: TurnState, response_id: str) -> None:
        if response_id and not turn.response_id:
            self._set(turn, response_id=response_id)

    def _close(self, turn: TurnState, response_status: str) -> None:
        if response_status in _CUT_OFF:
            self._set(turn, status=INTERRUPTED)
        elif response_status == "failed" and turn.status == IN_PROGRESS:
            self._set(turn, status=FAILED)
        elif response_status == "completed" and turn.status == IN_PROGRESS:
            self._set(turn, status=COMPLETED)

    def _set_usage(self, usage: UsageState) -> None:
        if self.usages.get(usage.response_id) != usage:
            self.usages[usage.response_id] = usage
            self._touched_usages[usage.response_id] = None
            self._version += 1


_HANDLERS: dict[str, Callable[[Transcript, Mapping[str, Any]], None]] = {
    "session.created": Transcript._on_session,
    "session.updated": Transcript._on_session,
    "input_audio_buffer.committed": Transcript._on_committed,
    "conversation.item.added": Transcript._on_item,
    "conversation.item.done": Transcript._on_item,
    "conversation.item.created": Transcript._on_item,  # beta
    "conversation.item.input_audio_transcription.completed": Transcript._on_user_transcript,
    "conversation.item.input_audio_transcription.failed": Transcript._on_user_transcript_failed,
    "response.output_audio_transcript.done": Transcript._on_assistant_transcript,
    "response.audio_transcript.done": Transcript._on_assistant_transcript,  # beta
    "response.output_text.done": Transcript._on_assistant_output_text,
    "response.text.done": Transcript._on_assistant_output_text,  # beta
    "response.output_item.added": Transcript._on_output_item,
    "response.output_item.done": Transcript._on_output_item,
    "response.done": Transcript._on_response_done,
    "conversation.item.truncated": Transcript._on_truncated,
}
