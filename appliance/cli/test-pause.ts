/**
 * A test-only hook: with `TANDEM_TEST_PAUSE_AT=<step>` in the environment,
 * the command stops the first time it reaches that step, prints
 * `TANDEM_TEST_PAUSED <step>` on stderr, and waits until it is interrupted
 * (Ctrl-C, SIGTERM). A test can then signal it at a known moment instead of
 * guessing with sleeps. Without the variable nothing changes.
 *
 * Steps: `scan` (a chunk of a disk scanned and staged, later ones in
 * flight) and `image` (a block written into a replica image, after the
 * commit). Documented in docs/cli.md ("Environment").
 */

export const TEST_PAUSE_ENV = 'TANDEM_TEST_PAUSE_AT'

export type PauseStep = 'scan' | 'image'

/** What replicateOnce's `onStep` names each pause step. */
const CORE_STEPS: Record<string, PauseStep> = { 'scan-chunk': 'scan', 'image-block': 'image' }

/**
 * The `onStep` observer for replicateOnce, or undefined when no pause is
 * asked for. Everyone reaching the step while paused waits on the same
 * promise; after the interrupt one more turn of the event loop passes (as
 * the real I/O at that step would) and the work goes on, to meet the abort.
 */
export function testPause (signal: AbortSignal, env: NodeJS.ProcessEnv = process.env): ((step: string) => Promise<void>) | undefined {
  const wanted = env[TEST_PAUSE_ENV]
  if (wanted === undefined || wanted === '') return undefined
  let paused: Promise<void> | undefined
  return async step => {
    if (CORE_STEPS[step] !== wanted) return
    paused ??= (async () => {
      process.stderr.write(`TANDEM_TEST_PAUSED ${wanted}\n`)
      // A timer keeps the process alive while it waits: idle worker threads do not.
      const alive = setInterval(() => {}, 60_000)
      try {
        if (!signal.aborted) await new Promise(resolve => { signal.addEventListener('abort', resolve, { once: true }) })
      } finally {
        clearInterval(alive)
      }
      await new Promise(resolve => setImmediate(resolve))
    })()
    await paused
  }
}
