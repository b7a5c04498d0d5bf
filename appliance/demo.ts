/**
 * `npm run demo [-- --frequency 30s] [--cycles N] [--keep-files]`: two Tandem
 * boxes on this machine, as an operator would run them. Each step runs the
 * real `tandem` command and echoes it first.
 *
 * It initializes two boxes (their own data directories, their own ports on
 * 127.0.0.1), starts both daemons, pairs them with a PIN, adds a demo VM
 * (the manual driver: a disk image Tandem reads but does not run) on the
 * first, and protects it with replication to the second every 30 s. A
 * stand-in for the guest then changes the disk after every cycle. The demo
 * prints each box's web page (its URL, certificate fingerprint and one-time
 * setup code: docs/web.md), where the dashboard shows the replication live,
 * and the commands that show what happens; it runs until Ctrl-C (or for
 * `--cycles N` cycles), then stops both daemons cleanly.
 *
 * The pages are served over HTTPS, on 127.0.0.1, not over the plain HTTP
 * that loopback would allow: the demo shows what a real box serves, and its
 * fingerprint is the one to compare with what the browser's certificate
 * warning shows, as an operator does with a real box.
 *
 * The guest's writes land between cycles, never during one: the manual
 * driver reads a disk only while nothing writes it (a VM Tandem does not run
 * is one that is stopped, or whose host quiesces it); a running VM is the
 * qemu driver's, with change tracking.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const BIN = join(ROOT, 'bin/tandem.js')
const MiB = 1024 * 1024
/** The demo VM's disk: 256 MiB, mostly zeros, like a fresh VM. */
const DISK_SIZE = 256 * MiB
/** 4 KiB writes the stand-in guest makes after each cycle. */
const WRITES_PER_CYCLE = 32
/** How long a daemon may take to say it is ready. */
const TIMEOUT_READY_MS = 60_000
/** How often the demo looks for a new cycle. */
const POLL_MS = 1_000

class StepFailed extends Error {}

let demoDir = ''
const shown = (text: string): string => demoDir === '' ? text : text.replaceAll(demoDir, '$DEMO')
const say = (text: string): void => { process.stdout.write(`\n${text}\n`) }

interface Options { frequency: string, cycles: number | undefined, keepFiles: boolean }

function parseOptions (argv: string[]): Options {
  const options: Options = { frequency: '30s', cycles: undefined, keepFiles: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--keep-files') options.keepFiles = true
    else if (a === '--frequency' && argv[i + 1] !== undefined) options.frequency = argv[++i]!
    else if (a === '--cycles' && /^[1-9][0-9]{0,3}$/.test(argv[i + 1] ?? '')) options.cycles = Number(argv[++i])
    else throw new StepFailed(`unknown or incomplete option ${a ?? ''}: use --frequency DURATION, --cycles N (1-9999), --keep-files`)
  }
  return options
}

/**
 * Runs `tandem <args>`: echoes the command line and its stdout (`quiet`: only
 * the command line; `silent`: nothing, for the demo's own polling). Throws
 * StepFailed unless it exits 0. Returns stdout.
 */
async function tandem (args: string[], show: 'all' | 'quiet' | 'silent' = 'all'): Promise<string> {
  if (show !== 'silent') process.stdout.write(`$ tandem ${shown(args.join(' '))}\n`)
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s })
  const status = await new Promise<number | null>(resolve => child.on('close', resolve))
  if (show === 'all' && out !== '') process.stdout.write(shown(out).replace(/^/gm, '    ').trimEnd() + '\n')
  if (status !== 0) throw new StepFailed(`tandem ${args.slice(0, 2).join(' ')} exited with ${status}: ${shown(err.trim())}`)
  return out
}

const json = async <T>(args: string[]): Promise<T> => JSON.parse(await tandem([...args, '--json'], 'quiet')) as T

interface Daemon { name: string, child: ChildProcessByStdio<null, Readable, Readable>, exited: Promise<number | null> }

/** Starts `tandem start --data dir`, its logs into `log`; resolves once it says it is ready. */
async function startDaemon (name: string, dataDir: string, log: string): Promise<Daemon> {
  process.stdout.write(`$ tandem start --data ${shown(dataDir)} > ${shown(log)} &\n`)
  // detached: Ctrl-C reaches the demo alone, which then stops each daemon with SIGTERM, in order.
  const child = spawn(process.execPath, [BIN, 'start', '--data', dataDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  child.stdout.pipe(createWriteStream(log))
  const exited = new Promise<number | null>(resolve => child.on('close', resolve))
  let err = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new StepFailed(`${name} was not ready in ${TIMEOUT_READY_MS / 1000} s: ${shown(err.trim())}`)) }, TIMEOUT_READY_MS)
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      err += s
      if (err.includes('tandem: ready')) { clearTimeout(timer); resolve() }
    })
    void exited.then(status => { clearTimeout(timer); reject(new StepFailed(`${name} exited with ${status}: ${shown(err.trim())}`)) })
  })
  return { name, child, exited }
}

async function stopDaemon (d: Daemon): Promise<void> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return
  process.stdout.write(`stopping ${d.name} (SIGTERM)\n`)
  d.child.kill('SIGTERM')
  const status = await d.exited
  if (status !== 0) process.stdout.write(`    ${d.name} exited with ${status}\n`)
}

/** The stand-in guest: scattered 4 KiB writes of random bytes. */
async function changeDisk (path: string): Promise<void> {
  const h = await open(path, 'r+')
  try {
    for (let i = 0; i < WRITES_PER_CYCLE; i++) {
      const offset = Math.floor(Math.random() * (DISK_SIZE / 4096)) * 4096
      await h.write(randomBytes(4096), 0, 4096, offset)
    }
  } finally {
    await h.close()
  }
}

async function makeDisk (path: string): Promise<void> {
  const h = await open(path, 'w')
  try {
    await h.truncate(DISK_SIZE)
    await h.write(randomBytes(8 * MiB), 0, 8 * MiB, MiB) // an "operating system"
  } finally {
    await h.close()
  }
}

interface StatusJson { peerId: string, addresses: string[], web: { url: string | null, fingerprint: string | null, setupCode: string | null } | null }

/** A TCP port free on 127.0.0.1 now, for a box's web page (the box binds it moments later). */
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}

/** Prints where box `name`'s web page is, the fingerprint its certificate must have, and how to log in. */
async function showWebPage (name: string, dataDir: string): Promise<void> {
  const { web } = await json<StatusJson>(['status', '--data', dataDir])
  if (web === null || web.url === null) throw new StepFailed(`${name} serves no web page`)
  process.stdout.write(`    ${name}: ${web.url}\n`)
  if (web.fingerprint !== null) process.stdout.write(`      certificate ${web.fingerprint}\n`)
  process.stdout.write(web.setupCode === null ? '      log in with the password set for it\n' : `      one-time setup code ${web.setupCode}\n`)
}
interface ReplicationJson { state: string, health: string, reason: string, lastReplicationTime: string | null }

async function demo (options: Options, stop: AbortSignal): Promise<void> {
  const branch = join(demoDir, 'branch')
  const head = join(demoDir, 'head')
  const disk = join(demoDir, 'demo-vm.img')
  const daemons: Daemon[] = []
  try {
    say('1. Two boxes on this machine: "branch" (the branch office, where the VM runs) and "head" (the other site, its Replica).')
    await tandem(['init', '--data', branch, '--name', 'branch', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', `127.0.0.1:${await freePort()}`])
    await tandem(['init', '--data', head, '--name', 'head', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', `127.0.0.1:${await freePort()}`])
    daemons.push(await startDaemon('branch', branch, join(demoDir, 'branch.log')))
    daemons.push(await startDaemon('head', head, join(demoDir, 'head.log')))

    say('2. Pair them: "head" opens a pairing window with a PIN, "branch" joins with that PIN and head\'s address.')
    const window = await json<{ pin: string }>(['pair', 'open', '--data', head])
    const headStatus = await json<StatusJson>(['status', '--data', head])
    const address = headStatus.addresses.find(a => a.includes('/127.0.0.1/'))
    if (address === undefined) throw new StepFailed('head has no loopback address')
    process.stdout.write(`    (head shows the PIN ${window.pin})\n`)
    await tandem(['pair', 'join', '--data', branch, '--pin', window.pin, '--addr', address])

    say('3. A demo VM on "branch": a 256 MiB disk image, protected with replication to "head".')
    await makeDisk(disk)
    await tandem(['vm', 'add', 'demo', '--data', branch, '--disk', disk, '--driver', 'manual'])
    await tandem(['replication', 'enable', 'demo', '--data', branch, '--to', headStatus.peerId, '--frequency', options.frequency, '--recovery-points', '5'])

    say('4. Each box\'s web page: its dashboard shows the replication live.')
    await showWebPage('branch', branch)
    await showWebPage('head', head)
    process.stdout.write('    Open a URL (the browser warns of the self-signed certificate: its SHA-256 fingerprint must be the one above),\n' +
      '    type the box\'s setup code and choose a password; from then on, log in with that password.\n')

    say(`5. Replicating every ${options.frequency}; the VM's disk changes after each cycle. Watch it from another terminal:`)
    // As typed from the checkout (README "Putting tandem on PATH" shortens it to `tandem`).
    const cmd = relative(process.cwd(), BIN) === 'bin/tandem.js' ? 'bin/tandem.js' : BIN
    for (const line of [
      `status --data ${branch}`,
      `replication status demo --data ${branch}`,
      `replication measure demo --data ${branch}`,
      `events demo --data ${branch}`,
      `points demo --data ${head}`
    ]) process.stdout.write(`    ${cmd} ${line}\n`)
    process.stdout.write(options.cycles === undefined ? '    Ctrl-C stops the demo and both boxes.\n' : `    The demo stops after ${options.cycles} cycles.\n`)

    let seen: string | null = null
    let cycles = 0
    while (!stop.aborted && (options.cycles === undefined || cycles < options.cycles)) {
      const [status] = (JSON.parse(await tandem(['replication', 'status', 'demo', '--data', branch, '--json'], 'silent')) as { primary: ReplicationJson[] }).primary
      if (status !== undefined && status.lastReplicationTime !== null && status.lastReplicationTime !== seen) {
        seen = status.lastReplicationTime
        cycles++
        process.stdout.write(`    cycle ${cycles} replicated at ${seen}: ${status.state}, health ${status.health} (${status.reason})\n`)
        await changeDisk(disk)
      }
      await new Promise(resolve => setTimeout(resolve, POLL_MS))
    }
    say('6. The recovery points on "head":')
    await tandem(['points', 'demo', '--data', head])
  } finally {
    for (const d of daemons) await stopDaemon(d)
  }
}

async function main (): Promise<number> {
  const stop = new AbortController()
  process.on('SIGINT', () => { process.stdout.write('\nCtrl-C: stopping\n'); stop.abort() })
  let options: Options
  try {
    options = parseOptions(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 2
  }
  demoDir = await mkdtemp(join(tmpdir(), 'tandem-demo-'))
  say(`Working in $DEMO = ${demoDir}`)
  try {
    await demo(options, stop.signal)
    say('Demo OK: both boxes stopped cleanly.')
    return 0
  } catch (err) {
    say(`Demo FAILED: ${err instanceof StepFailed ? err.message : (err as Error).stack ?? String(err)}`)
    process.stdout.write(`The daemons' logs: ${demoDir}/branch.log, ${demoDir}/head.log\n`)
    options.keepFiles = true
    return 1
  } finally {
    if (options.keepFiles) process.stdout.write(`Files kept in ${demoDir}\n`)
    else await rm(demoDir, { recursive: true, force: true })
  }
}

process.exitCode = await main()
