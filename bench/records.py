"""What the database holds for some conversations: `python -m bench.records ID…` prints, as JSON,
`{id: {"turns": n, "usages": n, "digest": sha256}}` for the ingestion check.

Run in a child process with the benchmark's environment, like bench/accounts.py. The digest
covers each turn's item id, role, text and position, in stored order, so a lost, doubled,
altered or misordered turn changes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys


def turn_digest(rows: list[tuple[str, str, str, int]]) -> str:
    """The digest of turns given as (item_id, role, text, position), in position order."""
    lines = "\n".join(f"{item}\t{role}\t{text}\t{position}" for item, role, text, position in rows)
    return hashlib.sha256(lines.encode()).hexdigest()


def describe(conversation_id: int) -> dict[str, object]:
    from conversations.models import Conversation

    conversation = Conversation.objects.get(pk=conversation_id)
    turns = conversation.turns.order_by("position", "id")
    rows = list(turns.values_list("item_id", "role", "text", "position"))
    return {
        "turns": len(rows),
        "usages": conversation.responses.count(),
        "digest": turn_digest(rows),
    }


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceapp.settings")
    import django

    django.setup()
    ids = [int(value) for value in sys.argv[1:]]
    print(json.dumps({str(pk): describe(pk) for pk in ids}))


if __name__ == "__main__":
    main()
