"""A real PyTorch DDP replica (gloo, CPU): trains a small model for a few steps on data of its own rank.

Writes `<SUBMARINE_PARAM_OUT>/rank<RANK>.json` with its own random parameters, those after DDP's broadcast
and the final ones (flattened). Every rank
sees different data, so the replicas end with identical parameters only if the all-reduce really happened.
"""

import datetime
import json
import os

import torch
import torch.distributed as dist
import torch.distributed.nn  # noqa: F401 (before init_process_group: see below)
from torch import nn

# torch.distributed.nn.functional's collectives take `group=group.WORLD` as a default argument. Imported
# after init_process_group (DDP imports it), those defaults hold the group for good: destroy_process_group
# cannot free it, and its gloo threads, still running at interpreter exit, can abort the replica (exit 134).
# Imported first, the defaults are None.
torch.set_num_threads(1)
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=120))  # MASTER_ADDR/PORT, RANK, WORLD_SIZE
assert dist.get_rank() == rank and dist.get_world_size() == world

torch.manual_seed(1234 + rank)  # a different initial model per rank: DDP must broadcast rank 0's
model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
own = torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()
ddp = nn.parallel.DistributedDataParallel(model)
initial = torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()  # after DDP's broadcast

data = torch.Generator().manual_seed(rank)  # different data per rank
optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
steps = int(os.environ.get("SUBMARINE_PARAM_STEPS", "5"))
for step in range(steps):
    x = torch.randn(32, 8, generator=data)
    y = x.sum(dim=1, keepdim=True) * (rank + 1)  # a different target per rank too
    loss = nn.functional.mse_loss(ddp(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(f"rank {rank} step {step} loss {loss.item():.4f}", flush=True)

final = torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()
out = os.environ["SUBMARINE_PARAM_OUT"]
with open(os.path.join(out, f"rank{rank}.json.tmp"), "w") as f:
    json.dump({"own": own, "initial": initial, "final": final, "steps": steps}, f)
os.replace(os.path.join(out, f"rank{rank}.json.tmp"), os.path.join(out, f"rank{rank}.json"))
dist.barrier()
del ddp, optimizer  # DDP holds the group too: released, destroy closes it (and joins its threads) now
dist.destroy_process_group()
print(f"rank {rank} done", flush=True)
