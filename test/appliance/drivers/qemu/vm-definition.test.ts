/**
 * checkVmDefinition: valid definitions come back with node names filled in;
 * each bad field is APP_VM_INVALID naming that field.
 */
import t from 'tap'
import { AppErrorCode } from '../../../../appliance/errors.ts'
import { checkVmDefinition, type VmDefinition } from '../../../../appliance/drivers/qemu/index.ts'

const base: VmDefinition = {
  name: 'web-1',
  vcpus: 2,
  memoryMiB: 1024,
  disks: [
    { name: 'system', path: '/vms/web-1/system.qcow2', format: 'qcow2' },
    { name: 'data', path: '/vms/web-1/data.raw', format: 'raw', sidecar: '/vms/web-1/data.meta.qcow2' }
  ],
  nics: [{ id: 'net0', mode: 'bridge', bridge: 'br0', mac: '52:54:00:12:34:56' }, { id: 'net1', mode: 'isolated' }],
  guestAgent: true
}

t.test('a valid definition gets deterministic node names', async t => {
  const checked = checkVmDefinition(base)
  t.same(checked.disks.map(d => d.node), ['disk0', 'disk1'])
  t.same(checkVmDefinition({ ...base, disks: [base.disks[0]!, { ...base.disks[1]!, node: 'data' }] }).disks.map(d => d.node), ['disk0', 'data'], 'a given node name is kept')
  t.same(checkVmDefinition({ ...base, disks: [], boot: { kernel: '/k/vmlinux', initrd: '/k/initrd.gz', append: 'console=ttyS0' } }).disks, [], 'direct kernel boot needs no disk')
  t.same(checkVmDefinition({ ...base, vcpus: 64, memoryMiB: 16 }).vcpus, 64, 'range ends are allowed')
  t.equal(checkVmDefinition({ ...base, memoryMiB: 1048576 }).memoryMiB, 1048576)
  t.notOk('sidecar' in checkVmDefinition({ ...base, disks: [base.disks[0]!] }).disks[0]!)
  t.equal(checkVmDefinition({ ...base, display: true }).display, true, 'a display is kept')
  t.notOk('display' in checkVmDefinition({ ...base, display: false }), 'no display is the same as none asked')
})

const disk0 = base.disks[0]!
const invalidCases: Array<[string, unknown, string]> = [
  ['not an object', null, 'definition'],
  ['name empty', { ...base, name: '' }, 'name'],
  ['name with a slash', { ...base, name: 'a/b' }, 'name'],
  ['name starting with a dot', { ...base, name: '.web' }, 'name'],
  ['name of 65 characters', { ...base, name: 'a'.repeat(65) }, 'name'],
  ['vcpus 0', { ...base, vcpus: 0 }, 'vcpus'],
  ['vcpus 65', { ...base, vcpus: 65 }, 'vcpus'],
  ['vcpus 1.5', { ...base, vcpus: 1.5 }, 'vcpus'],
  ['vcpus a string', { ...base, vcpus: '2' }, 'vcpus'],
  ['memory 15 MiB', { ...base, memoryMiB: 15 }, 'memoryMiB'],
  ['memory over 1 TiB', { ...base, memoryMiB: 1048577 }, 'memoryMiB'],
  ['guestAgent missing', { ...base, guestAgent: undefined }, 'guestAgent'],
  ['disks not an array', { ...base, disks: {} }, 'disks'],
  ['no disk and no kernel', { ...base, disks: [] }, 'disks'],
  ['disk name bad', { ...base, disks: [{ ...disk0, name: 'a b' }] }, 'disks[0].name'],
  ['disk path relative', { ...base, disks: [{ ...disk0, path: 'system.qcow2' }] }, 'disks[0].path'],
  ['disk path empty', { ...base, disks: [{ ...disk0, path: '' }] }, 'disks[0].path'],
  ['disk format vmdk', { ...base, disks: [{ ...disk0, format: 'vmdk' }] }, 'disks[0].format'],
  ['disk node starting with a digit', { ...base, disks: [{ ...disk0, node: '0disk' }] }, 'disks[0].node'],
  ['disk node too long', { ...base, disks: [{ ...disk0, node: 'n'.repeat(27) }] }, 'disks[0].node'],
  ['duplicate disk names', { ...base, disks: [disk0, { ...disk0, path: '/vms/other.qcow2' }] }, 'disks[1].name'],
  ['duplicate node names', { ...base, disks: [{ ...disk0, node: 'disk1' }, { ...disk0, name: 'two' }] }, 'disks[1].node'],
  ['sidecar on a qcow2 disk', { ...base, disks: [{ ...disk0, sidecar: '/vms/x.qcow2' }] }, 'disks[0].sidecar'],
  ['sidecar relative', { ...base, disks: [{ name: 'd', path: '/d.raw', format: 'raw', sidecar: 'd.meta' }] }, 'disks[0].sidecar'],
  ['too many disks', { ...base, disks: Array.from({ length: 17 }, (_, i) => ({ name: `d${i}`, path: `/d${i}`, format: 'raw' })) }, 'disks'],
  ['nic id with a dot', { ...base, nics: [{ id: 'net.0', mode: 'user' }] }, 'nics[0].id'],
  ['nic mode unknown', { ...base, nics: [{ id: 'net0', mode: 'tap' }] }, 'nics[0].mode'],
  ['bridge without a name', { ...base, nics: [{ id: 'net0', mode: 'bridge' }] }, 'nics[0].bridge'],
  ['bridge name with a comma', { ...base, nics: [{ id: 'net0', mode: 'bridge', bridge: 'br0,x' }] }, 'nics[0].bridge'],
  ['bridge name on a user nic', { ...base, nics: [{ id: 'net0', mode: 'user', bridge: 'br0' }] }, 'nics[0].bridge'],
  ['multicast mac', { ...base, nics: [{ id: 'net0', mode: 'user', mac: '01:00:5e:00:00:01' }] }, 'nics[0].mac'],
  ['malformed mac', { ...base, nics: [{ id: 'net0', mode: 'user', mac: '52:54:00:12:34' }] }, 'nics[0].mac'],
  ['duplicate nic ids', { ...base, nics: [{ id: 'net0', mode: 'user' }, { id: 'net0', mode: 'none' }] }, 'nics[1].id'],
  ['boot kernel relative', { ...base, boot: { kernel: 'vmlinux' } }, 'boot.kernel'],
  ['boot initrd relative', { ...base, boot: { kernel: '/vmlinux', initrd: 'initrd' } }, 'boot.initrd'],
  ['boot append with a newline', { ...base, boot: { kernel: '/vmlinux', append: 'a\nb' } }, 'boot.append'],
  ['display not a boolean', { ...base, display: 'vga' }, 'display']
]

t.test('each invalid field is APP_VM_INVALID naming it', async t => {
  for (const [what, def, field] of invalidCases) {
    t.throws(() => checkVmDefinition(def), { code: AppErrorCode.APP_VM_INVALID, details: { field } }, what)
  }
})
