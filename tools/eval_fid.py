"""FID (and IS) between image folders, .npz statistics and checkpoints.

    python tools/eval_fid.py data/horse2zebra/testB work_dirs/h2z/iter_100.pth --num 5000
    python tools/eval_fid.py data/horse2zebra/testB --save-stats real.npz

See ``python tools/eval_fid.py --help`` and docs/evaluation.md.
"""
import sys

from gancore.evaluation.cli import main

if __name__ == '__main__':
    sys.exit(main())
