"""`manage.py sweep_calls [--once]`: end voice calls no signaling socket has held for
LIVE_STALE_CALL_SECONDS (their process was killed). Runs every LIVE_SWEEP_SECONDS until
stopped, or one pass with `--once` (e.g. from cron)."""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from live.sweeper import sweep
from upstream import realtime


class Command(BaseCommand):
    help = "End calls that no signaling socket holds any more (their Daphne process died)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args: object, once: bool, **options: object) -> None:
        asyncio.run(self._run(once))

    async def _run(self, once: bool) -> None:
        try:
            while True:
                ended = await sweep(stale_after=settings.LIVE_STALE_CALL_SECONDS)
                if ended:
                    self.stdout.write(f"ended {len(ended)} stale call(s): {ended}")
                if once:
                    return
                await asyncio.sleep(settings.LIVE_SWEEP_SECONDS)
        finally:
            await realtime.close_client()
