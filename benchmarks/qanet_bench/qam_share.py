"""QAM's share of QANet inference time: ``pixel_scores_from_max`` + ``fuse_quality`` against the
whole ``QANet.inference`` call (oracle boxes, 3 persons per image)."""

import time

from _common import qanet_cfg, sync, timed_qam

from .inputs import R18_QUICK, R50_PAPER, synthetic_images

QAM_MODELS = {  # name -> (config, timed images = --images // this): the cheapest parser (QAM's largest
    # share) and the paper's, ~15x slower per image
    "R18-FPN 256x192 (quick)": (R18_QUICK, 1),
    "R50-FPN 512x384 (paper)": (R50_PAPER, 4),
}


def bench_qam_share(device, n_images, name="R18-FPN 256x192 (quick)"):
    """Time QANet.inference with oracle boxes; QAM = pixel scores (from the max/argmax the label maps
    need anyway) + fusion."""
    import torch
    from detectron2.modeling import build_model

    cfg = qanet_cfg(QAM_MODELS[name][0], device, ["MODEL.QANET.BOX_SOURCE", "oracle"])
    model = build_model(cfg).eval()
    with timed_qam(device) as spent:
        imgs = synthetic_images(n_images)
        with torch.no_grad():
            model(imgs[:1])
            spent["qam"] = 0.0
            sync(device)
            t0 = time.perf_counter()
            for x in imgs:
                model([x])
            sync(device)
            total = time.perf_counter() - t0
    share = spent["qam"] / total
    qam_ms = spent["qam"] * 1e3 / n_images
    print(
        f"  QANet {name} inference (3 persons, flip): {n_images / total:.2f} images/s; "
        f"QAM {qam_ms:.2f} ms/image = {100 * share:.3f}% of inference time",
        flush=True,
    )
    return {
        "model": name,
        "images_per_s": round(n_images / total, 3),
        "qam_ms_per_image": round(qam_ms, 3),
        "qam_share_percent": round(100 * share, 4),
        "persons_per_image": 3,
        "images": n_images,
    }
