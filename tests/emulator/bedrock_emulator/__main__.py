"""``python tests/emulator/bedrock_emulator [--host H] [--port P] ...`` (the directory) or
``python -m bedrock_emulator ...`` (with tests/emulator on the path): start the emulator."""

import sys
from pathlib import Path

if not __package__:
    # Run as a directory: Python put this directory itself first on sys.path; put its parent
    # there instead so the package imports as `bedrock_emulator` (and its module names, such as
    # `validation`, do not shadow anything).
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bedrock_emulator.server import main  # noqa: E402

sys.exit(main())
