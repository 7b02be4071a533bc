"""The signaling path once more, against the local engine instead of the stub.

The engine (`manage.py localrealtime`, helper A's) answers each offer with a real aiortc peer, so
this shows the broker's overhead next to a real upstream's own work, at small concurrency. The
offer is a real one made by aiortc (audio + `oai-events` data channel, host candidates), reused
for every call; every call is hung up after its round, untimed, to free the engine's slots.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

from bench import servers
from bench.clients import encode_post, expect_status, multipart
from bench.database import prepare, voiceapp_env
from bench.paths import SESSION_JSON, HttpPath, Operation
from bench.servers import Server

PREFIX = "/local-realtime/v1"


def engine_key() -> str:
    return "sk-bench-engine-" + secrets.token_hex(12)


@contextlib.contextmanager
def local_engine(workdir: Path, key: str) -> Iterator[Server]:
    port = servers.free_port()
    env = {
        "DJANGO_SETTINGS_MODULE": "voiceapp.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + secrets.token_hex(24),
        "DATABASE_URL": f"sqlite:///{workdir / 'engine.sqlite3'}",
        "LOCAL_REALTIME_API_KEY": key,
        "LOCAL_REALTIME_MAX_SESSIONS": "32",
        # One decoder process: nothing is spoken in this benchmark, and the cores are shared.
        "LOCAL_REALTIME_DECODER_PROCESSES": "1",
        "LOG_LEVEL": "WARNING",
    }
    argv = servers.python("manage.py", "localrealtime", "--port", str(port))
    with servers.running("local-engine", argv, port=port, workdir=workdir, env=env) as engine:
        yield engine


def broker_env(
    workdir: Path, engine: Server, key: str, options: argparse.Namespace
) -> tuple[dict[str, str], list[str]]:
    """Voiceapp's settings pointing at the engine, on a fresh SQLite database, and sessions."""
    url = f"sqlite:///{workdir / 'engine-broker.sqlite3'}"
    env = servers.overridden(voiceapp_env(url, engine, key=key, prefix=PREFIX), options)
    return env, prepare(env, users=10)


async def real_offer() -> str:
    """An offer as a browser makes it: an audio transceiver and the `oai-events` channel."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    peer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        peer.addTransceiver("audio", direction="sendrecv")
        peer.createDataChannel("oai-events")
        await peer.setLocalDescription(await peer.createOffer())
        return peer.localDescription.sdp
    finally:
        await peer.close()


class EngineOffer(HttpPath):
    """The offer posted straight to the engine; the calls it makes are hung up after the round."""

    def __init__(self, engine: Server, key: str, offer: str) -> None:
        self.auth = {"Authorization": f"Bearer {key}"}
        body, content_type = multipart(
            {"sdp": ("application/sdp", offer), "session": ("application/json", SESSION_JSON)}
        )
        headers = {**self.auth, "Content-Type": content_type}
        request = encode_post(engine, f"{PREFIX}/realtime/calls", body, headers)
        super().__init__("direct to engine", engine, request, 201)
        self.engine, self.call_ids = engine, []

    async def post(self) -> None:
        headers = await expect_status(self.client, self.request, self.status)
        self.call_ids.append(headers["location"].rsplit("/", 1)[-1])

    async def prepare(self, concurrency: int) -> list[Operation]:
        return [self.post] * concurrency

    async def finish(self) -> None:
        for call_id in self.call_ids:
            hangup = encode_post(self.engine, f"{PREFIX}/realtime/calls/{call_id}/hangup", b"",
                                 self.auth)  # fmt: skip
            await expect_status(self.client, hangup, 200)
        self.call_ids.clear()


def engine_key_request(engine: Server, key: str) -> HttpPath:
    body = json.dumps({"session": json.loads(SESSION_JSON)}).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    request = encode_post(engine, f"{PREFIX}/realtime/client_secrets", body, headers)
    return HttpPath("direct to engine", engine, request, 200)
