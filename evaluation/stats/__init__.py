"""Pure math over arrays: metric sweeps and threshold choice; no I/O, no pipeline knowledge."""
