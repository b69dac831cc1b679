import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# the scripts that made the stored peer numbers (PyBaMM, Larch) need the bench venv: not collected
collect_ignore_glob = ["data/*"]
