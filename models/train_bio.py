"""Train the bio emotion model: `python models/train_bio.py --features features/ --weights weights/`."""
import sys

from models.cli import main as train_main


def main(argv: list[str] | None = None) -> int:
    return train_main("bio", argv)


if __name__ == "__main__":
    sys.exit(main())
