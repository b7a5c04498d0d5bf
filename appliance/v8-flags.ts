/**
 * V8 options for Tandem's processes that move disk data, passed on the
 * node command line by whatever launches them (the benchmark's boxes today,
 * the appliance daemon's launcher later). The replication path allocates a
 * few GB of short-lived buffers per 2 GiB (worker results, frames, Noise
 * ciphertext); every 64 MB of such external memory starts a full
 * collection, and V8's default incremental marking and parallel helper
 * threads then cost more CPU than the collections themselves on a small
 * box. Measured on 2 cores (docs/benchmarks.md, bench:p2p): the primary's
 * CPU for an initial 2 GiB fell from ~22 s to ~16 s, peak memory stayed
 * under 400 MiB. They must be given at startup: set later through
 * `v8.setFlagsFromString`, they crashed V8 here.
 */
export const V8_FLAGS = ['--single-threaded-gc', '--no-incremental-marking'] as const
