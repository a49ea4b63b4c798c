"""Train the wav emotion model: `python models/train_wav.py --features features/ --weights weights/`."""
if __name__ == "__main__" and __package__ in (None, ""):
    import pathlib
    import sys

    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])

import sys

from models.cli import main

if __name__ == "__main__":
    sys.exit(main("wav"))
