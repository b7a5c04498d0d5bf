/**
 * A booted Tandem box under QEMU for the image's checks (smoke.ts,
 * pair-smoke.ts, upgrade-smoke.ts): boot it (q35, OVMF with its own
 * variables, user networking with the web port and any other forwards from
 * random 127.0.0.1 ports, the guest agent and QMP on unix sockets, the serial
 * console on QEMU's stdio, optional extra QEMU arguments such as a second
 * NIC), wait for its console's first `tandem console` block from a running
 * daemon (console-block.ts), run commands in it, power it off. Every QEMU
 * started is recorded so that killBoxes() kills them by pid, whatever the way
 * the check ends.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { copyFile, mkdir } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Writable } from 'node:stream'
import { OUT_DIR } from './build.ts'
import { consoleBlocks, type ConsoleBlock } from './console-block.ts'
import { JsonSocket, TIMEOUT_GUEST_EXEC_MS, guestExec, within } from './guest-agent.ts'
import { plain, type SerialOutput } from './serial-shell.ts'

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd'
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd'
/** The web page's port in the guest (image/files/etc/systemd/system/tandem-firstboot.service). */
export const WEB_PORT = 7443
/** From ACPI power-down to QEMU's exit. */
export const TIMEOUT_POWEROFF_MS = 180_000
/** The serial console's raw output kept for serial-shell.ts (a boot and a reboot print ~150 KiB). */
const MAX_SERIAL_BYTES = 8 * 1024 * 1024

/** The QEMUs started, killed by pid by killBoxes(). */
const running: ChildProcess[] = []

export function killBoxes (): void {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
  }
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

/** One booted box: its QEMU, sockets and what its console said. */
export interface Box {
  name: string
  child: ChildProcess
  agentPath: string
  qmpPath: string
  webPort: number
  started: number
  /** Every line of the serial console so far, terminal codes removed (it grows while the guest runs). */
  serial: string[]
  /** The serial console's raw output, and its input (QEMU's stdin): serial-shell.ts types there. */
  serialRaw: SerialOutput
  input: Writable
  /** Resolves with the console's first block from the running daemon, or rejects when QEMU exits first. */
  up: Promise<{ block: ConsoleBlock, atMs: number }>
  exited: Promise<number | null>
}

export interface BootOptions {
  /** Names the box in messages and its console log, image/out/LOG-serial.log. */
  name: string
  log: string
  /** A folder of its own for the OVMF variables and the sockets. */
  dir: string
  disk: { path: string, format: 'qcow2' | 'raw' }
  /** TCG unless told (the KVM probe decides: smoke.ts). */
  accel?: 'kvm' | 'tcg'
  /** More 127.0.0.1 ports forwarded to the guest's, beside the web port's. */
  forwards?: Array<{ host: number, guest: number }>
  /** The guest may reboot; otherwise QEMU exits when it does. */
  reboot?: boolean
  /** More QEMU arguments (a second NIC). */
  extraArgs?: string[]
  /** OVMF variables to start from (a box booted before keeps its boot entries); a fresh copy by default. */
  vars?: string
}

export async function bootBox (options: BootOptions): Promise<Box> {
  await mkdir(options.dir, { recursive: true })
  const vars = join(options.dir, 'OVMF_VARS.fd')
  if (options.vars !== vars) await copyFile(options.vars ?? OVMF_VARS, vars)
  const webPort = await freePort()
  const agentPath = join(options.dir, 'agent.sock')
  const qmpPath = join(options.dir, 'qmp.sock')
  const args = boxQemuArgs({ accel: options.accel ?? 'tcg', vars, disk: options.disk, webPort, forwards: options.forwards, reboot: options.reboot, agentPath, qmpPath, extra: options.extraArgs })
  const started = Date.now()
  const child = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'] })
  running.push(child)
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-4096) })
  const exited = new Promise<number | null>(resolve => { child.on('exit', code => { resolve(code) }) })
  const serialRaw: SerialOutput = { text: '' }
  child.stdout.on('data', (chunk: Buffer) => { if (serialRaw.text.length < MAX_SERIAL_BYTES) serialRaw.text += chunk.toString('utf8') })
  await mkdir(OUT_DIR, { recursive: true })
  const log = createWriteStream(join(OUT_DIR, `${options.log}-serial.log`))
  const serial: string[] = []
  const up = new Promise<{ block: ConsoleBlock, atMs: number }>((resolve, reject) => {
    let seen = false
    createInterface({ input: child.stdout }).on('line', raw => {
      const line = plain(raw)
      serial.push(line)
      log.write(line + '\n')
      // A block ends with its `updated` line.
      if (seen || !/ updated {5}/.test(line)) return
      const block = consoleBlocks(serial).find(b => b.daemon === 'up')
      if (block !== undefined) { seen = true; resolve({ block, atMs: Date.now() - started }) }
    })
    void exited.then(code => { log.end(); reject(new Error(`QEMU exited (${code}) before the box was up: ${stderr.trim()}`)) })
  })
  up.catch(() => {})
  return { name: options.name, child, agentPath, qmpPath, webPort, started, serial, serialRaw, input: child.stdin, up, exited }
}

/** A shell command as root in the box; its status and output (stdout then stderr). */
export function sh (box: Box, script: string, timeoutMs = TIMEOUT_GUEST_EXEC_MS): Promise<{ status: number, out: string }> {
  return within(timeoutMs, `box ${box.name}: ${script.slice(0, 60)}`, guestExec(box.agentPath, '/bin/sh', ['-c', script]))
}

/** `tandem ARGS --data /var/lib/tandem --json` as user tandem in the box; its parsed output. */
export async function tandem<T> (box: Box, args: string[], timeoutMs = TIMEOUT_GUEST_EXEC_MS): Promise<T> {
  const result = await within(timeoutMs, `box ${box.name}: tandem ${args.join(' ')}`,
    guestExec(box.agentPath, '/usr/sbin/runuser', ['-u', 'tandem', '--', '/usr/local/bin/tandem', ...args, '--data', '/var/lib/tandem', '--json']))
  const start = result.out.search(/^[[{]/m)
  if (result.status !== 0 || start < 0) throw new Error(`tandem ${args.slice(0, 2).join(' ')}: status ${result.status}: ${result.out.trim().slice(0, 400)}`)
  return JSON.parse(result.out.slice(start)) as T
}

/** ACPI power-down through QMP; resolves with QEMU's exit status and the time it took. */
export async function powerOff (box: Box): Promise<{ code: number | null, ms: number }> {
  const started = Date.now()
  const qmp = new JsonSocket(box.qmpPath)
  try {
    await qmp.connected()
    await qmp.next()
    qmp.send({ execute: 'qmp_capabilities' })
    await qmp.next()
    qmp.send({ execute: 'system_powerdown' })
    const code = await within(TIMEOUT_POWEROFF_MS, 'power-off', box.exited)
    return { code, ms: Date.now() - started }
  } finally {
    qmp.close()
  }
}
