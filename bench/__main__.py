"""`.venv/bin/python -m bench [--quick]` from the repository root."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.run import main

raise SystemExit(main())
