"""The page's signaling socket routed through Playwright, so a test can cut it and restore it.

While the line is down, every new socket the page opens is closed at once, as if the server
were unreachable; the WebRTC call itself is untouched.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, WebSocketRoute

SIGNALING_URL = re.compile(r".*/ws/signaling/$")


class SignalingLine:
    def __init__(self, page: Page) -> None:
        self.up = True
        self._open: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        page.route_web_socket(SIGNALING_URL, self._route)

    def cut(self) -> None:
        self.up = False
        for page_side, server_side in self._open:
            page_side.close(code=1011, reason="line cut by the test")
            server_side.close()
        self._open.clear()

    def restore(self) -> None:
        self.up = True

    def _route(self, page_side: WebSocketRoute) -> None:
        if not self.up:
            page_side.close(code=1011, reason="line down")
            return
        self._open.append((page_side, page_side.connect_to_server()))
