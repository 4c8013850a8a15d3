"""Generation throughput of `topo_r1.vlm.generate` on tiny models (CPU by default), by batch size.

    python bench/generation.py [--rows 8] [--new-tokens 32] [--repeats 3] [--size 128] [--device cpu]

Prints, per family and batch size, the median wall time over `--repeats` runs, new tokens per second
(every completion is forced to `--new-tokens` tokens) and the speed-up over batch size 1, all measured in this run.
"""
import argparse, statistics, time

import torch

from topo_r1.families import FAMILIES
from topo_r1.tiny import tiny_vlm
from topo_r1.views import toy_row
from topo_r1.vlm import generate


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--size", type=int, default=128, help="image side in pixels")
    p.add_argument("--batch-sizes", default="1,4,8")
    p.add_argument("--device", default="cpu")
    ns = p.parse_args()
    rows = [toy_row(ns.size, rng=i, sample_id=f"b{i}") for i in range(ns.rows)]
    print(f"torch {torch.__version__}, device {ns.device}, threads {torch.get_num_threads()}, "
          f"{ns.rows} rows of {ns.size}px, {ns.new_tokens} new tokens each, median of {ns.repeats}")
    print(f"{'family':<12}{'batch':>6}{'median s':>10}{'tok/s':>9}{'vs bs=1':>9}")
    for fam in FAMILIES:
        model, processor = tiny_vlm(fam)
        model.to(ns.device)
        base = None
        for bs in map(int, ns.batch_sizes.split(",")):
            generate(model, processor, fam, rows[:bs], batch_size=bs, max_new_tokens=ns.new_tokens, progress=False)  # warm-up
            times = []
            for _ in range(ns.repeats):
                t = time.perf_counter()
                generate(model, processor, fam, rows, batch_size=bs, max_new_tokens=ns.new_tokens, min_new_tokens=ns.new_tokens,
                         progress=False)
                times.append(time.perf_counter() - t)
            med = statistics.median(times)
            base = base or med
            print(f"{fam:<12}{bs:>6}{med:>10.2f}{ns.rows * ns.new_tokens / med:>9.0f}{base / med:>9.2f}")


if __name__ == "__main__":
    main()
