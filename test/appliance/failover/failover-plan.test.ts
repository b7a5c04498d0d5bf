/**
 * Pure: what an unplanned failover makes of a protected VM
 * (appliance/failover/failover-plan.ts): the VM itself on overlays in its
 * qemu folder, with the primary's NIC modes and MACs where this box has
 * them (a table), or raw files of the point when this box cannot run it;
 * and the failover record, written and read back, a damaged one refused.
 */
import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { failoverNics, failoverPlan, failoverRecordFile, readFailoverRecord, writeFailoverRecord, type FailoverRecord } from '../../../appliance/failover/index.ts'
import type { ProtectedVm } from '../../../appliance/relationships/protected-vm.ts'
import { tempDir } from '../../helpers/fixtures.ts'

const WHERE = { vmDir: '/data/vms/web', filesDir: '/data/failover/web-1' }
const disks: ProtectedVm['disks'] = [{ name: 'system', size: 1 << 30, format: 'qcow2' }, { name: 'data', size: 1 << 20, format: 'raw' }]
const vm: ProtectedVm = { name: 'web', driver: 'qemu', vcpus: 2, memoryMiB: 512, boot: 'bios', disks, nics: [{ model: 'virtio-net-pci', mode: 'bridge', bridge: 'br0', mac: '52:54:00:12:34:56' }] }
const pointDisks = [{ name: 'system' }, { name: 'data' }]

t.test('the NICs: the primary\'s mode and MAC where this box can give them, else isolated with a warning', async t => {
  const bridges = new Set(['br0'])
  const table: Array<[string, ProtectedVm['nics'][number], { mode: string, bridge: string | null, mac: string | null, warned: boolean }]> = [
    ['a bridge this box has', { model: 'e1000', mode: 'bridge', bridge: 'br0', mac: '52:54:00:00:00:01' }, { mode: 'bridge', bridge: 'br0', mac: '52:54:00:00:00:01', warned: false }],
    ['a bridge this box lacks', { model: 'e1000', mode: 'bridge', bridge: 'lan7' }, { mode: 'isolated', bridge: null, mac: null, warned: true }],
    ['user networking', { model: 'e1000', mode: 'user' }, { mode: 'user', bridge: null, mac: null, warned: false }],
    ['isolated', { model: 'e1000', mode: 'isolated', mac: '52:54:00:00:00:02' }, { mode: 'isolated', bridge: null, mac: '52:54:00:00:00:02', warned: false }],
    ['no NIC', { model: 'e1000', mode: 'none' }, { mode: 'none', bridge: null, mac: null, warned: false }],
    ['an older primary (no mode)', { model: 'virtio-net-pci' }, { mode: 'isolated', bridge: null, mac: null, warned: true }]
  ]
  for (const [what, nic, want] of table) {
    const [got] = failoverNics([nic], bridges)
    t.same({ mode: got!.mode, bridge: got!.bridge, mac: got!.mac, warned: got!.warning !== null }, want, what)
    t.equal(got!.id, 'net0')
  }
  t.match(failoverNics([{ model: 'e1000', mode: 'bridge', bridge: 'lan7' }], bridges)[0]!.warning, /bridge lan7 .* does not have/)
})

t.test('a VM this box runs: named as the protected VM, its overlays in its qemu folder', async t => {
  const plan = failoverPlan(vm, 'web', pointDisks, WHERE, new Set(['br0']))
  t.equal(plan.kind, 'vm')
  t.equal(plan.boot, 'bios')
  t.equal(plan.note, null)
  t.match(plan.definition, {
    name: 'web',
    vcpus: 2,
    memoryMiB: 512,
    disks: [{ name: 'system', path: '/data/vms/web/system.qcow2', format: 'qcow2', node: 'disk0' }, { name: 'data', path: '/data/vms/web/data.qcow2', format: 'qcow2', node: 'disk1' }],
    nics: [{ id: 'net0', mode: 'bridge', bridge: 'br0', mac: '52:54:00:12:34:56' }],
    guestAgent: true,
    display: true
  })
  const kernel = failoverPlan({ ...vm, boot: 'kernel', kernelBoot: { kernel: '/boot/k', initrd: '/boot/i', append: 'console=ttyS0' } }, 'web', pointDisks, WHERE, new Set())
  t.same(kernel.definition.boot, { kernel: '/boot/k', initrd: '/boot/i', append: 'console=ttyS0' })
  t.same(kernel.bootFiles, ['/boot/k', '/boot/i'])
  t.equal(kernel.nics[0]!.mode, 'isolated', 'br0 is not on this box')
})

t.test('a VM this box cannot run: raw files of the point, listed as a manual VM', async t => {
  for (const [what, v, note] of [
    ['a manual VM that names no kernel', { ...vm, driver: 'manual', boot: null }, /does not know how web boots/],
    ['a UEFI VM', { ...vm, boot: 'uefi' }, /UEFI/],
    ['no description', undefined, /has not described/]
  ] as const) {
    const plan = failoverPlan(v as ProtectedVm | undefined, 'web', pointDisks, WHERE, new Set())
    t.equal(plan.kind, 'files', what)
    t.match(plan.note, note, what)
    t.match(plan.definition, { name: 'web', disks: [{ name: 'system', path: '/data/failover/web-1/system.raw', format: 'raw' }, { name: 'data', path: '/data/failover/web-1/data.raw', format: 'raw' }], nics: [], guestAgent: false }, what)
  }
})

t.test('refusals', async t => {
  t.throws(() => failoverPlan({ ...vm, boot: 'kernel' }, 'web', pointDisks, WHERE, new Set()), { code: 'APP_BOOT_FILE_MISSING' }, 'a kernel boot the primary did not name')
  t.throws(() => failoverPlan(vm, 'web', [{ name: 'system' }], WHERE, new Set()), { code: 'APP_VM_INVALID' }, 'a disk the point does not hold')
  t.throws(() => failoverPlan({ ...vm, nics: Array.from({ length: 9 }, () => ({ model: 'e1000', mode: 'user' as const })) }, 'web', pointDisks, WHERE, new Set()), { code: 'APP_VM_INVALID' }, 'more NICs than the QEMU driver runs')
})

t.test('the record: written, read back, a damaged one refused', async t => {
  const dir = await tempDir(t)
  const plan = failoverPlan(vm, 'web', pointDisks, WHERE, new Set(['br0']))
  const record: FailoverRecord = {
    relationship: 'web-1',
    vm: 'web',
    kind: 'vm',
    phase: 'running',
    point: { id: 4, time: '2026-01-01T00:00:00.000Z', consistency: 'crash', size: 2, term: 1, root: 'ab'.repeat(32), disks: [{ name: 'system', size: 1 }, { name: 'data', size: 1 }] },
    since: 1_800_000_000_000,
    definition: plan.definition,
    nics: plan.nics,
    socketName: 'failover-web-1.sock',
    bandwidth: null,
    planned: false,
    timings: { termMs: 1, serveMs: 2, overlayMs: 3, startMs: 4, copyMs: null },
    reason: 'web runs on point 4'
  }
  t.equal(await readFailoverRecord(dir), undefined, 'none yet')
  await writeFailoverRecord(dir, record)
  t.same(await readFailoverRecord(dir), record)
  for (const bad of ['{', JSON.stringify({ version: 2 }), JSON.stringify({ version: 1, ...record, phase: 'flying' }), JSON.stringify({ version: 1, ...record, definition: { name: 'x' } })]) {
    await writeFile(failoverRecordFile(dir), bad)
    await t.rejects(readFailoverRecord(dir), { code: 'APP_FAILOVER_FILE_CORRUPT' })
  }
  t.equal(failoverRecordFile(dir), join(dir, 'failover.json'))
})
