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
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { probeKvm } from '../appliance/drivers/qemu/qmp/kvm-probe.ts'
import { OUT_DIR, run } from './build.ts'
import { Checks, message, runChecks, seconds } from './checks.ts'
import type { ConsoleBlock } from './console-block.ts'
import { TIMEOUT_GUEST_EXEC_MS, delay, guestEnded, guestExec, guestStart, within } from './guest-agent.ts'
import { bootBox, freePort, killBoxes, powerOff } from './qemu-box.ts'
import { noArguments } from './script-cli.ts'
import { serialCommand } from './serial-shell.ts'
import { checkFirewall, checkReboot, CLOSED_PORT, type BoxSmokeTools } from './smoke-box.ts'
import { checkBridgedVm } from './smoke-bridge.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** The whole smoke test, boot included: TCG boots in minutes on a busy 2-core machine. */
const TIMEOUT_SMOKE_MS = 25 * 60_000
/** From QEMU's start to the console's first block from the running daemon (first boot: init, certificate). */
const TIMEOUT_BOOT_MS = 15 * 60_000
/** The KVM probe: a boot sector that exits at once when KVM works. */
const TIMEOUT_KVM_PROBE_MS = 10_000
/** One HTTPS request to the web page. */
const TIMEOUT_HTTPS_MS = 30_000
/** The overlay the guest boots from: larger than the image (2.7 GiB with the root's upgrade headroom), so the data partition has room to grow. */
const DISK_BYTES = 8 * 1024 ** 3
/** The highest `systemd-analyze security` exposure accepted for tandem.service (0 safe .. 10 unsafe). */
const MAX_SECURITY_EXPOSURE = 5

const checks = new Checks()
const { check } = checks

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

async function smoke (): Promise<void> {
  const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const image = join(OUT_DIR, `tandem-${manifest.version}.qcow2`)
  const work = await mkdtemp(join(tmpdir(), 'tandem-image-smoke-'))
  try {
    const kvm = await probeKvm({ workDir: work, timeoutMs: TIMEOUT_KVM_PROBE_MS })
    const accel = kvm.usable ? 'kvm' : 'tcg'
    console.log(`# accelerator: ${accel}${kvm.usable ? '' : ` (KVM not usable: ${kvm.reason})`}`)
    const disk = join(work, 'disk.qcow2')
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', image, disk, String(DISK_BYTES)])
    const closedPort = await freePort()
    // The web port, and a port the firewall does not open (smoke-box.ts checkFirewall); the guest reboots once (smoke-box.ts checkReboot).
    const box = await bootBox({ name: 'smoke', log: 'smoke', dir: work, disk: { path: disk, format: 'qcow2' }, accel, forwards: [{ host: closedPort, guest: CLOSED_PORT }], reboot: true })
    const { agentPath, webPort: port, serial } = box
    console.log(`# booting ${image} under ${accel}; web port 127.0.0.1:${port}; serial console in ${join(OUT_DIR, 'smoke-serial.log')}`)
    const ticker = setInterval(() => { console.log(`# still booting (${seconds(Date.now() - box.started)}, ${serial.length} console lines)`) }, 30_000)
    let block: ConsoleBlock | undefined
    let upAtMs: number | undefined
    try {
      ({ block, atMs: upAtMs } = await within(TIMEOUT_BOOT_MS, 'the daemon\'s status on the serial console', box.up))
    } catch (err) {
      check('the box boots and its console shows the daemon running', false, message(err))
    } finally {
      clearInterval(ticker)
    }
    const exec = (path: string, args: string[]): Promise<{ status: number, out: string }> => within(TIMEOUT_GUEST_EXEC_MS, `guest-exec ${path}`, guestExec(agentPath, path, args))

    let peerId: string | undefined
    if (block !== undefined) {
      check('the serial console shows the box\'s name, web URL, fingerprint and one-time code (tandem console)', block.name !== null && block.urls.length > 0 && block.fingerprint !== null && block.setupCode !== null,
        `${block.name} ${block.urls.join(' ')} ${block.fingerprint} code ${block.setupCode}, ${((upAtMs ?? 0) / 1000).toFixed(0)} s after QEMU started`)
      try {
        const state = await within(TIMEOUT_BOOT_MS, 'systemctl is-system-running --wait', guestExec(agentPath, '/usr/bin/systemctl', ['is-system-running', '--wait']))
        const failed = state.out.trim() === 'running' ? '' : `; failed: ${(await exec('/usr/bin/systemctl', ['--failed', '--plain', '--no-legend'])).out.trim()}`
        check('systemd reaches "running"', state.out.trim() === 'running', `is-system-running said ${state.out.trim()} ${seconds(Date.now() - box.started)} after QEMU started${failed}`)
      } catch (err) {
        check('systemd reaches "running"', false, message(err))
      }
      try {
        const status = await exec('/usr/sbin/runuser', ['-u', 'tandem', '--', '/usr/local/bin/tandem', 'status', '--json'])
        const info = JSON.parse(status.out) as { state?: string, name?: string, peerId?: string, listen?: string[] }
        peerId = info.peerId
        check('tandem status in the guest (QEMU guest agent): running, the console\'s name, replication on TCP 7450', status.status === 0 && info.state === 'running' && info.name === block.name && info.listen?.includes('/ip4/0.0.0.0/tcp/7450') === true,
          `${info.state} ${info.name} ${info.peerId} ${info.listen?.join(' ')}`)
      } catch (err) {
        check('tandem status in the guest (QEMU guest agent)', false, message(err))
      }
      try {
        const typed = await serialCommand(box.input, box.serialRaw, 'tandem status', TIMEOUT_GUEST_EXEC_MS)
        check('tandem status on the serial console (root logs in, no password set yet): running, the same peer id', typed.status === 0 && /^state +running/m.test(typed.out) && peerId !== undefined && typed.out.includes(peerId),
          typed.out.trim().split('\n').slice(0, 3).join(' / '))
      } catch (err) {
        check('tandem status on the serial console', false, message(err))
      }
    }
    const fingerprint = block?.fingerprint
    if (typeof fingerprint === 'string') {
      try {
        const res = await httpsGet(port)
        check('the web UI answers over HTTPS on the forwarded port', res.status === 200 && /<html/i.test(res.body), `HTTP ${res.status}`)
        check('the web certificate has the fingerprint the console shows', `SHA256 ${res.fingerprint}` === fingerprint, `served ${res.fingerprint}`)
      } catch (err) {
        check('the web UI answers over HTTPS on the forwarded port', false, message(err))
      }
    }
    if (block !== undefined) {
      try {
        const df = await exec('/bin/df', ['--block-size=1', '--output=size', '/var/lib/tandem'])
        const dataBytes = Number(df.out.trim().split('\n').at(-1))
        check('the data partition grew to the disk\'s end', dataBytes > DISK_BYTES / 2, `${Math.round(dataBytes / 1024 ** 2)} MiB on a ${DISK_BYTES / 1024 ** 3} GiB disk`)
      } catch (err) {
        check('the data partition grew to the disk\'s end', false, message(err))
      }
      try {
        // /dev/vcs1: the text on tty1's screen, a row after another, no line breaks.
        const screen = await exec('/bin/cat', ['/dev/vcs1'])
        const firstHalf = (fingerprint ?? '').replace(/^SHA256 /, '').split(':').slice(0, 16).join(':')
        check('tty1 shows tandem console (name, fingerprint)', firstHalf !== '' && screen.out.includes(firstHalf) && screen.out.includes(block.name ?? '?'), screen.out.replace(/\s+/g, ' ').slice(0, 120))
      } catch (err) {
        check('tty1 shows tandem console (name, fingerprint)', false, message(err))
      }
      try {
        const units = ['tandem.service', 'tandem-firstboot.service', 'tandem-console.service', 'tandem-screen.service', 'tandem-hostname.service', 'tandem-console-password.path', 'tandem-console-password.service', 'tandem-console-password-restore.service']
        const verify = await exec('/usr/bin/systemd-analyze', ['verify', ...units.map(u => `/etc/systemd/system/${u}`)])
        check('systemd-analyze verify: the units are clean', verify.status === 0 && verify.out.trim() === '', verify.out.trim().split('\n').slice(0, 3).join(' / '))
      } catch (err) {
        check('systemd-analyze verify: the units are clean', false, message(err))
      }
      try {
        const security = await exec('/usr/bin/systemd-analyze', ['security', '--no-pager', 'tandem.service'])
        const m = /Overall exposure level for tandem\.service: ([\d.]+) (\S+)/.exec(security.out)
        await writeFile(join(OUT_DIR, 'smoke-security.txt'), security.out)
        check(`systemd-analyze security tandem.service: exposure at most ${MAX_SECURITY_EXPOSURE}`, m !== null && Number(m[1]) <= MAX_SECURITY_EXPOSURE, m === null ? security.out.slice(-300) : `${m[1]} ${m[2]} (image/out/smoke-security.txt)`)
      } catch (err) {
        check('systemd-analyze security tandem.service', false, message(err))
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

    try {
      const off = await powerOff(box)
      check('it powers off on an ACPI power-down', off.code === 0, seconds(off.ms))
    } catch (err) {
      check('it powers off on an ACPI power-down', false, message(err))
    }
    console.log(`# ${accel}: QEMU start to the daemon's status on the serial console ${upAtMs === undefined ? 'n/a' : seconds(upAtMs)}`)
  } finally {
    killBoxes()
    await rm(work, { recursive: true, force: true })
  }
}

// Run, not imported.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  noArguments('usage: npm run image:smoke   (as root: builds, then node image/smoke.ts)\nBoots the built image under QEMU and checks the box (image/README.md "Boot check"); prints N passed, N failed; its QEMU is killed however it ends.')
  runChecks(checks, 'smoke test', TIMEOUT_SMOKE_MS, smoke, killBoxes)
}
