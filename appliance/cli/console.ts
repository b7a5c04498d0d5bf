/**
 * `tandem console [--once] [--data DIR]`: the box's console screen (tty1 and
 * the serial console of the appliance image; docs/console.md): where to
 * point the browser, the one-time code, an open pairing window's PIN and QR
 * code, the VMs' health. It reads the daemon through the local socket every
 * few seconds; what it shows is console-screen.ts's pure function of what
 * it read. On a terminal it clears and redraws the screen; elsewhere it
 * prints a plain block each time what it read changes. It never reads the
 * keyboard, and SIGINT or SIGTERM end it with status 0 and the cursor shown.
 * `--once` prints one screen; with no daemon answering, it then fails with
 * that code (APP_DAEMON_NOT_RUNNING, or APP_API_FAILED for a daemon that
 * does not answer in time).
 */
import { Command } from 'commander'
import { existsSync } from 'node:fs'
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os'
import { join } from 'node:path'
import { errorCodeOf, type ApplianceService, type LocalBox, type StatusInfo } from '../service/index.ts'
import { dataOption, dataPath, examples } from './box-options.ts'
import { consoleScreen, type ConsoleView, type DaemonAnswers, type DaemonDown, type HostAddress, type ScreenLine } from './console-screen.ts'

/** How often the screen is read again: a new address or a password set shows within this. */
export const REFRESH_MS = 5_000

/** While a pairing window is open: the countdown, and the confirmation code once a box has joined, show within this. */
export const REFRESH_OPEN_WINDOW_MS = 1_000

/**
 * How long each call to the daemon may take: a local socket answers in
 * milliseconds; a daemon that does not answer within this is shown as not
 * answering instead of leaving a stale screen up.
 */
export const TIMEOUT_CONSOLE_CALL_MS = 4_000

/** Terminal codes (ECMA-48): home and clear, clear to the end of the line, cursor hidden and shown. */
const CLEAR = '\x1b[H\x1b[2J'
const CLEAR_LINE = '\x1b[K'
const HIDE_CURSOR = '\x1b[?25l'
const SHOW_CURSOR = '\x1b[?25h'
/**
 * A QR code's lines: black on white (SGR 30;47). Not the terminal's own
 * colours: the Linux console draws light grey on black, which would show
 * the code inverted, and many scanners read only dark on light. 47 and not
 * the brighter 107, which the Linux console may not know.
 */
const QR_COLOURS = '\x1b[30;47m'
const RESET = '\x1b[0m'

export function consoleCommand (box: LocalBox): Command {
  return new Command('console')
    .description('the box\'s console screen: name, addresses, web URL and certificate, one-time code, pairing PIN and QR code, VMs\' health; refreshes by itself')
    .option('--once', 'print one screen and exit (fails with the code when the daemon does not answer)')
    .addOption(dataOption())
    .addHelpText('after', examples(['tandem console --data /var/lib/tandem', 'tandem console --once']))
    .action(async (opts: { data: string, once?: boolean }) => {
      const dir = dataPath(opts.data)
      const out = process.stdout
      if (opts.once === true) {
        const { view, failure } = await read(box, dir, null)
        out.write(`${draw(consoleScreen(view), out.isTTY === true)}\n`)
        if (failure !== undefined) throw failure
        return
      }
      await run(box, dir, out)
    })
}

/** Redraws until SIGINT or SIGTERM. */
async function run (box: LocalBox, dir: string, out: NodeJS.WriteStream): Promise<void> {
  const stop = new AbortController()
  const onSignal = (): void => { stop.abort() }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const tty = out.isTTY === true
  if (tty) out.write(HIDE_CURSOR)
  let shown = ''
  try {
    while (!stop.signal.aborted) {
      const { view, windowOpen } = await read(box, dir, tty ? screenOf(out) : null)
      if (stop.signal.aborted) break
      if (tty) {
        out.write(CLEAR + draw(consoleScreen(view), true))
      } else {
        // A plain block only when what was read changed (not the clock): a log is not a screen.
        const key = JSON.stringify({ daemon: view.daemon, addresses: view.addresses })
        if (key !== shown) out.write(`${draw(consoleScreen(view), false)}\n\n`)
        shown = key
      }
      await pause(windowOpen ? REFRESH_OPEN_WINDOW_MS : REFRESH_MS, stop.signal, tty ? out : null)
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (tty) out.write(`${RESET}${SHOW_CURSOR}\n`)
  }
}

/** The lines as text: QR lines in black on white when `colour`, every line cleared to its end on a terminal. */
export function draw (lines: ScreenLine[], colour: boolean): string {
  return lines.map(l => colour ? `${l.qr === true ? `${QR_COLOURS}${l.text}${RESET}` : l.text}${CLEAR_LINE}` : l.text).join('\n')
}

/** The terminal's size, or null when it tells none (a serial line before `stty`): then everything is printed. */
function screenOf (out: NodeJS.WriteStream): ConsoleView['screen'] {
  return out.columns > 0 && out.rows > 0 ? { columns: out.columns, rows: out.rows } : null
}

/** Waits `ms`, or less when `signal` aborts or the terminal is resized. */
async function pause (ms: number, signal: AbortSignal, terminal: NodeJS.WriteStream | null): Promise<void> {
  await new Promise<void>(resolve => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      terminal?.off('resize', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done)
    terminal?.on('resize', done)
  })
}

/**
 * One look at the box: the daemon's answers (or why there are none, with
 * what the data directory alone says) and the interfaces' addresses. Never
 * throws: `failure` is the error that made the daemon count as down.
 */
async function read (box: LocalBox, dir: string, screen: ConsoleView['screen']): Promise<{ view: ConsoleView, failure?: unknown, windowOpen: boolean }> {
  const base = { addresses: hostAddresses(), refreshMs: REFRESH_MS, screen }
  try {
    const service = await box.connect(dir, { timeoutMs: TIMEOUT_CONSOLE_CALL_MS })
    const daemon = await answers(service)
    const windowOpen = !('failed' in daemon.pairing) && daemon.pairing.window?.open === true
    return { view: { ...base, daemon, now: Date.now() }, windowOpen }
  } catch (err) {
    const down: DaemonDown = {
      code: errorCodeOf(err) ?? 'APP_UNEXPECTED',
      reason: (err as Error).message ?? String(err),
      offline: await box.offlineStatus(dir).catch((e: unknown) => ({ failed: (e as Error).message ?? String(e) }))
    }
    return { view: { ...base, daemon: down, now: Date.now() }, failure: err, windowOpen: false }
  }
}

/** The status (which must answer: else the daemon is down), and the parts that may fail alone. */
async function answers (service: ApplianceService): Promise<DaemonAnswers> {
  const [status, pairing, replication, replica] = await Promise.allSettled([
    service.status(), service.pairStatus(), service.replicationStatus(), service.replicaStatus()
  ])
  if (status.status === 'rejected') throw status.reason
  const words = (r: PromiseRejectedResult): { failed: string } => ({ failed: (r.reason as Error)?.message ?? String(r.reason) })
  return {
    status: status.value satisfies StatusInfo,
    pairing: pairing.status === 'rejected' ? words(pairing) : pairing.value,
    vms: replication.status === 'rejected'
      ? words(replication)
      : replica.status === 'rejected'
        ? words(replica)
        // Only what the screen shows: the rest (ages, progress) changes every second, and would reprint a plain block each time.
        : {
            replication: replication.value.map(r => ({ vm: r.vm, health: r.health, reason: r.reason })),
            replica: replica.value.map(r => ({ vm: r.vm, health: r.health, healthReason: r.healthReason }))
          }
  }
}

/**
 * Every non-loopback address of the box's interfaces, interface by interface, except
 * those of a bridge's ports (`sysNet/IFACE/brport` exists): a VM's tap, or the NIC a
 * bridge holds, whose link-local addresses are not where the box answers (the
 * bridge's are).
 */
export function hostAddresses (interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(), sysNet = '/sys/class/net'): HostAddress[] {
  return Object.entries(interfaces)
    .filter(([iface]) => !existsSync(join(sysNet, iface, 'brport')))
    .flatMap(([iface, list]) => (list ?? [])
      .filter(a => !a.internal)
      .map(a => ({ address: a.address, family: a.family === 'IPv6' ? 6 as const : 4 as const, iface })))
}
