"""The server's API key never reaches a browser: not in a page, a static file or a socket frame.

A sentinel key is set for the test; a hostile upstream even echoes it back in its error bodies,
which must stay in the server's log.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from tests.signaling.client import SignalingClient
from tests.signaling.conftest import owner_cookie, stub  # noqa: F401  (fixtures)
from tests.signaling.stub_upstream import Canned

SENTINEL = "sk-SENTINEL-never-in-a-browser-0123456789"
OFFER = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\n"
ANSWER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"


@pytest.fixture
def sentinel_key(settings) -> str:
    settings.REALTIME_API_KEY = SENTINEL
    settings.OPENAI_API_KEY = SENTINEL
    settings.LOCAL_REALTIME_API_KEY = SENTINEL
    return SENTINEL


def all_static_files() -> list[Path]:
    found = []
    for finder in finders.get_finders():
        for relative, storage in finder.list(ignore_patterns=[]):
            found.append(Path(storage.path(relative)))
    return found


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/chat/", "/conversations/"])
def test_no_page_holds_the_key(owner_client, sentinel_key, url):
    response = owner_client.get(url)

    assert response.status_code == 200
    assert sentinel_key not in response.content.decode()


@pytest.mark.django_db
def test_the_sign_in_page_does_not_hold_the_key(client, sentinel_key):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert sentinel_key not in response.content.decode()


def test_no_static_file_holds_a_key(settings):
    files = all_static_files()
    keys = {settings.REALTIME_API_KEY, settings.LOCAL_REALTIME_API_KEY} - {""}

    assert any(path.name == "talk-page.js" for path in files)
    for path in files:
        content = path.read_bytes()
        assert not any(key.encode() in content for key in keys), path


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_no_socket_frame_holds_the_key(stub, owner_cookie, sentinel_key, settings):  # noqa: F811
    settings.REALTIME_API_KEY = sentinel_key  # the stub fixture set its own
    echo = json.dumps({"error": {"message": f"bad key {sentinel_key}"}}).encode()
    secret = {"value": "ek_short_lived", "expires_at": 1900000000, "session": {"id": "sess_1"}}
    stub.answer(
        "/realtime/client_secrets",
        Canned(200, {"content-type": "application/json"}, json.dumps(secret).encode()),
    )
    stub.answer("/realtime/calls", Canned(401, {"content-type": "application/json"}, echo))
    stub.answer("/realtime", Canned(401, {"content-type": "application/json"}, echo))
    client = await SignalingClient(owner_cookie).open()
    frames = [client.hello]

    for message in [
        {"type": "call.start"},
        {"type": "call.offer", "sdp": OFFER},
        {"type": "call.start", "mode": "direct"},
        {"type": "call.end"},
        {"type": "call.start", "mode": "text"},
    ]:
        await client.send(message)
        while not await client.nothing_more():
            frames.append(await client.receive())
    await client.close()

    assert {"call.started", "call.key", "error", "call.ended"} <= {f["type"] for f in frames}
    assert all(sentinel_key not in json.dumps(frame) for frame in frames)
    assert all(
        seen.headers.get("authorization") == f"Bearer {sentinel_key}" for seen in stub.seen[:2]
    )
