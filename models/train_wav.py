"""Train the wav emotion model: `python models/train_wav.py --features features/ --weights weights/`."""
import sys

from models.cli import main as train_main


def main(argv: list[str] | None = None) -> int:
    return train_main("wav", argv)


if __name__ == "__main__":
    sys.exit(main())
