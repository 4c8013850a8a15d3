"""Teach vision-language models to find topological errors in segmentations of tubular structures (Topo-R1, ReAL/CGRO, AnomalyR1)."""

__version__ = "0.1.0"
