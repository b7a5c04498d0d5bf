/**
 * A full garbage collection of the daemon's main thread, when V8 exposes
 * one (`--expose-gc`, among the daemon's process settings: docs/daemon.md
 * "Process settings"); otherwise (a process not started as the daemon:
 * tests, tools) nothing.
 *
 * For the moments the daemon's replication work pauses. With the daemon's
 * V8 options a full collection starts only after about 64 MiB more of
 * external memory (buffers) since the last one, so the buffers of the last
 * cycles (frames, received blocks, packs read by pruning) stayed allocated
 * while the box sat idle: 60-110 MiB of the Replica's RSS, for minutes
 * (docs/benchmarks.md "Memory of the daemon"). One collection of the
 * ~35 MiB heap takes some tens of milliseconds. Never throws.
 */
import { getHeapStatistics } from 'node:v8'

/**
 * External memory (buffers, live or dead) under which a pause collects
 * nothing: the daemon holds 5-10 MiB of it live; sessions that moved little
 * data (idle cycles) leave too little to be worth a collection.
 */
export const MIN_EXTERNAL_TO_COLLECT_BYTES = 16 * 1024 * 1024

export function collectGarbage (): void {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined || getHeapStatistics().external_memory < MIN_EXTERNAL_TO_COLLECT_BYTES) return
  try {
    gc()
  } catch {}
}
