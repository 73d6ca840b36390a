"""Validation sweep of the VQ codebook size (transductive): vq_codebook_sweep.py DATASET K1,K2,... N_SEEDS [JSON]."""
import sys, json, time, torch
torch.set_num_threads(1)
import g2m
from g2m.datasets import node_split
from g2m.distill.vqgraph import train_vq_teacher
from g2m.distill.methods import resolve_method
from g2m.distill.student import train_student
from torch_geometric import seed_everything
name = sys.argv[1]; Ks = [int(k) for k in sys.argv[2].split(",")]; seeds = range(int(sys.argv[3]))
extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
ds = g2m.load_dataset(name)  # data root: G2M_DATA_ROOT
for K in Ks:
    tv, tt, sv, st, secs, ppl = [], [], [], [], [], []
    for s in seeds:
        split = node_split(ds, s, "tran"); seed_everything(s); t0 = time.perf_counter()
        run = train_vq_teacher(ds, split, "sage", codebook_size=K, **extra)
        seed_everything(s)
        stu = train_student(ds, split, resolve_method("vqgraph"), run)
        secs.append(time.perf_counter() - t0)
        tv.append(run.metrics["val"]); tt.append(run.metrics["test"]); sv.append(stu.metrics["val"]); st.append(stu.metrics["test"])
        ppl.append(run.extra_metrics.get("perplexity", 0))
    m = lambda a: round(sum(a) / len(a), 2)
    print(json.dumps(dict(ds=name, K=K, **extra, teacher_val=m(tv), teacher_test=m(tt), student_val=m(sv), student_test=m(st), ppl=m(ppl), sec=m(secs))), flush=True)
