"""Feature extraction, one module per modality: the single implementation that preparation,
training, cross-validation, voting and prediction all call.

``audio`` (+ ``mfcc``, ``wav_pcm``, ``audio_cache``, ``audio_store``): MFCC maps;
``text``: cleaned transcripts and Mecab morphemes; ``bio`` (+ ``bio_files``, ``bio_rows``):
E4 / ECG statistics per segment.
"""
