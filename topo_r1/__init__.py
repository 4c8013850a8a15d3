"""Teach vision-language models to find topological errors in segmentations of tubular structures (Topo-R1, ReAL/CGRO, AnomalyR1).

Modules:

- `topo_r1.baselines`: Training-free detectors to beat: `empty`, `random` and a classical topology detector that checks the mask against ridge and colour evidence from the image."""

__version__ = "0.1.0"
