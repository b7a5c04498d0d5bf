/**
 * `npm run image:upgrade` (after `npm run image`): an installed box upgraded
 * to a new image keeps its data (image/README.md "Upgrading"). Boots version
 * N (the built .raw, copied to a 4 GiB raw disk as a box's disk would be)
 * under QEMU TCG; there the box gets an identity (first boot), a pairing (it
 * joins a Tandem daemon on this host with a PIN, over user networking: the
 * host's 127.0.0.1 is 10.0.2.2 in the guest) and a store with a recovery
 * point (`tandem replicate` of a 16 MiB random disk written in the box). It is
 * powered off, version N+1 is built (TANDEM_IMAGE_VERSION: only the version
 * differs), the disk upgraded offline (upgrade.ts: ESP and root written over,
 * data untouched), and the box booted again: the new version runs, with the
 * same peer id and name, the same pairings, the same recovery points, which
 * verify and restore to the disk's hash. Prints `N passed, N failed`, ends by
 * itself (TIMEOUT_UPGRADE_MS); its QEMU and the host daemon killed by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { OUT_DIR, run } from './build.ts'
import { Checks, message, runChecks, seconds } from './checks.ts'
import { delay, within } from './guest-agent.ts'
import { bootBox, freePort, killBoxes, powerOff, sh, tandem, type Box } from './qemu-box.ts'
import { upgradeDisk } from './upgrade.ts'
import { noArguments } from './script-cli.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TANDEM_JS = join(ROOT, 'bin', 'tandem.js')

/** Two TCG boots, a build and the upgrade. */
const TIMEOUT_UPGRADE_MS = 35 * 60_000
/** From QEMU's start to the console's block from the running daemon (tandem console). */
const TIMEOUT_BOOT_MS = 15 * 60_000
/** The N+1 build (cached layers: under a minute here). */
const TIMEOUT_BUILD_MS = 15 * 60_000
/** The host daemon's start (a Node start, no TCG). */
const TIMEOUT_HOST_DAEMON_MS = 60_000
/** The box's disk: larger than the image, like a real disk; the data partition grows into it. */
const DISK_BYTES = 4 * 1024 ** 3
const SOURCE_MIB = 16
const SOURCE = '/var/lib/tandem/upgrade-source.raw'
const STORE = '/var/lib/tandem/upgrade-store'
/** Root's console password set on version N; its hash must be root's again after the upgrade. */
const ROOT_PASSWORD = 'upgrade-test-console'
/** Where tandem-console-password.path keeps root's hash (/usr/lib/tandem/console-password). */
const KEPT_PASSWORD = '/var/lib/tandem/.console-password'

const checks = new Checks()
let hostDaemon: ChildProcess | undefined

const { check } = checks
function killAll (): void {
  killBoxes()
  if (hostDaemon?.pid !== undefined && hostDaemon.exitCode === null && hostDaemon.signalCode === null) process.kill(hostDaemon.pid, 'SIGKILL')
}

/** `tandem ... --json` on this host, with the project's Node. */
async function hostTandem<T> (args: string[]): Promise<T> {
  return JSON.parse(await run(process.execPath, [TANDEM_JS, ...args, '--json'], { timeoutMs: TIMEOUT_HOST_DAEMON_MS })) as T
}

/** A daemon on this host, on 127.0.0.1 only, with a PIN window open; its PIN and port. */
async function startHostDaemon (work: string): Promise<{ pin: string, port: number, peerId: string }> {
  const data = join(work, 'host-box')
  const port = await freePort()
  await hostTandem(['init', '--data', data, '--name', 'upgrade-host', '--listen', `/ip4/127.0.0.1/tcp/${port}`])
  hostDaemon = spawn(process.execPath, [TANDEM_JS, 'start', '--data', data], { stdio: 'ignore' })
  const deadline = Date.now() + TIMEOUT_HOST_DAEMON_MS
  for (;;) {
    try {
      const status = await hostTandem<{ state: string, peerId: string }>(['status', '--data', data])
      if (status.state === 'running') {
        const window = await hostTandem<{ pin: string }>(['pair', 'open', '--mode', 'pin', '--data', data])
        return { pin: window.pin, port, peerId: status.peerId }
      }
    } catch (err) {
      if (Date.now() > deadline) throw err
    }
    if (Date.now() > deadline) throw new Error('the host daemon did not start')
    await delay(1000)
  }
}

/** What must survive the upgrade. */
interface BoxRecord {
  version: string
  peerId: string
  name: string
  pairs: string[]
  points: string[]
}

async function record (box: Box): Promise<BoxRecord> {
  const version = (await sh(box, 'cat /usr/lib/tandem/image-version')).out.trim()
  const status = await tandem<{ peerId: string, name: string }>(box, ['status'])
  const pairs = (await tandem<Array<{ peerId: string }>>(box, ['pair', 'list'])).map(p => p.peerId).sort()
  const listed = await sh(box, `runuser -u tandem -- /usr/local/bin/tandem points --store ${STORE} --json`)
  let points: string[] = []
  try { points = (JSON.parse(listed.out.slice(Math.max(0, listed.out.indexOf('{')))) as { points: Array<{ id: number | string, root: string }> }).points.map(p => `${p.id}:${p.root}`) } catch { /* none: compared below */ }
  return { version, peerId: status.peerId, name: status.name, pairs, points }
}

async function waitUp (box: Box, what: string): Promise<boolean> {
  try {
    const up = await within(TIMEOUT_BOOT_MS, `${what}: the console's block from the running daemon (tandem console)`, box.up)
    return check(`${what}: the box boots and its daemon runs`, up.block.name !== null, `${up.block.name ?? 'no name'} running ${seconds(up.atMs)} after QEMU started`)
  } catch (err) {
    return check(`${what}: the box boots and its daemon runs`, false, message(err))
  }
}

async function shutDown (box: Box, what: string): Promise<boolean> {
  try {
    const { code, ms } = await powerOff(box)
    return check(`${what}: it powers off`, code === 0, seconds(ms))
  } catch (err) {
    return check(`${what}: it powers off`, false, message(err))
  }
}

async function upgrade (): Promise<void> {
  const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const oldImage = join(OUT_DIR, `tandem-${manifest.version}.raw`)
  const nextVersion = `${manifest.version}+upgrade-test`
  const newImage = join(OUT_DIR, `tandem-${nextVersion}.raw`)
  const work = await mkdtemp(join(tmpdir(), 'tandem-image-upgrade-'))
  try {
    const disk = join(work, 'box.raw')
    await run('cp', ['--sparse=always', oldImage, disk])
    await run('truncate', ['-s', String(DISK_BYTES), disk])
    const dir = join(work, 'box')
    console.log(`# version N: ${oldImage} on a ${DISK_BYTES / 1024 ** 3} GiB raw disk; console in ${OUT_DIR}/upgrade-{n,n1}-serial.log`)
    const before = await bootBox({ name: 'N', log: 'upgrade-n', dir, disk: { path: disk, format: 'raw' } })
    if (!await waitUp(before, 'version N')) return

    try {
      const host = await startHostDaemon(work)
      const joined = await tandem<{ peer: { peerId: string } }>(before, ['pair', 'join', '--pin', host.pin, '--addr', `/ip4/10.0.2.2/tcp/${host.port}`])
      check('version N: the box pairs with a daemon on the host (PIN, user networking)', joined.peer.peerId === host.peerId, joined.peer.peerId)
    } catch (err) {
      check('version N: the box pairs with a daemon on the host (PIN, user networking)', false, message(err))
    }
    const made = await sh(before, `dd if=/dev/urandom of=${SOURCE} bs=1M count=${SOURCE_MIB} status=none && chown tandem:tandem ${SOURCE} && ` +
      `runuser -u tandem -- /usr/local/bin/tandem replicate ${SOURCE} --store ${STORE} >/dev/null && sha256sum ${SOURCE} && sync`)
    const sourceHash = /^([0-9a-f]{64})\s/m.exec(made.out)?.[1] ?? ''
    check(`version N: a store with a recovery point of a ${SOURCE_MIB} MiB disk (tandem replicate)`, made.status === 0 && sourceHash !== '', made.status === 0 ? sourceHash.slice(0, 16) : made.out.slice(-300))
    // Root's console password (image/README.md "Console login"), set as `passwd` would set it:
    // tandem-console-password.path keeps its hash on the data partition.
    const password = await sh(before, `echo 'root:${ROOT_PASSWORD}' | chpasswd && for i in $(seq 60); do [ -f ${KEPT_PASSWORD} ] && break; sleep 1; done; ` +
      `awk -F: '$1 == "root" { print $2 }' /etc/shadow; cat ${KEPT_PASSWORD}; stat -c %u:%a ${KEPT_PASSWORD}`)
    const [rootHash = '', keptHash, keptOwner] = password.out.trim().split('\n')
    check('version N: root\'s console password, once set, is kept on the data partition (root\'s, 0600)', rootHash.startsWith('$') && keptHash === rootHash && keptOwner === '0:600',
      `${rootHash.slice(0, 12)}... kept ${keptHash === rootHash ? 'the same' : JSON.stringify(keptHash)}, ${keptOwner ?? password.out.slice(-200)}`)
    const old = await record(before)
    console.log(`# version N: ${JSON.stringify(old)}`)
    if (!await shutDown(before, 'version N')) return

    const buildStarted = Date.now()
    try {
      await run(process.execPath, [join(ROOT, 'image', 'build.ts')], { env: { ...process.env, TANDEM_IMAGE_VERSION: nextVersion }, timeoutMs: TIMEOUT_BUILD_MS })
      check(`version N+1 (${nextVersion}) is built`, existsSync(newImage), seconds(Date.now() - buildStarted))
    } catch (err) {
      check(`version N+1 (${nextVersion}) is built`, false, message(err)); return
    }
    const upgradeStarted = Date.now()
    try {
      const plan = await upgradeDisk(disk, newImage)
      check('the disk is upgraded offline: ESP and root written, data untouched', plan.map(c => c.name).join(',') === 'esp,tandem-root',
        `${plan.map(c => `${c.name} ${c.bytes / 1024 ** 2}/${c.targetBytes / 1024 ** 2} MiB`).join(', ')} in ${seconds(Date.now() - upgradeStarted)}`)
    } catch (err) {
      check('the disk is upgraded offline: ESP and root written, data untouched', false, message(err)); return
    }

    const after = await bootBox({ name: 'N+1', log: 'upgrade-n1', dir, disk: { path: disk, format: 'raw' }, vars: join(dir, 'OVMF_VARS.fd') })
    if (!await waitUp(after, 'version N+1')) return
    const now = await record(after)
    console.log(`# version N+1: ${JSON.stringify(now)}`)
    check('version N+1 runs', now.version === nextVersion && old.version === manifest.version, `${old.version} -> ${now.version}`)
    check('same peer id and name', now.peerId === old.peerId && now.peerId !== '' && now.name === old.name, `${now.name} ${now.peerId}`)
    const hostName = await sh(after, 'cat /proc/sys/kernel/hostname /etc/hostname')
    check('the host name is the box\'s name, not the new root\'s `tandem` (tandem-hostname.service)', hostName.out.split('\n').slice(0, 2).every(l => l.trim() === now.name), hostName.out.trim().replace(/\n/g, ' / '))
    const hashNow = await sh(after, 'awk -F: \'$1 == "root" { print $2 }\' /etc/shadow')
    check('root\'s console password is the one set on version N (tandem-console-password-restore.service)', hashNow.out.trim() === rootHash && rootHash !== '', `${hashNow.out.trim().slice(0, 12)}...`)
    check('same pairings', JSON.stringify(now.pairs) === JSON.stringify(old.pairs) && old.pairs.length === 1, now.pairs.join(', '))
    check('same recovery points', JSON.stringify(now.points) === JSON.stringify(old.points) && old.points.length === 1, now.points.join(', '))
    const verified = await sh(after, `runuser -u tandem -- /usr/local/bin/tandem verify --store ${STORE} --point all`)
    check('the points verify (tandem verify)', verified.status === 0, verified.out.trim().split('\n').slice(-1)[0] ?? '')
    const restored = await sh(after, `runuser -u tandem -- /usr/local/bin/tandem restore --store ${STORE} --point latest --out /var/lib/tandem/upgrade-restored.raw >/dev/null && sha256sum /var/lib/tandem/upgrade-restored.raw; rm -f /var/lib/tandem/upgrade-restored.raw`)
    check('the newest point restores to the disk it was made of (sha256)', restored.out.includes(sourceHash) && sourceHash !== '', restored.out.trim().slice(0, 80))
    await shutDown(after, 'version N+1')
  } finally {
    killAll()
    await rm(work, { recursive: true, force: true })
  }
}

noArguments('usage: npm run image:upgrade   (as root: builds, then node image/upgrade-smoke.ts)\nUpgrades a paired box with a recovery point offline and checks what it keeps (image/README.md "Upgrading"); prints N passed, N failed.')
runChecks(checks, 'upgrade test', TIMEOUT_UPGRADE_MS, upgrade, killAll)
