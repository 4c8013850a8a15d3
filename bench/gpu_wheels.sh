#!/usr/bin/env bash
# The wheels bench/gpu_check.py needs on a bare GPU machine (Python 3.12, manylinux x86_64) that has PyTorch,
# transformers, accelerate, PEFT, numpy, scipy, scikit-image, pandas, pyarrow and the like, but not TRL or datasets,
# and cannot download. Run it here, where pip can download; it fills .whl/ (git-ignored), at most 60 MB.
#
#   bash bench/gpu_wheels.sh                 # then, on the GPU machine, from the repository root:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && PYTHONPATH=/tmp/site:. python3 bench/gpu_check.py
#
# What `import topo_r1.train, topo_r1.tracing, topo_r1.rewards, topo_r1.cgro` and the check pull in that such a
# machine lacks: trl, datasets and datasets' own dill and multiprocess; peft travels at the version tested here.
# gudhi, skan, fastcore, papermill and the notebook packages are not imported. The machine's own transformers 5.17,
# huggingface_hub 1.33 and accelerate 1.15 stay: the check's --smoke passed with exactly those here (older than the
# kit's transformers >= 5.20; the check prints a warning). datasets 5.2 declares pyarrow >= 24 (not checked at
# import); the machine's pyarrow version is not known here. WITH_PYARROW=1 adds pyarrow 26.0.1 (55 MB: 57 MB in all,
# more than the device tool carries beside the repository, so it is off by default).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.whl}
WHEELS=(trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 peft==0.22.0)
[ "${WITH_PYARROW:-0}" = 1 ] && WHEELS+=(pyarrow==26.0.1)
mkdir -p "$OUT"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$OUT" "${WHEELS[@]}"
ls -1 "$OUT"
total=$(du -cb "$OUT"/*.whl | tail -1 | cut -f1)
echo "total: $((total / 1000000)) MB in $(ls "$OUT"/*.whl | wc -l) wheels ($OUT)"
if [ "$total" -gt 60000000 ]; then echo "over the 60 MB budget" >&2; exit 1; fi
