/**
 * Pure: what a test failover runs for a protected VM (a table), and the
 * boot files check: a missing kernel names the file to copy.
 */
import t from 'tap'
import { join } from 'node:path'
import { writeFile } from 'node:fs/promises'
import { checkBootFiles, testVmPlan } from '../../../appliance/failover/index.ts'
import type { ProtectedVm } from '../../../appliance/relationships/protected-vm.ts'
import { tempDir } from '../../helpers/fixtures.ts'

const RUN = '/data/failover/web-1/test'
const vm: ProtectedVm = {
  name: 'web',
  driver: 'qemu',
  vcpus: 2,
  memoryMiB: 512,
  boot: 'bios',
  disks: [{ name: 'system', size: 1 << 30, format: 'qcow2' }, { name: 'data', size: 1 << 20, format: 'raw' }],
  nics: [{ model: 'virtio-net-pci' }, { model: 'virtio-net-pci' }]
}

t.test('a BIOS VM: its shape, overlays in the run directory, isolated NICs, a display and an agent channel', async t => {
  const plan = testVmPlan(vm, RUN)
  if (plan.kind !== 'vm') throw new Error('expected a VM')
  t.equal(plan.boot, 'bios')
  t.same(plan.bootFiles, [])
  t.match(plan.definition, {
    name: 'web-test',
    vcpus: 2,
    memoryMiB: 512,
    disks: [{ name: 'system', path: `${RUN}/system.overlay.qcow2`, format: 'qcow2', node: 'disk0' }, { name: 'data', path: `${RUN}/data.overlay.qcow2`, format: 'qcow2', node: 'disk1' }],
    nics: [{ id: 'net0', mode: 'isolated' }, { id: 'net1', mode: 'isolated' }],
    guestAgent: true,
    display: true
  })
  t.equal(plan.definition.boot, undefined)
})

t.test('a kernel boot: the primary\'s paths, and the files to check', async t => {
  const plan = testVmPlan({ ...vm, driver: 'manual', boot: 'kernel', nics: [], kernelBoot: { kernel: '/srv/vmlinux', initrd: '/srv/initrd.gz', append: 'console=ttyS0' } }, RUN)
  if (plan.kind !== 'vm') throw new Error('expected a VM')
  t.same(plan.definition.boot, { kernel: '/srv/vmlinux', initrd: '/srv/initrd.gz', append: 'console=ttyS0' })
  t.same(plan.bootFiles, ['/srv/vmlinux', '/srv/initrd.gz'])
  t.same(plan.definition.nics, [])
})

t.test('no VM where this box does not know or cannot run the boot: the point is only served', async t => {
  const table: Array<[string, ProtectedVm | undefined, RegExp]> = [
    ['no description', undefined, /not described/],
    ['a manual VM without a kernel', { ...vm, driver: 'manual', boot: null }, /does not know how web boots/],
    ['UEFI', { ...vm, boot: 'uefi' }, /UEFI/]
  ]
  for (const [what, v, why] of table) {
    const plan = testVmPlan(v, RUN)
    t.equal(plan.kind, 'serve-only', what)
    if (plan.kind === 'serve-only') t.match(plan.why, why, what)
  }
})

t.test('refusals: a kernel boot the primary did not describe, a shape the QEMU driver does not run', async t => {
  t.throws(() => testVmPlan({ ...vm, boot: 'kernel' }, RUN), { code: 'APP_BOOT_FILE_MISSING' })
  t.throws(() => testVmPlan({ ...vm, nics: Array.from({ length: 9 }, () => ({ model: 'e1000' })) }, RUN), { code: 'APP_VM_INVALID' })
  t.throws(() => testVmPlan({ ...vm, name: 'v'.repeat(60) }, RUN), { code: 'APP_VM_INVALID' }, 'a test VM name past 64 characters')
})

t.test('boot files: present, or the file to copy', async t => {
  const dir = await tempDir(t)
  const kernel = join(dir, 'vmlinux')
  await writeFile(kernel, 'k')
  await checkBootFiles('web', [kernel])
  await t.rejects(checkBootFiles('web', [kernel, join(dir, 'initrd.gz')]), { code: 'APP_BOOT_FILE_MISSING', details: { file: join(dir, 'initrd.gz') } })
  await t.rejects(checkBootFiles('web', [dir]), { code: 'APP_BOOT_FILE_MISSING' }, 'a directory is not a kernel')
})
