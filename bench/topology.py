"""Speed of `betti_numbers` against gudhi's cubical complex and one `scipy.ndimage.label` pass, measured side by side.

Run: `.venv/bin/python bench/topology.py [--reps N] [--gudhi-reps N]`. Masks are realistic tubular masks:
synthetic roads / cracks / vessels scenes at each size, plus real DRIVE / CrackForest / roads masks tiled to the
size when the datasets are found. Prints per size the median time of each method and the ratios.
"""
import argparse, time
import numpy as np
import gudhi
from scipy import ndimage as ndi
from topo_r1.topology import betti_numbers, STRUCT8
from topo_r1.sources import find_real_datasets, list_real
from topo_r1.synthetic import make_scene

def gudhi_betti(mask):
    "Reference Betti numbers: sublevel set {0} of a cubical complex (foreground 0, background 1, padded)."
    cc = gudhi.CubicalComplex(top_dimensional_cells=np.where(np.pad(mask, 1), 0.0, 1.0))
    cc.compute_persistence()
    return tuple(int(b) for b in cc.persistent_betti_numbers(0.0, 0.0))[:2]

def masks_for(size, real):
    "Synthetic scenes of each domain plus real masks tiled (reflected) to size x size."
    out = [make_scene(d, size=size, rng=i)[1] for i, d in enumerate(("roads", "cracks", "vessels"))]
    for m in real:
        reps = (-(-size // m.shape[0]), -(-size // m.shape[1]))
        out.append(np.tile(m, reps)[:size, :size].copy())
    return out

def median_ms(fns, masks, reps):
    "Median over masks of the median time (ms) over reps calls, for each of fns; calls are interleaved."
    per = np.zeros((len(fns), len(masks)))
    for j, m in enumerate(masks):
        ts = np.zeros((len(fns), reps))
        for r in range(reps):
            for i, fn in enumerate(fns):
                t0 = time.perf_counter(); fn(m); ts[i, r] = time.perf_counter() - t0
        per[:, j] = np.median(ts, axis=1)
    return 1e3 * np.median(per, axis=1)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=30); p.add_argument("--gudhi-reps", type=int, default=2)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ns = p.parse_args()
    real = [list_real(n)[0].load()[1] for n in find_real_datasets()]
    print(f"masks per size: 3 synthetic + {len(real)} real (tiled); reps {ns.reps} (gudhi {ns.gudhi_reps})")
    print(f"{'size':>6} {'betti ms':>10} {'label ms':>10} {'gudhi ms':>10} {'betti/label':>12} {'gudhi/betti':>12}")
    for size in ns.sizes:
        masks = masks_for(size, real)
        tb, tl = median_ms([betti_numbers, lambda m: ndi.label(m, STRUCT8)], masks, ns.reps)
        tg, = median_ms([gudhi_betti], masks, ns.gudhi_reps if size < 1024 else 1)
        if size <= 512: assert all(betti_numbers(m) == gudhi_betti(m) for m in masks), "mismatch with gudhi"
        print(f"{size:>5}² {tb:>10.2f} {tl:>10.2f} {tg:>10.1f} {tb / tl:>11.2f}× {tg / tb:>11.0f}×")

if __name__ == "__main__":
    main()
