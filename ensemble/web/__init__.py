"""The local web page (``ensemble/serve.py``): try a recording, read a run's results and its corpus as pictures."""
