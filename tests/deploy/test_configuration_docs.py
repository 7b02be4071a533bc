"""README's "Configuration" table lists exactly the environment variables settings.py reads."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
_READ = re.compile(r"""env_(?:str|bool|int|list)\(\s*["']([A-Z0-9_]+)["']""")
_ROW = re.compile(r"^\| `([A-Z0-9_]+)` \|", re.M)


def variables_read_by_settings() -> set[str]:
    return set(_READ.findall((BASE_DIR / "voiceapp" / "settings.py").read_text()))


def variables_in_the_configuration_table() -> set[str]:
    readme = (BASE_DIR / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return set(_ROW.findall(section))


def test_every_variable_settings_reads_is_documented_and_no_other() -> None:
    read = variables_read_by_settings()

    assert len(read) > 30, "the pattern no longer finds the reads in settings.py"
    assert variables_in_the_configuration_table() == read
