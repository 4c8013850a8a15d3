"""Speed of `topo-r1 check` with the classical detector on full-size DRIVE images, and its tiling overhead.

    python bench/check.py [--images 5] [--repeats 3] [--out bench/results/check.json] [--picture nbs/images/check_overlay.png]

Measured side by side in one run, on the first N DRIVE test images (565×584, their manual masks):
- `check_masks`: read each pair, tile it (256 px, 32 px overlap: 9 tiles), run the classical detector on every
  tile with foreground, map the boxes back and merge duplicates;
- `one by one`: read each pair and call `baselines.classical_baseline` on exactly the same tiles, nothing else;
- `topo-r1 check` end to end (once): a fresh process, pairing, the same work, plus detections.jsonl, overlays,
  report.md and manifest.json.
The tiling overhead is the median over repeats of check_masks time / one-by-one time - 1. Reads real data from
`real_data_roots` (settings.ini); nothing is copied (the folders handed to the CLI hold symbolic links).
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")


def drive_items(n: int) -> list:
    "The first `n` DRIVE test items (SourceItems) found under real_data_roots."
    from topo_r1.sources import list_real
    items = [i for i in list_real("drive") if "_test" in i.source_id] or list_real("drive")
    return items[:n]


def link_folder(items, root: Path) -> tuple[Path, Path]:
    "images/ and masks/ folders of symbolic links to the items' files, paired by the image stem."
    (root / "images").mkdir(parents=True); (root / "masks").mkdir()
    for it in items:
        (root / "images" / it.image_path.name).symlink_to(it.image_path)
        (root / "masks" / f"{it.image_path.stem}{it.mask_path.suffix}").symlink_to(it.mask_path)
    return root / "images", root / "masks"


def one_by_one(pairs, tile: int, overlap: int) -> int:
    "Read each pair and run the classical detector on the same tiles as `check_masks`; returns the tiles scored."
    from topo_r1.baselines import classical_baseline
    from topo_r1.check import read_pair, tile_grid
    n = 0
    for im, m in pairs:
        image, mask = read_pair(im, m)
        for g in tile_grid(mask.shape, tile, overlap):
            sl = (slice(g["row"], g["row"] + g["height"]), slice(g["col"], g["col"] + g["width"]))
            if mask[sl].any(): classical_baseline(image[sl], mask[sl], domain="vessels"); n += 1
    return n


def run(n_images: int = 5, repeats: int = 3, tile: int = 256, overlap: int = 32) -> dict:
    "Time check_masks against one-by-one tiles (`repeats` alternating rounds) and the CLI once."
    from topo_r1.check import check_masks, pair_files
    items = drive_items(n_images)
    tmp = Path(tempfile.mkdtemp(prefix="bench-check-"))
    images, masks = link_folder(items, tmp)
    pairs, _ = pair_files(images, masks)
    t_check, t_single, tiles = [], [], 0
    for _ in range(repeats):
        t0 = time.perf_counter(); rows = check_masks(pairs, "classical", tile, overlap, domain="vessels", progress=False)
        t_check.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); tiles = one_by_one(pairs, tile, overlap); t_single.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "topo_r1.cli", "check", "--images", str(images), "--masks", str(masks),
                    "--domain", "vessels", "--out", str(tmp / "out"), "--quiet"], check=True, capture_output=True)
    t_cli = time.perf_counter() - t0
    ratio = float(np.median(np.array(t_check) / np.array(t_single)))
    return {"images": len(pairs), "size": "565x584", "tile": tile, "overlap": overlap,
            "tiles_per_image": rows[0]["n_tiles"], "tiles_with_foreground": tiles,
            "detections": sum(len(r.get("detections", [])) for r in rows), "repeats": repeats,
            "check_masks_s": t_check, "one_by_one_s": t_single,
            "check_images_per_s": len(pairs) / float(np.median(t_check)),
            "one_by_one_images_per_s": len(pairs) / float(np.median(t_single)),
            "tiling_overhead": ratio - 1, "cli_end_to_end_s": t_cli, "cli_images_per_s": len(pairs) / t_cli}


def picture(path: str, seed: int = 0) -> str:
    "The README picture: `topo-r1 check`'s overlay of a synthetic 565×584 vessel scene with 8 injected errors (no real data)."
    import matplotlib; matplotlib.use("Agg")
    from PIL import Image
    from topo_r1.check import check_masks, plot_check
    from topo_r1.inject import inject_errors
    from topo_r1.metrics import detection_scores, format_score
    from topo_r1.synthetic import make_scene
    image, clean = make_scene("vessels", (584, 565), seed)
    mask, errors = inject_errors(clean, 8, rng=seed)
    row = check_masks([(image, mask)], "classical", domain="vessels", progress=False)[0]
    fig = plot_check(image, mask, row["detections"])
    tmp = Path(tempfile.mkdtemp()) / "overlay.png"
    fig.savefig(tmp)
    Path(path).parent.mkdir(parents=True, exist_ok=True)       # a 256-colour PNG keeps the file small
    Image.open(tmp).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path, optimize=True)
    f1 = detection_scores([row["detections"]], [[e.to_detection() for e in errors]])["F1@0.3"]
    return f"wrote {path}: {len(errors)} injected errors, {len(row['detections'])} boxes found, F1@0.3 {format_score(f1, digits=0)}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=5, help="DRIVE images (default 5)")
    p.add_argument("--repeats", type=int, default=3, help="alternating rounds (default 3)")
    p.add_argument("--out", default="bench/results/check.json", help="where to write the JSON")
    p.add_argument("--picture", default=None, help="also write the README picture (synthetic scene) to this path")
    ns = p.parse_args(argv)
    if ns.picture: print(picture(ns.picture))
    try: res = run(ns.images, ns.repeats)
    except FileNotFoundError as e:
        print(f"bench/check.py needs DRIVE under real_data_roots: {e}"); return 0
    Path(ns.out).parent.mkdir(parents=True, exist_ok=True)
    Path(ns.out).write_text(json.dumps(res, indent=2))
    print(f"{res['images']} DRIVE images (565×584, {res['tiles_per_image']} tiles of {res['tile']} px each, "
          f"{res['tiles_with_foreground']} with foreground), {res['repeats']} rounds, medians:")
    print(f"  check_masks         {res['check_images_per_s']:.3f} images/s")
    print(f"  same tiles 1 by 1   {res['one_by_one_images_per_s']:.3f} images/s")
    print(f"  tiling overhead     {100 * res['tiling_overhead']:+.1f} %")
    print(f"  topo-r1 check CLI   {res['cli_images_per_s']:.3f} images/s end to end (fresh process, overlays, report; once)")
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__": sys.exit(main())
