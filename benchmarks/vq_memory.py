"""Peak memory (max RSS) of VQGraph tokenizer training on one dataset (default a-computer), CPU.

    OMP_NUM_THREADS=1 python benchmarks/vq_memory.py --dataset a-computer --epochs 20

Peak memory per step does not depend on the number of epochs, so a short run measures it.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="a-computer")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from g2m.datasets import load_dataset, node_split
    from g2m.distill.vq_teacher import train_vq_teacher

    ds = load_dataset(args.dataset)
    split = node_split(ds, 0, "tran")
    before = max_rss_mb()
    start = time.perf_counter()
    run = train_vq_teacher(ds, split, "sage", max_epochs=args.epochs, patience=args.epochs, vq_epochs=args.epochs,
                           vq_patience=args.epochs)
    print(f"{args.dataset}: nodes {ds.data.num_nodes}, edges {ds.data.edge_index.size(1)}, "
          f"codebook {run.config['codebook_size']}x{run.config['code_dim']}; "
          f"max RSS after loading {before:.0f} MB, after tokenizer training {max_rss_mb():.0f} MB; "
          f"{2 * args.epochs} epochs in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
