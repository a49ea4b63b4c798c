"""The synthetic demo corpus in the exact KEMDy20 / KEMDy19 layouts.

``plan`` decides who says what when and how it is rated, ``signals`` makes the speech,
text and bio-signals that carry each utterance's emotion, ``writer`` writes them in a layout.
"""
