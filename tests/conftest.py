import os, torch
# small CPU ops are much faster single-threaded on a 2-core machine shared with other processes
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
