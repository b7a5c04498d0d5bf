/**
 * `npm run image:smoke` (after `npm run image`): boots the built image under
 * QEMU (q35, OVMF; KVM when a short probe shows it works, TCG otherwise) on
 * a throw-away qcow2 overlay larger than the image, and checks that the box
 * works: systemd reaches "running", the daemon answers (through the guest agent, and
 * typed on the serial console after logging in as root), the web page answers
 * over HTTPS with the certificate fingerprint the console prints, the data
 * partition grew, tty1 shows the status screen, `tandem status`,
 * `systemd-analyze verify` and `security` run in the guest (through the QEMU guest agent), a VM
 * on a bridge starts (smoke-bridge.ts), the firewall and a reboot (smoke-box.ts), and it powers off. The web port is
 * forwarded to a random port on 127.0.0.1 only. Prints `N passed, N failed`
 * and ends by itself (TIMEOUT_SMOKE_MS), its QEMU killed by pid if need be.
 * The serial console is kept in image/out/smoke-serial.log.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { createConnection, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { probeKvm } from '../appliance/drivers/qemu/qmp/kvm-probe.ts'
import { OUT_DIR } from './build.ts'
import { consoleBlocks, type ConsoleBlock } from './console-block.ts'
import { checkFirewall, checkReboot, CLOSED_PORT, type BoxSmokeTools } from './smoke-box.ts'
import { checkBridgedVm } from './smoke-bridge.ts'
import { serialCommand, type SerialOutput } from './serial-shell.ts'
import { killOnExit, noArguments } from './script-cli.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** The whole smoke test, boot included: TCG boots in minutes on a busy 2-core machine. */
const TIMEOUT_SMOKE_MS = 25 * 60_000
/** From QEMU's start to the console's TANDEM-STATUS line (first boot: init, certificate). */
const TIMEOUT_BOOT_MS = 15 * 60_000
/** The KVM probe: a boot sector that exits at once when KVM works. */
export const TIMEOUT_KVM_PROBE_MS = 10_000
/** One HTTPS request to the web page. */
const TIMEOUT_HTTPS_MS = 30_000
/** One command in the guest (a Node start under TCG takes seconds). */
export const TIMEOUT_GUEST_EXEC_MS = 120_000
/** From ACPI power-down to QEMU's exit. */
export const TIMEOUT_POWEROFF_MS = 180_000
/** The overlay the guest boots from: larger than the image (2.7 GiB with the root's upgrade headroom), so the data partition has room to grow. */
const DISK_BYTES = 8 * 1024 ** 3
/** The web page's port in the guest (image/files/etc/systemd/system/tandem-firstboot.service). */
export const WEB_PORT = 7443
/** The highest `systemd-analyze security` exposure accepted for tandem.service (0 safe .. 10 unsafe). */
const MAX_SECURITY_EXPOSURE = 5
/** The serial console's raw output kept for serial-shell.ts (a boot and a reboot print ~150 KiB). */
const MAX_SERIAL_BYTES = 8 * 1024 * 1024
/** Largest guest-agent reply line read (a command's captured output, base64). */
const MAX_AGENT_LINE_BYTES = 4 * 1024 * 1024

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd'
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd'

let passed = 0
let failed = 0
/** The guest's QEMU while it runs: killed by its pid when the smoke test ends, whatever the way. */
let qemu: ChildProcess | undefined

function killQemu (): void {
  if (qemu !== undefined && qemu.exitCode === null && qemu.signalCode === null && qemu.pid !== undefined) process.kill(qemu.pid, 'SIGKILL')
}
function check (name: string, ok: boolean, detail = ''): boolean {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}${detail === '' ? '' : `: ${detail}`}`)
  return ok
}

export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}

export function delay (ms: number): Promise<void> {
  return new Promise(resolve => { setTimeout(resolve, ms) })
}

/** Resolves with the first value `body` gives, or rejects after `ms`. */
export async function within<T> (ms: number, what: string, body: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([body, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${what}: no answer within ${ms / 1000} s`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** A JSON-lines connection to a unix socket (QMP, the guest agent): send, and read the next reply. */
export class JsonSocket {
  private readonly socket: Socket
  private buffered = ''
  private waiting: Array<(line: string) => void> = []
  private lines: string[] = []

  constructor (path: string) {
    this.socket = createConnection(path)
    this.socket.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString('utf8')
      if (this.buffered.length > MAX_AGENT_LINE_BYTES) this.socket.destroy(new Error('reply too long'))
      let nl
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl).replace(/^[^{]*/, '').trim()
        this.buffered = this.buffered.slice(nl + 1)
        if (line === '') continue // the agent's 0xFF delimiter (decoded as U+FFFD) and blank lines
        const next = this.waiting.shift()
        if (next !== undefined) next(line)
        else this.lines.push(line)
      }
    })
    this.socket.on('error', () => {})
  }

  connected (): Promise<void> {
    return new Promise((resolve, reject) => { this.socket.once('connect', resolve); this.socket.once('error', reject) })
  }

  send (value: unknown, prefix = ''): void {
    this.socket.write(prefix + JSON.stringify(value) + '\n')
  }

  next (): Promise<Record<string, unknown>> {
    const line = this.lines.shift()
    if (line !== undefined) return Promise.resolve(JSON.parse(line))
    return new Promise(resolve => { this.waiting.push(l => { resolve(JSON.parse(l)) }) })
  }

  close (): void {
    this.socket.destroy()
  }
}

/** A guest-agent connection, synchronised: the replies that follow are to this client's commands. */
export async function agentSession (agentPath: string): Promise<JsonSocket> {
  const agent = new JsonSocket(agentPath)
  try {
    await agent.connected()
    // docs/platform-notes.md "QEMU", guest agent: a 0xFF byte and guest-sync-delimited first, skip to its id.
    const id = Math.floor(Math.random() * 2 ** 31)
    agent.send({ execute: 'guest-sync-delimited', arguments: { id } }, '\xff')
    while ((await agent.next()).return !== id) { /* a late reply of an earlier client */ }
    return agent
  } catch (err) {
    agent.close()
    throw err
  }
}

/** Runs a command in the guest through the QEMU guest agent; its exit status and output. */
export async function guestExec (agentPath: string, path: string, args: string[]): Promise<{ status: number, out: string }> {
  return await guestEnded(agentPath, await guestStart(agentPath, path, args))
}

/** Starts a command in the guest through the QEMU guest agent without waiting for it; its guest pid. */
export async function guestStart (agentPath: string, path: string, args: string[]): Promise<number> {
  const agent = await agentSession(agentPath)
  try {
    agent.send({ execute: 'guest-exec', arguments: { path, arg: args, 'capture-output': true } })
    const started = await agent.next()
    const pid = (started.return as { pid: number } | undefined)?.pid
    if (pid === undefined) throw new Error(`guest-exec: ${JSON.stringify(started)}`)
    return pid
  } finally {
    agent.close()
  }
}

/** A command started by guestStart, once it has exited: its status and output. */
export async function guestEnded (agentPath: string, pid: number): Promise<{ status: number, out: string }> {
  const agent = await agentSession(agentPath)
  try {
    for (;;) {
      agent.send({ execute: 'guest-exec-status', arguments: { pid } })
      const status = (await agent.next()).return as { exited: boolean, exitcode?: number, 'out-data'?: string, 'err-data'?: string }
      if (status.exited) {
        const decode = (b?: string): string => b === undefined ? '' : Buffer.from(b, 'base64').toString('utf8')
        return { status: status.exitcode ?? -1, out: decode(status['out-data']) + decode(status['err-data']) }
      }
      await delay(1000)
    }
  } finally {
    agent.close()
  }
}

/** GET / over HTTPS; the status code and the server certificate's SHA-256 fingerprint (AB:CD:...). */
export function httpsGet (port: number): Promise<{ status: number, fingerprint: string, body: string }> {
  return new Promise((resolve, reject) => {
    // The box's certificate is self-signed: the check is its fingerprint, compared below.
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', rejectUnauthorized: false, timeout: TIMEOUT_HTTPS_MS }, res => {
      const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256
      let body = ''
      res.on('data', (chunk: Buffer) => { if (body.length < 65536) body += chunk.toString('utf8') })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, fingerprint, body }) })
    })
    req.on('timeout', () => { req.destroy(new Error('timeout')) })
    req.on('error', reject)
    req.end()
  })
}

/** Where a booted box's QEMU keeps its state and sockets (boxQemuArgs). */
export interface BoxQemu {
  accel: 'kvm' | 'tcg'
  /** The box's own copy of the OVMF variables. */
  vars: string
  disk: { path: string, format: 'qcow2' | 'raw' }
  /** The 127.0.0.1 port forwarded to the web page's. */
  webPort: number
  /** More 127.0.0.1 ports forwarded to the guest's (smoke-box.ts checkFirewall: a port the firewall does not open). */
  forwards?: Array<{ host: number, guest: number }>
  /** The guest may reboot (smoke-box.ts checkReboot); otherwise QEMU exits when it does (-no-reboot). */
  reboot?: boolean
  agentPath: string
  qmpPath: string
  /** More arguments (a second NIC). */
  extra?: string[]
}

/** The QEMU command line of a box: q35, OVMF, its disk, user networking, the guest agent, QMP, the serial console on stdio. */
export function boxQemuArgs (box: BoxQemu): string[] {
  const hostfwds = [{ host: box.webPort, guest: WEB_PORT }, ...(box.forwards ?? [])].map(f => `hostfwd=tcp:127.0.0.1:${f.host}-:${f.guest}`)
  return [
    '-machine', 'q35', '-accel', box.accel, ...(box.accel === 'kvm' ? ['-cpu', 'host'] : []),
    // One vCPU: Debian 13's kernel double-faulted under QEMU 7.2's multi-threaded TCG with two (docs/platform-notes.md "QEMU").
    '-smp', '1', '-m', '2048',
    '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
    '-drive', `if=pflash,format=raw,file=${box.vars}`,
    '-drive', `file=${box.disk.path},if=virtio,format=${box.disk.format}`,
    '-netdev', `user,id=n0,${hostfwds.join(',')}`, '-device', 'virtio-net-pci,netdev=n0',
    ...(box.extra ?? []),
    '-device', 'virtio-serial', '-chardev', `socket,path=${box.agentPath},server=on,wait=off,id=agent`,
    '-device', 'virtserialport,chardev=agent,name=org.qemu.guest_agent.0',
    '-qmp', `unix:${box.qmpPath},server=on,wait=off`,
    '-display', 'none', '-monitor', 'none', '-serial', 'stdio', ...(box.reboot === true ? [] : ['-no-reboot'])
  ]
}

async function smoke (): Promise<void> {
  const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const image = join(OUT_DIR, `tandem-${manifest.version}.qcow2`)
  const work = await mkdtemp(join(tmpdir(), 'tandem-image-smoke-'))
  try {
    const kvm = await probeKvm({ workDir: work, timeoutMs: TIMEOUT_KVM_PROBE_MS })
    const accel = kvm.usable ? 'kvm' : 'tcg'
    console.log(`# accelerator: ${accel}${kvm.usable ? '' : ` (KVM not usable: ${kvm.reason})`}`)
    const disk = join(work, 'disk.qcow2')
    await runTool('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', image, disk, String(DISK_BYTES)])
    const vars = join(work, 'OVMF_VARS.fd')
    await copyFile(OVMF_VARS, vars)
    const port = await freePort()
    const closedPort = await freePort()
    const qmpPath = join(work, 'qmp.sock')
    const agentPath = join(work, 'agent.sock')
    // The web port, and a port the firewall does not open (smoke-box.ts checkFirewall); the guest reboots once (smoke-box.ts checkReboot).
    const args = boxQemuArgs({ accel, vars, disk: { path: disk, format: 'qcow2' }, webPort: port, forwards: [{ host: closedPort, guest: CLOSED_PORT }], reboot: true, agentPath, qmpPath })
    const bootStarted = Date.now()
    // stdin: the serial console's input (serial-shell.ts types a command there).
    const child = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'] })
    qemu = child
    const serial: string[] = []
    const serialRaw: SerialOutput = { text: '' }
    child.stdout.on('data', (chunk: Buffer) => { if (serialRaw.text.length < MAX_SERIAL_BYTES) serialRaw.text += chunk.toString('utf8') })
    await mkdir(OUT_DIR, { recursive: true })
    const serialLog = createWriteStream(join(OUT_DIR, 'smoke-serial.log'))
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-4096) })
    const exited = new Promise<number | null>(resolve => { child.on('exit', code => { resolve(code) }) })
    // The first block of `tandem console` (tandem-console.service) from a running daemon on the serial console.
    let upAtMs: number | undefined
    const reported = new Promise<ConsoleBlock>(resolve => {
      createInterface({ input: child.stdout }).on('line', raw => {
        // eslint-disable-next-line no-control-regex
        const line = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '')
        serial.push(line)
        serialLog.write(line + '\n')
        if (upAtMs !== undefined || !/ updated {5}/.test(line)) return
        const block = consoleBlocks(serial).find(b => b.daemon === 'up')
        if (block !== undefined) { upAtMs = Date.now() - bootStarted; resolve(block) }
      })
    })
    console.log(`# booting ${image} under ${accel}; web port 127.0.0.1:${port}; serial console in ${join(OUT_DIR, 'smoke-serial.log')}`)
    const ticker = setInterval(() => { console.log(`# still booting (${Math.round((Date.now() - bootStarted) / 1000)} s, ${serial.length} console lines)`) }, 30_000)
    let block: ConsoleBlock | undefined
    try {
      block = await within(TIMEOUT_BOOT_MS, 'the daemon\'s status on the serial console', Promise.race([reported, exited.then(code => { throw new Error(`QEMU exited (${code}) before the box was up: ${stderr.trim()}`) })]))
    } catch (err) {
      check('the box boots and its console shows the daemon running', false, err instanceof Error ? err.message : String(err))
    } finally {
      clearInterval(ticker)
    }
    const exec = (path: string, args: string[]): Promise<{ status: number, out: string }> => within(TIMEOUT_GUEST_EXEC_MS, `guest-exec ${path}`, guestExec(agentPath, path, args))
    const failure = (err: unknown): string => err instanceof Error ? err.message : String(err)

    let peerId: string | undefined
    if (block !== undefined) {
      check('the serial console shows the box\'s name, web URL, fingerprint and one-time code (tandem console)', block.name !== null && block.urls.length > 0 && block.fingerprint !== null && block.setupCode !== null,
        `${block.name} ${block.urls.join(' ')} ${block.fingerprint} code ${block.setupCode}, ${((upAtMs ?? 0) / 1000).toFixed(0)} s after QEMU started`)
      try {
        const state = await within(TIMEOUT_BOOT_MS, 'systemctl is-system-running --wait', guestExec(agentPath, '/usr/bin/systemctl', ['is-system-running', '--wait']))
        const failed = state.out.trim() === 'running' ? '' : `; failed: ${(await exec('/usr/bin/systemctl', ['--failed', '--plain', '--no-legend'])).out.trim()}`
        check('systemd reaches "running"', state.out.trim() === 'running', `is-system-running said ${state.out.trim()} ${((Date.now() - bootStarted) / 1000).toFixed(0)} s after QEMU started${failed}`)
      } catch (err) {
        check('systemd reaches "running"', false, failure(err))
      }
      try {
        const status = await exec('/usr/sbin/runuser', ['-u', 'tandem', '--', '/usr/local/bin/tandem', 'status', '--json'])
        const info = JSON.parse(status.out) as { state?: string, name?: string, peerId?: string, listen?: string[] }
        peerId = info.peerId
        check('tandem status in the guest (QEMU guest agent): running, the console\'s name, replication on TCP 7450', status.status === 0 && info.state === 'running' && info.name === block.name && info.listen?.includes('/ip4/0.0.0.0/tcp/7450') === true,
          `${info.state} ${info.name} ${info.peerId} ${info.listen?.join(' ')}`)
      } catch (err) {
        check('tandem status in the guest (QEMU guest agent)', false, failure(err))
      }
      try {
        const typed = await serialCommand(child.stdin, serialRaw, 'tandem status', TIMEOUT_GUEST_EXEC_MS)
        check('tandem status on the serial console (root logs in, no password set yet): running, the same peer id', typed.status === 0 && /^state +running/m.test(typed.out) && peerId !== undefined && typed.out.includes(peerId),
          typed.out.trim().split('\n').slice(0, 3).join(' / '))
      } catch (err) {
        check('tandem status on the serial console', false, failure(err))
      }
    }
    const fingerprint = block?.fingerprint
    if (typeof fingerprint === 'string') {
      try {
        const res = await httpsGet(port)
        check('the web UI answers over HTTPS on the forwarded port', res.status === 200 && /<html/i.test(res.body), `HTTP ${res.status}`)
        check('the web certificate has the fingerprint the console shows', `SHA256 ${res.fingerprint}` === fingerprint, `served ${res.fingerprint}`)
      } catch (err) {
        check('the web UI answers over HTTPS on the forwarded port', false, failure(err))
      }
    }
    if (block !== undefined) {
      try {
        const df = await exec('/bin/df', ['--block-size=1', '--output=size', '/var/lib/tandem'])
        const dataBytes = Number(df.out.trim().split('\n').at(-1))
        check('the data partition grew to the disk\'s end', dataBytes > DISK_BYTES / 2, `${Math.round(dataBytes / 1024 ** 2)} MiB on a ${DISK_BYTES / 1024 ** 3} GiB disk`)
      } catch (err) {
        check('the data partition grew to the disk\'s end', false, failure(err))
      }
      try {
        // /dev/vcs1: the text on tty1's screen, a row after another, no line breaks.
        const screen = await exec('/bin/cat', ['/dev/vcs1'])
        const firstHalf = (fingerprint ?? '').replace(/^SHA256 /, '').split(':').slice(0, 16).join(':')
        check('tty1 shows tandem console (name, fingerprint)', firstHalf !== '' && screen.out.includes(firstHalf) && screen.out.includes(block.name ?? '?'), screen.out.replace(/\s+/g, ' ').slice(0, 120))
      } catch (err) {
        check('tty1 shows tandem console (name, fingerprint)', false, failure(err))
      }
      try {
        const units = ['tandem.service', 'tandem-firstboot.service', 'tandem-console.service', 'tandem-screen.service', 'tandem-hostname.service', 'tandem-console-password.path', 'tandem-console-password.service', 'tandem-console-password-restore.service']
        const verify = await exec('/usr/bin/systemd-analyze', ['verify', ...units.map(u => `/etc/systemd/system/${u}`)])
        check('systemd-analyze verify: the units are clean', verify.status === 0 && verify.out.trim() === '', verify.out.trim().split('\n').slice(0, 3).join(' / '))
      } catch (err) {
        check('systemd-analyze verify: the units are clean', false, failure(err))
      }
      try {
        const security = await exec('/usr/bin/systemd-analyze', ['security', '--no-pager', 'tandem.service'])
        const m = /Overall exposure level for tandem\.service: ([\d.]+) (\S+)/.exec(security.out)
        await writeFile(join(OUT_DIR, 'smoke-security.txt'), security.out)
        check(`systemd-analyze security tandem.service: exposure at most ${MAX_SECURITY_EXPOSURE}`, m !== null && Number(m[1]) <= MAX_SECURITY_EXPOSURE, m === null ? security.out.slice(-300) : `${m[1]} ${m[2]} (image/out/smoke-security.txt)`)
      } catch (err) {
        check('systemd-analyze security tandem.service', false, failure(err))
      }
      const tools: BoxSmokeTools = {
        check,
        exec,
        start: (path, args) => within(TIMEOUT_GUEST_EXEC_MS, `guest-exec ${path}`, guestStart(agentPath, path, args)),
        ended: pid => within(TIMEOUT_GUEST_EXEC_MS, `guest-exec-status ${pid}`, guestEnded(agentPath, pid)),
        https: () => httpsGet(port),
        closedPortForward: closedPort,
        serial,
        delay
      }
      await checkBridgedVm(tools)
      await checkFirewall(tools)
      if (peerId !== undefined && typeof fingerprint === 'string') await checkReboot(tools, { peerId, fingerprint, setupCode: block.setupCode })
    }

    const poweroffStarted = Date.now()
    try {
      const qmp = new JsonSocket(qmpPath)
      await qmp.connected()
      await qmp.next()
      qmp.send({ execute: 'qmp_capabilities' })
      await qmp.next()
      qmp.send({ execute: 'system_powerdown' })
      const code = await within(TIMEOUT_POWEROFF_MS, 'power-off', exited)
      qmp.close()
      check('it powers off on an ACPI power-down', code === 0, `${((Date.now() - poweroffStarted) / 1000).toFixed(0)} s`)
    } catch (err) {
      check('it powers off on an ACPI power-down', false, failure(err))
    }
    serialLog.end()
    console.log(`# ${accel}: QEMU start to the daemon's status on the serial console ${upAtMs === undefined ? 'n/a' : `${(upAtMs / 1000).toFixed(0)} s`}`)
  } finally {
    killQemu()
    await rm(work, { recursive: true, force: true })
  }
}

export function runTool (file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'inherit'] })
    child.on('error', reject)
    child.on('exit', code => { code === 0 ? resolve() : reject(new Error(`${file} exited ${code}`)) })
  })
}

// Run, not imported (pair-smoke.ts and upgrade-smoke.ts reuse the pieces above).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  noArguments('usage: npm run image:smoke   (as root: builds, then node image/smoke.ts)\nBoots the built image under QEMU and checks the box (image/README.md "Boot check"); prints N passed, N failed; its QEMU is killed however it ends.')
  killOnExit(killQemu)
  const deadline = setTimeout(() => {
    check('the smoke test ends within TIMEOUT_SMOKE_MS', false, `${TIMEOUT_SMOKE_MS / 60_000} min`)
    killQemu()
    console.log(`${passed} passed, ${failed} failed`)
    process.exit(1)
  }, TIMEOUT_SMOKE_MS)
  smoke().catch((err: unknown) => {
    check('the smoke test runs', false, err instanceof Error ? err.message : String(err))
  }).finally(() => {
    clearTimeout(deadline)
    console.log(`${passed} passed, ${failed} failed`)
    process.exitCode = failed === 0 && passed > 0 ? 0 : 1
  })
}
