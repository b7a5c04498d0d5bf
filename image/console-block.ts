/**
 * Reads `tandem console`'s plain blocks (appliance/cli/console-screen.ts,
 * printed when stdout is not a terminal) back out of the appliance's serial
 * console, for image/smoke.ts. On the console each line comes through
 * journald (tandem-console.service, journal+console) as
 * `[  12.345678] tandem-console[PID]: TEXT`, and kernel or systemd messages
 * may come between them, or before one on its line (a login prompt): a
 * block's lines are those with the prefix of its first line. Pure; never throws on lines it does not know.
 */

/** What one block says, as far as the smoke test needs it. */
export interface ConsoleBlock {
  /** The index, in the lines given, of the block's first line. */
  at: number
  /** 'up': the daemon answered (`Tandem box NAME (ROLE)`); 'down': `Tandem is starting or stopped`. */
  daemon: 'up' | 'down'
  name: string | null
  urls: string[]
  /** `SHA256 AB:CD:...`, its two lines joined. */
  fingerprint: string | null
  /** The one-time code while no password is set. */
  setupCode: string | null
  /** The pairing PIN (digits only) while a window is open. */
  pin: string | null
}

/** Width of the labels column (console-screen.ts LABEL). */
const LABEL = 12
/** journald's time stamp, and whatever the serial line had before it (a login prompt waiting for its line's end). */
const TIMESTAMP = /^.*?\[\s*\d+\.\d+\]\s*/

/**
 * The complete blocks (first line to the `updated` line) in `lines`, in
 * order. A block cut off by the end of the lines is left out.
 */
export function consoleBlocks (lines: readonly string[]): ConsoleBlock[] {
  const blocks: ConsoleBlock[] = []
  let open: { block: ConsoleBlock, prefix: string, label: string } | null = null
  lines.forEach((raw, index) => {
    const line = raw.replace(TIMESTAMP, '')
    const start = /^(.*?)(Tandem box {2}(\S+) \(|Tandem is starting or stopped)/.exec(line)
    // A daemon that is down still names the box (from the data directory): that line is part of its block.
    const withinDown = open !== null && open.block.daemon === 'down' && start?.[1] === open.prefix && start[3] !== undefined
    if (withinDown) open!.block.name = start![3] ?? null
    if (start !== null && !withinDown) {
      const prefix = start[1] ?? ''
      open = { prefix, label: '', block: { at: index, daemon: start[3] === undefined ? 'down' : 'up', name: start[3] ?? null, urls: [], fingerprint: null, setupCode: null, pin: null } }
      return
    }
    if (open === null || !line.startsWith(open.prefix)) return
    const text = line.slice(open.prefix.length)
    const name = text.slice(0, LABEL).trim()
    const value = text.slice(LABEL).trim()
    if (name !== '') open.label = name
    const b = open.block
    if (open.label === 'web page' && /^https?:\/\//.test(value)) b.urls.push(value)
    if (open.label === 'certificate') b.fingerprint = b.fingerprint === null ? value : `${b.fingerprint}:${value}`
    if (open.label === 'password') b.setupCode = /one-time code (\S+)/.exec(value)?.[1] ?? b.setupCode
    if (open.label === 'pairing') b.pin = /PIN (\d{4}) ?(\d{4})/.exec(value)?.slice(1, 3).join('') ?? b.pin
    if (open.label === 'updated') {
      blocks.push(b)
      open = null
    }
  })
  return blocks
}
