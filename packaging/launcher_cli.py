"""Entry script of the bundled ``siff`` executable (PyInstaller needs a script, not -m)."""

import sys

from siffviewer.cli import main

if __name__ == "__main__":
    sys.exit(main())
