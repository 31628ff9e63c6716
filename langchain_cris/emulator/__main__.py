"""``python -m langchain_cris.emulator``: same as ``langchain-cris emulator``."""

from __future__ import annotations

import sys

from langchain_cris.emulator.command import main

if __name__ == "__main__":
    sys.exit(main())
