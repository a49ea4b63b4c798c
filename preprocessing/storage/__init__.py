"""Writing and reading prepared features: the feature folder (``feature_store``), its bindings,
row-wise ``.npy`` writing, atomic files and the output-folder lock."""
