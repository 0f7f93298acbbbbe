#!/usr/bin/env python
"""Write the key names and shapes of the official QANet checkpoints (one gzip'd JSON per released
model) from an official checkout; the converter tests read them (no official code in CI).

    python projects/QANet/tools/make_official_fixtures.py --official-src /path/to/QANet \\
        --out tests/qanet/fixtures
"""

import argparse
import gzip
import json
import sys
from pathlib import Path

import humanparse_d2  # noqa: F401
from humanparse_d2 import get_humanparse_cfg
from humanparse_d2.projects.qanet.official import build_official_qanet
from humanparse_d2.projects.qanet.official.official_model import import_official

REPO = Path(__file__).resolve().parents[3]
# our config -> the official config of the released model it reproduces
RELEASED = {
    "CIHP/QANet_R50c_512x384.yaml": "cfgs/CIHP/QANet/QANet_R-50c_512x384_1x.yaml",
    "CIHP/QANet_R101d_512x384.yaml": "cfgs/CIHP/QANet/QANet_R-101d_512x384_1x.yaml",
    "CIHP/QANet_HRNetW48_512x384.yaml": "cfgs/CIHP/QANet/QANet_H-W48_512x384_1x.yaml",
    "CIHP/QANet_HRNetW48_544x416.yaml": "cfgs/CIHP/QANet/QANet_H-W48_544x416_1x.yaml",
    "LIP/QANet_HRNetW48_512x384.yaml": "cfgs/LIP/QANet/QANet_H-W48_512x384_1x.yaml",
    "LIP/QANet_HRNetW48_544x416.yaml": "cfgs/LIP/QANet/QANet_H-W48_544x416_1x.yaml",
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--official-src", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=REPO / "tests/qanet/fixtures")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    import_official(args.official_src)
    from qanet.core.config import get_cfg as official_get_cfg

    for ours, theirs in RELEASED.items():
        cfg = get_humanparse_cfg()
        cfg.merge_from_file(str(REPO / "projects/QANet/configs" / ours))
        cfg.MODEL.DEVICE = "cpu"
        model, ocfg = build_official_qanet(args.official_src, cfg)
        # the official yaml must describe the same network as the config we derived
        ref = official_get_cfg()
        ref.merge_from_file(str(args.official_src / theirs))
        ref_model = type(model)(ref)
        ref_shapes = {k: list(v.shape) for k, v in ref_model.state_dict().items()}
        shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
        if shapes != ref_shapes:
            print(f"{ours}: derived official network differs from {theirs}", file=sys.stderr)
            return 1
        name = Path(ours).with_suffix("").as_posix().replace("/", "_") + ".keys.json.gz"
        with gzip.open(args.out / name, "wt") as f:
            json.dump(
                {"official_config": theirs, "our_config": ours, "shapes": shapes},
                f,
                separators=(",", ":"),
            )
        print(f"{name}: {len(shapes)} tensors (official {theirs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
