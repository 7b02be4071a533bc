"""The browser's signaling socket: parse at the edge, call a flow, send what it returns.

Close codes: 4401 when the user is not signed in (the socket is accepted first so that the
browser sees the code). Cross-origin sockets never reach this consumer: the
AllowedHostsOriginValidator in voiceapp/asgi.py refuses the handshake (HTTP 403 in Daphne).
"""

from __future__ import annotations

import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from limits import enforcement
from limits.rules import Limits
from signaling import calls, continuation, memory, messages, presence, relay
from signaling.chat import ChatSession
from signaling.messages import ProtocolError
from signaling.ratelimit import TokenBucket
from upstream.errors import UpstreamError

logger = logging.getLogger(__name__)


class ChannelLayerDown(Exception):
    """The channel layer did not answer (e.g. Redis restarting)."""


class SignalingConsumer(AsyncJsonWebsocketConsumer):
    call: calls.CallState | None = None
    chat: ChatSession | None = None
    # The call's record between relayed batches, so that a batch need not reload it.
    recording: relay.Recording | None = None

    async def connect(self) -> None:
        self.bucket = TokenBucket(rate=messages.RATE_PER_SECOND, burst=messages.RATE_BURST)
        memory.socket_opened()
        await self.accept()
        if not self.scope["user"].is_authenticated:
            await self.close(code=messages.CLOSE_UNAUTHENTICATED)
            return
        direct = settings.REALTIME_DIRECT_MODE_ENABLED
        await self.send_json(messages.hello(direct_enabled=direct, calls_url=calls.calls_url()))

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its `aclose_old_connections()` before every handler: a
        hop to the database thread and back for each message (two per key issued, bench.broker)
        that this consumer does not need, as it reaches the database only through
        `conversations.db.run` and `database_sync_to_async`, which close old connections around
        each unit of work themselves."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            if not self.bucket.take():
                raise ProtocolError("rate_limited", "Too many messages; slow down.")
            message = messages.parse_frame(text_data, bytes_data)
            await getattr(self, _HANDLERS[type(message)])(message)
        except ProtocolError as exc:
            await self.send_json(messages.error(code=exc.code, message=exc.message))
        except ChannelLayerDown:
            # Holding a call nobody else can find (presence, staff) would lose it: let the page
            # reconnect later and resume, rather than answer on a socket that cannot hold it.
            logger.warning("channel layer unreachable", exc_info=True)
            await self.close(code=messages.CLOSE_TRY_AGAIN)
        except UpstreamError as exc:
            await self.send_json(messages.error(code=exc.code, message=exc.message, fatal=True))
        except Exception:
            # Never a silent drop, never a dead socket: log it and tell the browser.
            logger.exception("signaling message failed", extra={"user": self.scope["user"].pk})
            await self.send_json(messages.error(code="server_error", message="Something failed."))

    async def disconnect(self, code: int) -> None:
        memory.socket_closed()
        enforcement.release(self.channel_name)
        if self.chat is not None:
            await self.chat.close("disconnected")
            await self._leave(presence.group_name(self.chat.conversation_id))
        if self.call is not None:
            await self._leave(presence.group_name(self.call.conversation_id))
            if not self.call.ended:
                presence.watch_abandoned(self.call)

    # --- Client messages (one handler per type, see _HANDLERS) -----------------------------

    async def on_call_start(self, message: messages.CallStart) -> None:
        self._require_idle()
        if message.mode == "text":
            await enforcement.admit(user=self.scope["user"], mode=message.mode)
            await self._start_chat()
        else:
            await self._start_voice(message)  # admitted in the transaction that opens it

    async def on_call_offer(self, message: messages.CallOffer) -> None:
        call = self._require_call("brokered")
        if call.call_id:
            raise ProtocolError("already_answered", "This call already has its answer.")
        await self.send_json(messages.call_answer(sdp=await calls.answer_offer(call, message.sdp)))
        # Recorded after the answer went out; a call.end queued meanwhile is handled after this.
        await calls.connected(call)

    async def on_call_connected(self, message: messages.CallConnected) -> None:
        call = self._require_call("direct")
        await calls.confirm_direct(call, message.call_id)

    async def on_events_relay(self, message: messages.EventsRelay) -> None:
        # Allowed after the call ended: late transcripts and resent batches still belong to it.
        call = self._require_call(active=False)
        self.recording = relay.recording_for(call.conversation_id, self.recording)
        turns = await relay.record_batch(
            call.conversation_id, message.events, recording=self.recording
        )
        await self.send_json(messages.events_ack(seq=message.seq, turns=turns))

    async def on_call_resume(self, message: messages.CallResume) -> None:
        self._require_idle()
        resumed = await relay.resume(
            owner=self.scope["user"], conversation_id=message.conversation_id
        )
        if resumed is None:
            raise ProtocolError("not_found", "There is no such conversation of yours to resume.")
        await self._hold(resumed.state)
        await self.send_json(
            messages.call_resumed(
                conversation_id=resumed.state.conversation_id,
                status=resumed.status,
                turns=resumed.turns,
            )
        )

    async def on_call_end(self, message: messages.CallEnd) -> None:
        if self.chat is not None:
            await self.chat.close(message.reason)
            conversation_id = self.chat.conversation_id
        else:
            # Ending an ended call (e.g. resumed after a reload) just confirms it.
            call = self._require_call(active=False)
            await calls.end_call(call, message.reason)
            conversation_id = call.conversation_id
        await self.send_json(
            messages.call_ended(conversation_id=conversation_id, reason=message.reason)
        )

    async def on_text_send(self, message: messages.TextSend) -> None:
        if self.chat is None:
            raise ProtocolError("no_chat", "Start a text conversation first.")
        await self.chat.say(message.text)

    async def _start_chat(self) -> None:
        self.chat = await ChatSession.open(owner=self.scope["user"], send_json=self.send_json)
        # In its group, as a call is: staff can end it, the sweeper's roll call finds it.
        await self._join(presence.group_name(self.chat.conversation_id))
        started = messages.call_started(
            conversation_id=self.chat.conversation_id, mode="text", voice=""
        )
        await self.send_json(started)

    async def _start_voice(self, message: messages.CallStart) -> None:
        if message.mode == "direct" and not settings.REALTIME_DIRECT_MODE_ENABLED:
            raise ProtocolError("mode_disabled", "Direct mode is turned off on this server.")
        owner, earlier = self.scope["user"], None
        if message.continue_from is not None:  # (each database call is a thread hop: skip it)
            earlier = await continuation.earlier(owner=owner, conversation_id=message.continue_from)
        admission = enforcement.Admission(owner, message.mode)
        call = await calls.start_call(
            owner=owner, mode=message.mode, voice=message.voice, admit=admission
        )
        if earlier is not None:
            await continuation.link(conversation_id=call.conversation_id, earlier=earlier)
        await self._hold(call, admission.limits)
        seed = earlier.seed if earlier else None
        await self.send_json(
            messages.call_started(
                conversation_id=call.conversation_id, mode=call.mode, voice=call.voice, seed=seed
            )
        )
        if call.key is not None:
            key = messages.call_key(
                key=call.key.value, expires_at=call.key.expires_at, calls_url=calls.calls_url()
            )
            await self.send_json(key)

    # --- Channel-layer events -------------------------------------------------------------

    async def call_presence(self, event: dict[str, Any]) -> None:
        """Answer the roll call of a watcher left by this call's previous socket."""
        await self.channel_layer.send(event["reply_to"], {"type": "call.present"})

    async def call_staff_end(self, event: dict[str, Any]) -> None:
        """Staff ended this call or chat on the Live page, which recorded it (and hung a call up)
        already; a chat's upstream socket is this process's to close."""
        conversation_id = event["conversation_id"]
        if self.chat is not None and self.chat.conversation_id == conversation_id:
            await self.chat.close(event["reason"])  # the staff member's end is already stored
        elif self.call is not None and self.call.conversation_id == conversation_id:
            self.call.ended = True
        else:
            return
        await self.send_json(
            messages.call_ended(conversation_id=conversation_id, reason=event["reason"])
        )

    # --- State guards ---------------------------------------------------------------------

    async def _hold(self, state: calls.CallState, limits: Limits | None = None) -> None:
        await self._join(presence.group_name(state.conversation_id))
        self.call = state
        user, send_json = self.scope["user"], self.send_json
        enforcement.guard(self.channel_name, state, user=user, send_json=send_json, limits=limits)

    async def _join(self, group: str) -> None:
        """Join `group`, once more after a failure: the first command on a pooled Redis
        connection fails after a Redis restart. Still failing, the layer is down."""
        for attempt in (1, 2):
            try:
                await self.channel_layer.group_add(group, self.channel_name)
                return
            except Exception as exc:
                if attempt == 2:
                    raise ChannelLayerDown from exc

    async def _leave(self, group: str) -> None:
        """Leave `group` if the layer answers; a membership left behind expires on its own."""
        try:
            await self.channel_layer.group_discard(group, self.channel_name)
        except Exception:
            logger.warning("group not left", exc_info=True, extra={"group": group})

    def _require_idle(self) -> None:
        if (self.call is not None and not self.call.ended) or (
            self.chat is not None and not self.chat.closed
        ):
            raise ProtocolError("call_active", "This socket already holds a conversation.")

    def _require_call(self, mode: str | None = None, *, active: bool = True) -> calls.CallState:
        if self.call is None or (active and self.call.ended):
            raise ProtocolError("no_call", "Start or resume a call first.")
        if mode is not None and self.call.mode != mode:
            raise ProtocolError("wrong_mode", f"This message belongs to {mode} mode.")
        return self.call


_HANDLERS = {
    messages.CallStart: "on_call_start",
    messages.CallOffer: "on_call_offer",
    messages.CallConnected: "on_call_connected",
    messages.EventsRelay: "on_events_relay",
    messages.CallResume: "on_call_resume",
    messages.CallEnd: "on_call_end",
    messages.TextSend: "on_text_send",
}
