"""Entry point of the PyInstaller executable: the same as `python -m app`."""

import sys

from app.__main__ import main

if __name__ in {"__main__", "__mp_main__"}:
    sys.exit(main())
