"""Make tests/golden/enhancenet_release_small.{ckpt,npz}: EnhanceNet's own graph code, random weights,
saved by TensorFlow itself as a V1 checkpoint, and its output on a small input.

The release: https://github.com/msmsajjadi/EnhanceNet-Code at commit a7309caf804ea1b10c1f973a6da9fc68658cbc47
(`nnlib.py`: conv / relu / upsample / resi / NN; `enhancenet.py`: the generator's layer list,
PER_CHANNEL_MEANS and the bicubic base). Get it with

    git clone https://github.com/msmsajjadi/EnhanceNet-Code && git -C EnhanceNet-Code checkout a7309caf804ea1b10c1f973a6da9fc68658cbc47

The release targets TensorFlow 0.12 (`run.sh`), which no longer installs; this script runs its
`nnlib.py` unchanged under TensorFlow 2's `tf.compat.v1` (graph mode), whose
`image.resize_images` keeps the 0.12 behaviour (legacy bicubic / nearest, no half-pixel centres),
with `tf.contrib.layers.convolution2d` provided by tf-slim (the same op and variable names,
`Conv/weights`, `Conv/biases`). In a separate environment (not the suite's):

    python -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu tf-slim
    /tmp/tfenv/bin/python tests/golden/make_enhancenet_release_small.py EnhanceNet-Code

It builds the generator exactly as `enhancenet.py` does, with a reduced configuration (8 filters
instead of 64, 2 residual blocks instead of 10; `nnlib.conv`'s `n` argument), sets every variable
to seeded normal values (std 0.1, biases too), saves them with `tf.train.Saver(write_version=V1)`
(the format of the release's `weights` file) as `enhancenet_release_small.ckpt`, and runs
``ys_est = NN(xs) + resize_images(xs, 4×, BICUBIC) + PER_CHANNEL_MEANS`` on ``xs = img -
PER_CHANNEL_MEANS`` for a 1×5×6×3 image in [0, 1] (NHWC). `enhancenet_release_small.npz` holds
`input` (the image, NHWC float32), `output` (ys_est, 1×20×24×3 float32) and `bicubic`
(resize_images of the image alone). `tests/test_gan_rows.py` reads the checkpoint with
`foundation.tf_checkpoint` and compares `enet`'s network with it (max abs diff ≤ 1e-5).
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

COMMIT = "a7309caf804ea1b10c1f973a6da9fc68658cbc47"
N_FEATS, N_BLOCKS = 8, 2
HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("release", type=Path, help=f"the EnhanceNet-Code checkout (at commit {COMMIT})")
    args = parser.parse_args()

    import tensorflow.compat.v1 as tf
    import tf_slim

    tf.disable_v2_behavior()
    tf.contrib = types.SimpleNamespace(layers=tf_slim.layers)
    sys.modules["tensorflow"] = tf  # nnlib's `import tensorflow as tf` gets the 1.x API
    try:
        import scipy.misc  # noqa: F401  (nnlib imports it for saveimg, not used here)
    except ImportError:
        sys.modules["scipy"] = types.ModuleType("scipy")
        sys.modules["scipy.misc"] = types.ModuleType("scipy.misc")
    sys.path.insert(0, str(args.release))
    import nnlib  # the release's module

    source = (args.release / "enhancenet.py").read_text()
    means = np.array([float(v) for v in re.search(r"PER_CHANNEL_MEANS = np.array\(\[([^\]]*)\]", source)
                      .group(1).split(",")])
    rng = np.random.default_rng(0)
    image = rng.uniform(0.0, 1.0, (1, 5, 6, 3))
    conv, relu, upsample, resi, NN = nnlib.conv, nnlib.relu, nnlib.upsample, nnlib.resi, nnlib.NN
    xs = tf.placeholder(tf.float32, [1, 5, 6, 3])
    rblock = [resi, [[conv, N_FEATS], [relu], [conv, N_FEATS]]]
    ys_est = NN("generator", [xs, [conv, N_FEATS], [relu], *[rblock] * N_BLOCKS,
                              [upsample], [conv, N_FEATS], [relu], [upsample], [conv, N_FEATS], [relu],
                              [conv, N_FEATS], [relu], [conv, 3]])
    ys_res = tf.image.resize_images(xs, [4 * 5, 4 * 6], method=tf.image.ResizeMethod.BICUBIC)
    ys_est += ys_res + means
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for var in tf.global_variables():
            var.load(rng.normal(0.0, 0.1, var.shape.as_list()).astype(np.float32), sess)
        with tempfile.TemporaryDirectory() as tmp:
            saver = tf.train.Saver(write_version=tf.train.SaverDef.V1)
            saved = saver.save(sess, str(Path(tmp) / "weights"), write_meta_graph=False)
            shutil.copyfile(saved, HERE / "enhancenet_release_small.ckpt")
        output, bicubic = sess.run([ys_est, ys_res + means], feed_dict={xs: image - means})
    np.savez(HERE / "enhancenet_release_small.npz", input=image.astype(np.float32), output=output,
             bicubic=bicubic, source=np.array(f"https://github.com/msmsajjadi/EnhanceNet-Code@{COMMIT} "
                                              f"nnlib.py + enhancenet.py, n_feats {N_FEATS}, blocks {N_BLOCKS}"))
    print(f"wrote {HERE / 'enhancenet_release_small.ckpt'} and .npz: output {output.shape}, "
          f"variables {[v.name for v in tf.global_variables()][:3]}...")


if __name__ == "__main__":
    main()
