"""`manage.py watch_calls`: the sideband watcher beside Daphne (README "Sideband watcher")."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sideband.watcher import Watcher, WatcherConfig
from upstream import realtime


class Command(BaseCommand):
    help = "Attach a sideband to every brokered call and record it; one watcher per call."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-calls", type=int, default=500, help="Calls this process watches at most."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.SIDEBAND_WATCHER_ENABLED:
            self.stderr.write("SIDEBAND_WATCHER_ENABLED is off: not watching any call.")
            return
        asyncio.run(self._watch(WatcherConfig.from_settings(max_calls=options["max_calls"])))

    async def _watch(self, config: WatcherConfig) -> None:
        watcher = Watcher(config)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, watcher.stop)
        try:
            await watcher.run()
        finally:
            await realtime.close_client()
