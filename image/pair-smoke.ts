/**
 * `npm run image:pair` (after `npm run image`): boots two copies of the built
 * image under QEMU (TCG here), each on its own qcow2 overlay of the one .raw
 * with its own OVMF variables, its web port forwarded to a random 127.0.0.1
 * port, and a second NIC on a link between the two (QEMU socket networking on
 * loopback: A listens, B connects), addressed statically through the guest
 * agent (a networkd file matched by the link NIC's MAC). Then: B opens a
 * pairing window, A joins with its PIN over the link; A protects a
 * manual-driver VM whose 64 MiB raw disk it wrote from /dev/urandom; once the
 * initial replication made a point on B, B's daemon is stopped, the newest
 * point restored and hashed (it must equal A's disk), verified, and the
 * daemon started again. Also measures a nested TCG boot of the image's own
 * kernel inside A (what a VM run by an emulated box would cost). Prints
 * `N passed, N failed`, ends by itself (TIMEOUT_PAIR_MS), both QEMUs killed
 * by pid. Serial consoles in image/out/pair-{a,b}-serial.log.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { OUT_DIR, run } from './build.ts'
import { Checks, message, runChecks, seconds } from './checks.ts'
import { delay, within } from './guest-agent.ts'
import { bootBox, freePort, killBoxes, powerOff, sh, tandem, type Box } from './qemu-box.ts'
import { noArguments } from './script-cli.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** The whole test: two TCG boots at once on a busy 2-core machine, then replication inside them. */
const TIMEOUT_PAIR_MS = 40 * 60_000
/** From QEMU's start to the console's block from the running daemon (tandem console), two guests booting at once. */
const TIMEOUT_BOOT_MS = 20 * 60_000
/** From `replication enable` to the first point listed on B (64 MiB hashed and sent under TCG). */
const TIMEOUT_INITIAL_REPLICATION_MS = 15 * 60_000
/** The nested boot: QEMU TCG inside QEMU TCG, the kernel up to its root-mount panic. */
const TIMEOUT_NESTED_S = 300
/** The daemon back after `systemctl start` (Node's start under TCG: one to two minutes). */
const TIMEOUT_DAEMON_BACK_MS = 5 * 60_000
/** Each box's overlay: as smoke.ts, larger than the image so the data partition grows. */
const DISK_BYTES = 4 * 1024 ** 3
/** The protected VM's disk written in A. */
const VM_DISK_MIB = 64
const VM_DISK = '/var/lib/tandem/pair-vm.raw'
const VM_NAME = 'pairvm'
/** The link between the boxes: MACs (the networkd file matches them) and addresses. */
const LINK = {
  a: { mac: '52:54:00:7a:00:01', address: '10.77.0.1' },
  b: { mac: '52:54:00:7a:00:02', address: '10.77.0.2' }
} as const
/** The daemon's default libp2p port (tandem init's `--listen` default). */
const P2P_PORT = 7450

const checks = new Checks()
const { check } = checks

/** The link NIC's address, by a networkd file that matches its MAC (sorts before 80-tandem-dhcp.network). */
async function addressLink (box: Box): Promise<{ status: number, out: string }> {
  const { mac, address } = LINK[box.name as 'a' | 'b']
  const file = `[Match]\\nMACAddress=${mac}\\n\\n[Network]\\nAddress=${address}/24\\nLinkLocalAddressing=no\\n`
  return sh(box, `printf '${file}' > /etc/systemd/network/10-tandem-pair-link.network && networkctl reload && ` +
    `for i in /sys/class/net/*; do [ "$(cat $i/address)" = ${mac} ] && networkctl reconfigure "\${i##*/}"; done; ` +
    `for n in $(seq 30); do ip -o -4 addr show | grep -q ' ${address}/' && break; sleep 1; done; ip -o -4 addr show | grep ' ${address}/'`)
}

async function checkPowerOff (box: Box): Promise<void> {
  try {
    const { code, ms } = await powerOff(box)
    check(`box ${box.name} powers off on an ACPI power-down`, code === 0, seconds(ms))
  } catch (err) {
    check(`box ${box.name} powers off on an ACPI power-down`, false, message(err))
  }
}

interface Point { id: number | string, time: string, disks: Array<{ name: string, size: number }> }

/** Box a or b: a qcow2 overlay of the one .raw, the link's NIC on the QEMU socket `link`. */
async function boot (name: 'a' | 'b', image: string, work: string, link: string): Promise<Box> {
  const dir = join(work, name)
  await mkdir(dir, { recursive: true })
  const disk = join(dir, 'disk.qcow2')
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', image, disk, String(DISK_BYTES)])
  return bootBox({
    name, log: `pair-${name}`, dir, disk: { path: disk, format: 'qcow2' },
    extraArgs: ['-netdev', `socket,id=n1,${link}`, '-device', `virtio-net-pci,netdev=n1,mac=${LINK[name].mac}`]
  })
}

async function pair (): Promise<void> {
  const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const image = join(OUT_DIR, `tandem-${manifest.version}.raw`)
  const work = await mkdtemp(join(tmpdir(), 'tandem-image-pair-'))
  await mkdir(OUT_DIR, { recursive: true })
  try {
    const linkPort = await freePort()
    console.log(`# two boxes from ${image} under TCG; link: QEMU socket 127.0.0.1:${linkPort}; consoles in ${OUT_DIR}/pair-{a,b}-serial.log`)
    // A listens on the link's socket, so it starts first; B connects to it.
    const a = await boot('a', image, work, `listen=127.0.0.1:${linkPort}`)
    await delay(2000)
    const b = await boot('b', image, work, `connect=127.0.0.1:${linkPort}`)
    console.log(`# web ports: A 127.0.0.1:${a.webPort}, B 127.0.0.1:${b.webPort}`)
    const ticker = setInterval(() => { console.log(`# still booting (${seconds(Date.now() - a.started)})`) }, 30_000)
    let bothUp = true
    for (const box of [a, b]) {
      try {
        const up = await within(TIMEOUT_BOOT_MS, `box ${box.name}'s console block from the running daemon`, box.up)
        bothUp = check(`box ${box.name} boots and its daemon runs`, up.block.name !== null, `${up.block.name ?? 'no name'} running ${seconds(up.atMs)} after QEMU started`) && bothUp
      } catch (err) {
        bothUp = check(`box ${box.name} boots and its daemon runs`, false, message(err)) && bothUp
      }
    }
    clearInterval(ticker)
    if (bothUp) await scenario(a, b)
    await Promise.all([checkPowerOff(a), checkPowerOff(b)])
  } finally {
    killBoxes()
    await rm(work, { recursive: true, force: true })
  }
}

/** Pairing, replication and the restore check on two booted boxes. Stops at the first failure it cannot go past. */
async function scenario (a: Box, b: Box): Promise<void> {
  for (const box of [a, b]) {
    const linked = await addressLink(box).catch((err: unknown) => ({ status: -1, out: message(err) }))
    if (!check(`box ${box.name} has its link address ${LINK[box.name as 'a' | 'b'].address}`, linked.status === 0, linked.out.trim().replace(/\s+/g, ' ').slice(0, 120))) return
  }

  let pin = ''
  try {
    const window = await tandem<{ pin: string | null, addresses: string[] }>(b, ['pair', 'open', '--mode', 'pin'])
    pin = window.pin ?? ''
    check('box B opens a pairing window (tandem pair open)', /^\d{8}$/.test(pin), `addresses ${window.addresses.join(' ')}`)
  } catch (err) {
    check('box B opens a pairing window (tandem pair open)', false, message(err)); return
  }
  let bPeer = ''
  const pairStarted = Date.now()
  try {
    const joined = await tandem<{ peer: { peerId: string, name: string }, confirmationCode: string }>(a, ['pair', 'join', '--pin', pin, '--addr', `/ip4/${LINK.b.address}/tcp/${P2P_PORT}`])
    bPeer = joined.peer.peerId
    check('box A joins with the PIN over the link (tandem pair join)', bPeer !== '', `paired with ${joined.peer.name} ${bPeer}, code ${joined.confirmationCode}, ${seconds(Date.now() - pairStarted)}`)
  } catch (err) {
    check('box A joins with the PIN over the link (tandem pair join)', false, message(err)); return
  }
  try {
    const listed = await tandem<Array<{ peerId: string, name: string }>>(b, ['pair', 'list'])
    check('box B lists box A as paired', listed.length === 1, listed.map(p => `${p.name} ${p.peerId}`).join(', '))
  } catch (err) {
    check('box B lists box A as paired', false, message(err))
  }

  const written = await sh(a, `dd if=/dev/urandom of=${VM_DISK} bs=1M count=${VM_DISK_MIB} status=none && chown tandem:tandem ${VM_DISK} && sha256sum ${VM_DISK}`)
  const sourceHash = /^([0-9a-f]{64})\s/.exec(written.out)?.[1] ?? ''
  if (!check(`box A writes a ${VM_DISK_MIB} MiB raw disk from /dev/urandom`, written.status === 0 && sourceHash !== '', `sha256 ${sourceHash.slice(0, 16)}...`)) return
  const enableStarted = Date.now()
  try {
    await tandem(a, ['vm', 'add', VM_NAME, '--disk', VM_DISK, '--driver', 'manual'])
    const status = await tandem<{ state: string }>(a, ['replication', 'enable', VM_NAME, '--to', bPeer, '--frequency', '1h', '--recovery-points', '0'])
    check('box A protects a manual-driver VM on box B (vm add, replication enable)', true, `state ${status.state}`)
  } catch (err) {
    check('box A protects a manual-driver VM on box B (vm add, replication enable)', false, message(err)); return
  }

  let store = ''
  let point: Point | undefined
  const deadline = Date.now() + TIMEOUT_INITIAL_REPLICATION_MS
  while (Date.now() < deadline && point === undefined) {
    await delay(10_000)
    try {
      const points = await tandem<{ store: string, points: Point[] }>(b, ['points', VM_NAME])
      store = points.store
      point = points.points.at(-1)
    } catch (err) {
      console.log(`# waiting for the first point on B: ${message(err).split('\n')[0]}`)
    }
  }
  const replicatedMs = Date.now() - enableStarted
  if (!check('the initial replication makes a recovery point on box B', point !== undefined, `${seconds(replicatedMs)} from replication enable to the point listed (${VM_DISK_MIB} MiB, about ${(VM_DISK_MIB / (replicatedMs / 1000)).toFixed(2)} MiB/s)`)) return
  try {
    const primary = await tandem<{ primary: Array<{ state: string, health: string }> }>(a, ['replication', 'status', VM_NAME])
    check('box A: the relationship is replicating', primary.primary[0]?.state === 'replicating', `${primary.primary[0]?.state}, health ${primary.primary[0]?.health}`)
  } catch (err) {
    check('box A: the relationship is replicating', false, message(err))
  }

  // `tandem restore` works on a closed store: the daemon stopped first, started again after.
  const stopped = await sh(b, 'systemctl stop tandem.service', TIMEOUT_DAEMON_BACK_MS)
  check('box B: tandem.service stops', stopped.status === 0, stopped.out.trim())
  const restoreStarted = Date.now()
  const restored = await sh(b, `runuser -u tandem -- /usr/local/bin/tandem restore --store '${store}' --point latest --out /var/lib/tandem/pair-restored.raw && sha256sum /var/lib/tandem/pair-restored.raw`, TIMEOUT_DAEMON_BACK_MS)
  const restoredHash = /^([0-9a-f]{64})\s/m.exec(restored.out)?.[1] ?? ''
  check('the newest point restored on box B equals box A\'s disk (sha256)', restored.status === 0 && restoredHash === sourceHash, restored.status === 0 ? `${restoredHash.slice(0, 16)}... in ${seconds(Date.now() - restoreStarted)}` : restored.out.trim().slice(-300))
  const verified = await sh(b, `runuser -u tandem -- /usr/local/bin/tandem verify --store '${store}' --point all`, TIMEOUT_DAEMON_BACK_MS)
  check('tandem verify: the points on box B verify', verified.status === 0, verified.out.trim().split('\n').slice(-1)[0] ?? '')
  await sh(b, 'rm -f /var/lib/tandem/pair-restored.raw; systemctl start tandem.service')
  let back = false
  const backDeadline = Date.now() + TIMEOUT_DAEMON_BACK_MS
  while (!back && Date.now() < backDeadline) {
    await delay(5000)
    try { back = (await tandem<Array<{ peerId: string }>>(b, ['pair', 'list'])).length === 1 } catch { /* still starting */ }
  }
  check('box B: the daemon is back, box A still paired', back)

  await nested(a)
}

/**
 * A VM inside an emulated box: QEMU TCG in QEMU TCG, the image's own kernel
 * with no root to mount, timed to its panic (panic=-1 and -no-reboot: QEMU exits).
 * A figure, not a pass/fail: it says whether a box under emulation can run its VMs.
 */
async function nested (box: Box): Promise<void> {
  const script = `s=$(date +%s%N); timeout ${TIMEOUT_NESTED_S} qemu-system-x86_64 -accel tcg -m 256 -display none -monitor none -serial file:/tmp/nested.log -no-reboot ` +
    `-kernel /vmlinuz -append 'console=ttyS0 panic=-1' >/dev/null 2>&1; r=$?; e=$(date +%s%N); ` +
    `echo "status=$r ms=$(( (e - s) / 1000000 )) panic=$(grep -c 'Kernel panic' /tmp/nested.log)"`
  try {
    const result = await sh(box, script, (TIMEOUT_NESTED_S + 60) * 1000)
    const m = /status=(\d+) ms=(\d+) panic=(\d+)/.exec(result.out)
    console.log(`# nested TCG (a VM inside box A): ${m === null ? result.out.trim() : m[3] !== '0' ? `the kernel booted to its root-mount panic in ${seconds(Number(m[2]))}` : `no panic within ${TIMEOUT_NESTED_S} s (status ${m[1]})`}`)
  } catch (err) {
    console.log(`# nested TCG: not measured: ${message(err)}`)
  }
}

noArguments('usage: npm run image:pair   (as root: builds, then node image/pair-smoke.ts)\nBoots two images linked on loopback, pairs them and replicates a disk (image/README.md "Two boxes"); prints N passed, N failed.')
runChecks(checks, 'pair test', TIMEOUT_PAIR_MS, pair, killBoxes)
