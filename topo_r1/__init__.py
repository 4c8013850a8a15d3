"Teach vision-language models to find topological errors in segmentations of tubular structures."
__version__ = "0.1.0"
