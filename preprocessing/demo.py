"""Write the synthetic demo corpus: `python preprocessing/demo.py --out DIR [--layout kemdy20|kemdy19]`.

The generator lives in ``preprocessing.demo_corpus``; this is its command line.
"""
import sys

from preprocessing.demo_corpus.writer import main

if __name__ == "__main__":
    sys.exit(main())
