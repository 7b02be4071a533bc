"""The usual FastAPI broker, written for Voiceapp's benchmark.

One POST endpoint forwards the browser's SDP offer to the Realtime API (multipart, server key) and
returns the answer; another mints an ephemeral key. Unlike many tutorials it keeps one shared
`httpx.AsyncClient` (opened in the lifespan), so the comparison is against a well-written proxy,
not one that opens a connection per request. No auth, no storage.

Run: `uvicorn bench.alternatives.fastapi_proxy:app --port N` with OPENAI_BASE_URL and
OPENAI_API_KEY in the environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request, Response

BASE_URL = os.environ.get("OPENAI_BASE_URL", "")
API_KEY = os.environ.get("OPENAI_API_KEY", "")
SESSION_CONFIG = {
    "type": "realtime",
    "model": "gpt-realtime-2.1",
    "audio": {
        "input": {
            "transcription": {"model": "gpt-4o-mini-transcribe"},
            "turn_detection": {"type": "server_vad"},
        },
        "output": {"voice": "marin"},
    },
}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The pool is sized for the benchmark's 200 calls in flight, as a tuned proxy would be.
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    async with httpx.AsyncClient(timeout=20, limits=limits) as client:
        app.state.client = client
        yield


app = FastAPI(lifespan=lifespan)


@app.post("/session")
async def session(request: Request) -> Response:
    files = {
        "sdp": (None, await request.body(), "application/sdp"),
        "session": (None, json.dumps(SESSION_CONFIG), "application/json"),
    }
    upstream = await request.app.state.client.post(
        f"{BASE_URL}/realtime/calls", headers={"Authorization": f"Bearer {API_KEY}"}, files=files
    )
    return Response(upstream.content, upstream.status_code, media_type="application/sdp")


@app.post("/token")
async def token(request: Request) -> Response:
    upstream = await request.app.state.client.post(
        f"{BASE_URL}/realtime/client_secrets",
        headers={"Authorization": f"Bearer {API_KEY}"},
        json={"session": SESSION_CONFIG},
    )
    return Response(upstream.content, upstream.status_code, media_type="application/json")
