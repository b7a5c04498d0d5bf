/**
 * The VMs through the daemon, in process (a real Appliance on loopback, real
 * files, real qemu-img): vmAdd probes each disk and refuses with a code for
 * each problem (name taken, disk taken even through another path, missing
 * file, a directory, an unsupported format, a relative path, a bad range,
 * the same file twice); a manual VM cannot be started or stopped; remove is
 * refused while a relationship protects the VM, then forgets it without
 * touching its disks; a QEMU that does not answer QMP when the daemon starts
 * is left alone as `unknown`, and start and remove try adopting it again.
 * Every change is an event. (Running qemu VMs, their
 * stop and adoption after kill -9: test/appliance/daemon/vms-e2e.test.ts.)
 */
import t, { type Test } from 'tap'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { link, mkdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { PassThrough } from 'node:stream'
import { Appliance, initDataDir } from '../../../appliance/daemon/index.ts'
import { DEFAULT_SETTINGS, newRelationship } from '../../../appliance/relationships/index.ts'
import { fileHash, sparseFile, tempDir } from '../../helpers/fixtures.ts'
import { requireTools } from '../../helpers/tools.ts'

requireTools(t, ['qemu-img'])

const run = promisify(execFile)
const MiB = 2 ** 20
const PEER = '12D3KooWGRbfabh3dcHT5spviCYeMKCCsm8Pj38PMwDjKvxgojGV'
/** A fake QEMU: listens on the QMP socket named last on its command line, accepts, never greets; says "ready" once listening. */
const SILENT_QMP = "require('node:net').createServer(() => {}).listen(process.argv.at(-1), () => { process.stdout.write('ready') })"

async function appliance (t: Test): Promise<{ app: Appliance, root: string }> {
  const root = await tempDir(t)
  const dir = join(root, 'data')
  await initDataDir(dir, { name: 'box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const app = await Appliance.start({ dataDir: dir, log: new PassThrough().resume() })
  t.teardown(async () => { await app.stop() })
  return { app, root }
}

async function code (p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
    return undefined
  } catch (err) {
    return (err as { code?: string }).code
  }
}

t.test('vmAdd probes the disks and lists the VM', async t => {
  const { app, root } = await appliance(t)
  const raw = join(root, 'files.raw')
  const qcow = join(root, 'web.qcow2')
  await sparseFile(raw, 8 * MiB)
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', qcow, String(64 * MiB)])

  const manual = await app.vmAdd({ name: 'files', disks: [raw], driver: 'manual' })
  t.match(manual, {
    name: 'files', driver: 'manual', state: 'unmanaged', cpus: 1, memoryMiB: 1024, guestAgent: false,
    disks: [{ name: 'disk0', path: raw, format: 'raw', size: 8 * MiB }], nics: [], boot: null, relationship: null, pid: null
  })
  const web = await app.vmAdd({ name: 'web', disks: [qcow], cpus: 2, memoryMiB: 2048, nics: [{ mode: 'user' }] })
  t.match(web, { name: 'web', driver: 'qemu', state: 'stopped', cpus: 2, memoryMiB: 2048, disks: [{ name: 'disk0', path: qcow, format: 'qcow2', size: 64 * MiB }], nics: [{ id: 'net0', mode: 'user', bridge: null, mac: null }] })
  t.same((await app.vmList()).map(v => v.name), ['files', 'web'], 'in the order added')
  t.same(app.inventory.get('web')?.definition.disks.map(d => [d.name, d.path, d.format]), [['disk0', qcow, 'qcow2']], 'the inventory holds the probed format')

  const events = (await app.events.read()).events.filter(e => e.kind === 'vm-added')
  t.same(events.map(e => [e.vm, e.data?.driver, e.data?.disks]), [['files', 'manual', 1], ['web', 'qemu', 1]], 'each add is an event')
})

t.test('vmAdd refuses with a code for each problem, and adds nothing', async t => {
  const { app, root } = await appliance(t)
  const raw = join(root, 'a.raw')
  await sparseFile(raw, MiB)
  const other = join(root, 'b.raw')
  await sparseFile(other, MiB)
  await app.vmAdd({ name: 'a', disks: [raw], driver: 'manual' })
  const hard = join(root, 'a-hard.raw')
  await link(raw, hard)
  const soft = join(root, 'a-soft.raw')
  await symlink(raw, soft)
  await mkdir(join(root, 'dir'))
  const vmdk = join(root, 'x.vmdk')
  await run('qemu-img', ['create', '-q', '-f', 'vmdk', vmdk, String(MiB)])

  const cases: Array<[string, string, Parameters<Appliance['vmAdd']>[0]]> = [
    ['APP_VM_EXISTS', 'a name already taken', { name: 'a', disks: [other] }],
    ['APP_DISK_TAKEN', 'a disk of another VM', { name: 'b', disks: [raw] }],
    ['APP_DISK_TAKEN', 'the same file through a hard link', { name: 'b', disks: [hard] }],
    ['APP_DISK_TAKEN', 'the same file through a symlink', { name: 'b', disks: [soft] }],
    ['APP_DISK_NOT_FOUND', 'a missing file', { name: 'b', disks: [join(root, 'missing.raw')] }],
    ['APP_DISK_NOT_FOUND', 'a directory', { name: 'b', disks: [join(root, 'dir')] }],
    ['APP_DISK_FORMAT_UNSUPPORTED', 'a vmdk image', { name: 'b', disks: [vmdk] }],
    ['APP_VM_INVALID', 'a relative path', { name: 'b', disks: ['b.raw'] }],
    ['APP_VM_INVALID', 'no disk and no kernel', { name: 'b', disks: [] }],
    ['APP_VM_INVALID', 'a bad name', { name: '../b', disks: [other] }],
    ['APP_VM_INVALID', 'cpus out of range', { name: 'b', disks: [other], cpus: 65 }],
    ['APP_VM_INVALID', 'memory out of range', { name: 'b', disks: [other], memoryMiB: 8 }],
    ['APP_VM_INVALID', 'the same file twice', { name: 'b', disks: [other, other] }],
    ['APP_VM_INVALID', 'a relative kernel', { name: 'b', disks: [other], boot: { kernel: 'vmlinuz' } }]
  ]
  for (const [expected, what, request] of cases) t.equal(await code(app.vmAdd(request)), expected, what)
  t.same((await app.vmList()).map(v => v.name), ['a'], 'nothing else was added')
  t.equal((await app.events.read()).events.filter(e => e.kind === 'vm-added').length, 1, 'refusals are not events')
})

t.test('two adds at once naming one file by two paths: one is refused', async t => {
  const { app, root } = await appliance(t)
  const raw = join(root, 'a.raw')
  await sparseFile(raw, MiB)
  const hard = join(root, 'a-hard.raw')
  await link(raw, hard)
  const results = await Promise.all([code(app.vmAdd({ name: 'a', disks: [raw], driver: 'manual' })), code(app.vmAdd({ name: 'b', disks: [hard], driver: 'manual' }))])
  t.same(results.sort(), ['APP_DISK_TAKEN', undefined].sort(), 'one added, the other APP_DISK_TAKEN')
  t.equal((await app.vmList()).length, 1)
})

t.test('a manual VM is not started or stopped; unknown names are APP_VM_NOT_FOUND', async t => {
  const { app, root } = await appliance(t)
  const raw = join(root, 'a.raw')
  await sparseFile(raw, MiB)
  await app.vmAdd({ name: 'a', disks: [raw], driver: 'manual' })
  t.equal(await code(app.vmStart('a')), 'APP_VM_NOT_MANAGED')
  t.equal(await code(app.vmStop('a')), 'APP_VM_NOT_MANAGED')
  t.equal(await code(app.vmStart('nope')), 'APP_VM_NOT_FOUND')
  t.equal(await code(app.vmStop('nope')), 'APP_VM_NOT_FOUND')
  t.equal(await code(app.vmRemove('nope')), 'APP_VM_NOT_FOUND')
  t.equal(await code(app.vmStop('a', { timeoutMs: 0 })), 'APP_VM_NOT_MANAGED', 'the driver refuses first')
})

t.test('remove is refused while a relationship protects the VM, then forgets it and leaves its disks', async t => {
  const { app, root } = await appliance(t)
  const raw = join(root, 'a.raw')
  await run('qemu-img', ['create', '-q', '-f', 'raw', raw, String(4 * MiB)])
  const before = await fileHash(raw)
  await app.vmAdd({ name: 'a', disks: [raw] })
  await app.relationships.put(newRelationship({ id: 'rel-a', vm: 'a', role: 'primary', peer: PEER, settings: { ...DEFAULT_SETTINGS } }, Date.now()))
  t.match((await app.vmList())[0], { relationship: { id: 'rel-a', role: 'primary', peer: PEER, state: 'not-enabled' } }, 'the list names the relationship')
  t.equal(await code(app.vmRemove('a')), 'APP_VM_PROTECTED')
  t.equal((await app.vmList()).length, 1, 'still there')

  await app.relationships.remove('rel-a')
  t.same(await app.vmRemove('a'), { name: 'a', removed: true })
  t.same(await app.vmList(), [])
  t.equal(await fileHash(raw), before, 'the disk is untouched')
  t.equal(await code(app.vmRemove('a')), 'APP_VM_NOT_FOUND')
  const removed = (await app.events.read()).events.filter(e => e.kind === 'vm-removed')
  t.same(removed.map(e => e.vm), ['a'], 'the removal is an event')
  t.same(await app.vmAdd({ name: 'a', disks: [raw] }).then(v => v.name), 'a', 'the name and disk can be added again')
})

t.test('a QEMU that does not answer at start is left alone as unknown; start and remove try again', async t => {
  const root = await tempDir(t)
  const dir = join(root, 'data')
  await initDataDir(dir, { name: 'box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const first = await Appliance.start({ dataDir: dir, log: new PassThrough().resume() })
  const raw = join(root, 'stuck.raw')
  await sparseFile(raw, MiB)
  await first.vmAdd({ name: 'stuck', disks: [raw] })
  await first.stop()

  // a process that looks like the VM's QEMU (its -name and -qmp) and accepts QMP connections without ever greeting
  const runDir = join(dir, 'vms', 'stuck')
  const sock = join(runDir, 'qmp.sock')
  await mkdir(runDir, { recursive: true })
  const fake = spawn(process.execPath, ['-e', SILENT_QMP, '--', '-name', 'guest=stuck', '-qmp', `unix:${sock},server=on,wait=off`, sock], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { fake.kill('SIGKILL') })
  await once(fake.stdout, 'data')
  await writeFile(join(runDir, 'qemu.pid'), `${fake.pid}\n`)

  const app = await Appliance.start({ dataDir: dir, log: new PassThrough().resume() })
  t.teardown(async () => { await app.stop() })
  t.match((await app.vmList())[0], { name: 'stuck', state: 'unknown' }, 'left alone, shown as unknown')
  const adopt = (await app.events.read({ vm: 'stuck' })).events.filter(e => e.kind === 'vm-adopt')
  t.match(adopt.map(e => e.code), [/^APP_QMP_/], 'the failed adoption is an event with its code')
  t.match(await code(app.vmRemove('stuck')), /^APP_QMP_/, 'remove tries again and refuses while it still does not answer')
  t.equal((await app.vmList()).length, 1)

  fake.kill('SIGKILL')
  await once(fake, 'exit')
  t.same(await app.vmRemove('stuck'), { name: 'stuck', removed: true }, 'once its process is gone, remove finds it crashed and goes on')
  t.same((await app.events.read({ vm: 'stuck' })).events.filter(e => e.kind === 'vm-adopt').map(e => e.data?.state ?? e.code), [adopt[0]!.code, adopt[0]!.code, 'crashed'], 'each try is an event')
})
