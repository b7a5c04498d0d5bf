/**
 * What every image script does with its command line and its children: none
 * of them takes arguments (the environment variables in image/README.md set
 * them up), so `--help` prints what the script does and any other argument is
 * refused before anything starts (a smoke test is ten minutes of QEMU); and a
 * script that boots QEMU kills it, by pid, however the script ends: its end,
 * an uncaught error (its output piped into `head`, closed: EPIPE), SIGINT,
 * SIGTERM or SIGHUP.
 */

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const

/** `--help` or `-h`: `usage` on stdout, exit status 0. Any other argument: refused on stderr, exit status 2. Returns only when there are none. */
export function noArguments (usage: string, argv: readonly string[] = process.argv.slice(2)): void {
  if (argv.length === 0) return
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
    console.log(usage)
    process.exit(0)
  }
  console.error(`${argv.map(a => JSON.stringify(a)).join(' ')}: this script takes no arguments\n${usage}`)
  process.exit(2)
}

/** Runs `kill` (synchronous, idempotent: it kills the script's QEMUs by pid) whenever this process ends. */
export function killOnExit (kill: () => void): void {
  // A child already gone (ESRCH) is what was wanted: nothing to report while ending.
  const quietly = (): void => { try { kill() } catch { /* gone */ } }
  process.on('exit', quietly)
  for (const [signal, number] of Object.entries(SIGNAL_NUMBERS)) {
    process.once(signal, () => {
      quietly()
      process.exit(128 + number)
    })
  }
}
