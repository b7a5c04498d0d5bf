/**
 * The appliance's console status (image/files/etc/systemd/system/tandem-screen.service
 * and tandem-console.service): asks the daemon for its status on the local
 * API socket every REFRESH_MS and shows screen.ts's text.
 *
 *   node console-main.ts --tty DATA     full screen on the unit's terminal (tty1),
 *                                       redrawn when it changes
 *   node console-main.ts --lines DATA   for the serial console and the journal: waits
 *                                       for the boot to end (prints TANDEM-READY
 *                                       system=STATE), then prints the screen as
 *                                       lines and TANDEM-STATUS <json> each time it
 *                                       changes (image/smoke.ts reads those)
 *
 * Runs until stopped; a daemon that does not answer is shown, never fatal.
 * Only Node's own modules: it runs from /opt/tandem/app/image/console.
 */
import { spawn } from 'node:child_process'
import { statfs } from 'node:fs/promises'
import { request } from 'node:http'
import { hostname, networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { renderScreen, type ScreenAddress, type ScreenStatus } from './screen.ts'

/** How often the status is asked: a new address or a set password shows within this. */
const REFRESH_MS = 5000
/** One status request on the local socket (the daemon answers in milliseconds once up). */
const TIMEOUT_STATUS_MS = 10_000
/** Largest status answer read (the document is ~1 KiB). */
const MAX_STATUS_BYTES = 256 * 1024
/** --lines: after the boot, how long the daemon may take to answer before TANDEM-NOT-RUNNING (Node under TCG is slow). */
const TIMEOUT_DAEMON_MS = 10 * 60_000

function status (socketPath: string): Promise<ScreenStatus> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/v1/status', method: 'GET', timeout: TIMEOUT_STATUS_MS }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
        if (body.length > MAX_STATUS_BYTES) req.destroy(new Error('status answer too large'))
      })
      res.on('end', () => {
        if (res.statusCode !== 200) { reject(new Error(`status: HTTP ${res.statusCode}`)); return }
        try { resolve(JSON.parse(body) as ScreenStatus) } catch (err) { reject(err as Error) }
      })
    })
    req.on('timeout', () => { req.destroy(new Error('no answer')) })
    req.on('error', reject)
    req.end()
  })
}

function addresses (): ScreenAddress[] {
  const out: ScreenAddress[] = []
  for (const [iface, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) out.push({ iface, address: a.address, family: a.family, internal: a.internal })
  }
  return out
}

/** `systemctl is-system-running --wait`: the boot's end state (running, degraded, ...). */
function bootState (): Promise<string> {
  return new Promise(resolve => {
    const child = spawn('systemctl', ['is-system-running', '--wait'], { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString('utf8') })
    child.on('error', err => { resolve(`unknown (${err.message})`) })
    child.on('close', () => { resolve(out.trim() || 'unknown') })
  })
}

async function main (): Promise<void> {
  const [mode, dataDir = '/var/lib/tandem'] = process.argv.slice(2)
  if (mode !== '--tty' && mode !== '--lines') throw new TypeError('usage: console-main.ts --tty|--lines [DATA]')
  const socketPath = join(dataDir, 'api.sock')
  const started = Date.now()
  if (mode === '--lines') console.log(`TANDEM-READY system=${await bootState()}`)
  let shown = ''
  let warned = false
  for (;;) {
    let current: ScreenStatus | null = null
    let problem: string | null = null
    try { current = await status(socketPath) } catch (err) { problem = err instanceof Error ? err.message : String(err) }
    const screen = renderScreen({ status: current, problem: current === null ? 'waiting for the daemon' : null, addresses: addresses(), hostname: hostname() }).join('\n')
    if (screen !== shown) {
      shown = screen
      if (mode === '--tty') {
        process.stdout.write(`\x1b[H\x1b[2J${screen}\n`)
      } else if (current !== null) {
        const data = await statfs(dataDir).then(s => s.blocks * s.bsize, () => 0)
        console.log(screen.split('\n').map(l => `tandem: ${l}`).join('\n'))
        console.log(`TANDEM-DATA-BYTES ${data}`)
        console.log(`TANDEM-STATUS ${JSON.stringify(current)}`)
      }
    }
    if (mode === '--lines' && current === null && !warned && Date.now() - started > TIMEOUT_DAEMON_MS) {
      warned = true
      console.log(`TANDEM-NOT-RUNNING after ${TIMEOUT_DAEMON_MS / 1000} s: ${problem}`)
    }
    await new Promise(resolve => { setTimeout(resolve, REFRESH_MS) })
  }
}

main().catch((err: unknown) => {
  console.error(`tandem console: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
})
