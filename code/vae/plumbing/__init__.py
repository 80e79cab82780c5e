"""The plumbing under the chapters: nothing here is a step of the report, everything here keeps
the steps honest. Nothing here imports a chapter module: what the plumbing runs (a training
step to capture) is passed in.

- `artifacts`: every file written atomically (write_atomic), folder locks, stale scratch.
- `outdir`: the output folders a command owns (locked while it runs).
- `console`: signals, the log file and the one-line error a user sees.
- `errors`: `ConfigError` and `TrainingError`, the errors meant for users.
- `consistency`: the site's check that every asset comes from one report.
- `device`: the speed policy (device, layout, optimizer kernel, precision, evaluation batch).
- `kernels`: what the policy changes from outside the model and the loss (fp32 layers, the BCE kernel).
- `cuda_graph`: the training step captured as a CUDA graph.
"""
