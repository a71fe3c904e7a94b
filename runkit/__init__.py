"""What every tool run shares: the typed config, process set-up (threads,
CPU fast path, device, seeds), checkpoints, atomic result files, metrics and
the command-line wrapper."""
