/**
 * The image checks' output and run (smoke.ts, pair-smoke.ts, upgrade-smoke.ts):
 * `ok` / `not ok` lines, `N passed, N failed` last, the exit status, and an end
 * within a timeout that kills what the check started.
 */
import { killOnExit } from './script-cli.ts'

export const message = (err: unknown): string => err instanceof Error ? err.message : String(err)
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(0)} s`

/** The `ok` / `not ok` lines and their count. */
export class Checks {
  passed = 0
  failed = 0

  /** Prints one line; returns `ok`. Bound to its instance, so it may be passed around alone. */
  readonly check = (name: string, ok: boolean, detail = ''): boolean => {
    if (ok) this.passed++
    else this.failed++
    console.log(`${ok ? 'ok' : 'not ok'} - ${name}${detail === '' ? '' : `: ${detail}`}`)
    return ok
  }
}

/**
 * Runs a check script's whole work: `cleanup` (kill what it started, by pid)
 * always runs, also when the process ends otherwise (script-cli.ts killOnExit);
 * `N passed, N failed` is the last line, the exit status 0 only when something
 * passed and nothing failed; after `timeoutMs` it is a failure and the process exits.
 */
export function runChecks (checks: Checks, what: string, timeoutMs: number, body: () => Promise<void>, cleanup: () => void): void {
  killOnExit(cleanup)
  const deadline = setTimeout(() => {
    checks.check(`the ${what} ends within ${timeoutMs / 60_000} min`, false)
    cleanup()
    console.log(`${checks.passed} passed, ${checks.failed} failed`)
    process.exit(1)
  }, timeoutMs)
  body().catch((err: unknown) => {
    checks.check(`the ${what} runs`, false, message(err))
  }).finally(() => {
    clearTimeout(deadline)
    cleanup()
    console.log(`${checks.passed} passed, ${checks.failed} failed`)
    process.exitCode = checks.failed === 0 && checks.passed > 0 ? 0 : 1
  })
}
