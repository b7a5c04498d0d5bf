/**
 * V8 options for Tandem's processes that move disk data, passed on the
 * node command line by whatever launches them: the daemon's own relaunch
 * (appliance/daemon/process-settings.ts) and the benchmark's boxes. They
 * must be given at startup: set later through `v8.setFlagsFromString`,
 * they crashed V8 here.
 *
 * - `--single-threaded-gc --no-incremental-marking`: the replication path
 *   allocates a few GB of short-lived buffers per 2 GiB (worker results,
 *   frames, Noise ciphertext); every 64 MB of such external memory starts a
 *   full collection, and V8's default incremental marking and parallel
 *   helper threads then cost more CPU than the collections themselves on a
 *   small box. Measured on 2 cores (docs/benchmarks.md, bench:p2p): the
 *   primary's CPU for an initial 2 GiB fell from ~22 s to ~16 s.
 * - `--max-semi-space-size=1` (MiB): V8 grows each thread's young
 *   generation up to 16 MiB per semi-space when objects survive, and keeps
 *   it; the daemon's main thread and scan threads then held ~40 MiB more
 *   between cycles, and dead buffers waited longer for the scavenge that
 *   frees them. Cost measured on bench:p2p: none beyond the noise (both
 *   sides' CPU per 2 GiB 11.4 s against 11.8 s; docs/benchmarks.md, bench:p2p).
 * - `--expose-gc`: without incremental marking, a full collection starts
 *   only after ~64 MiB more external memory, so an idle daemon kept the
 *   last cycles' dead buffers (60-110 MiB on the Replica); the Replica
 *   collects once its last session has closed (docs/daemon.md "Process
 *   settings").
 */
export const V8_FLAGS = ['--single-threaded-gc', '--no-incremental-marking', '--max-semi-space-size=1', '--expose-gc'] as const
