/**
 * Pure: the VM description a Replica stores (appliance/relationships/
 * protected-vm.ts): a kernel boot is kept (copied whole, nothing else), and
 * a stored one out of the wire's bounds is refused like any bad field.
 */
import t from 'tap'
import { copyProtectedVm, invalidProtectedVm, type ProtectedVm } from '../../../appliance/relationships/protected-vm.ts'

const vm: ProtectedVm = {
  name: 'tiny',
  driver: 'manual',
  vcpus: 1,
  memoryMiB: 128,
  boot: 'kernel',
  disks: [{ name: 'disk0', size: 1 << 20, format: 'raw' }],
  nics: [],
  kernelBoot: { kernel: '/srv/boot/vmlinux', initrd: '/srv/boot/initrd.gz', append: 'console=ttyS0 quiet' }
}

t.test('a kernel boot is stored and copied whole', async t => {
  t.equal(invalidProtectedVm(vm), undefined)
  const copy = copyProtectedVm({ ...vm, kernelBoot: { ...vm.kernelBoot!, extra: 'x' } as unknown as ProtectedVm['kernelBoot'] })
  t.same(copy, vm, 'only the known fields')
  t.not(copy.kernelBoot, vm.kernelBoot, 'a copy')
  const { kernelBoot: _k, ...older } = vm
  t.equal(invalidProtectedVm(older), undefined, 'a description from an older primary has none')
  t.same(copyProtectedVm(older), older)
})

t.test('a stored kernel boot out of bounds is refused', async t => {
  const table: Array<[string, unknown]> = [
    ['boot bios with a kernel boot', { ...vm, boot: 'bios' }],
    ['a relative kernel', { ...vm, kernelBoot: { kernel: 'vmlinux' } }],
    ['no kernel', { ...vm, kernelBoot: { initrd: '/i' } }],
    ['an unknown field', { ...vm, kernelBoot: { kernel: '/k', cmdline: 'x' } }],
    ['a path over 512 bytes', { ...vm, kernelBoot: { kernel: `/${'k'.repeat(512)}` } }],
    ['a command line on two lines', { ...vm, kernelBoot: { kernel: '/k', append: 'a\nb' } }],
    ['a command line over 2048 bytes', { ...vm, kernelBoot: { kernel: '/k', append: 'a'.repeat(2049) } }],
    ['a kernel boot that is a string', { ...vm, kernelBoot: '/k' }]
  ]
  for (const [what, v] of table) t.type(invalidProtectedVm(v), 'string', what)
})

t.test('a NIC keeps its mode, bridge and MAC; bad ones are refused', async t => {
  const nics = [{ model: 'virtio-net-pci', mode: 'bridge' as const, bridge: 'br0', mac: '52:54:00:12:34:56' }, { model: 'e1000', mode: 'user' as const }, { model: 'e1000' }]
  t.equal(invalidProtectedVm({ ...vm, nics }), undefined)
  t.same(copyProtectedVm({ ...vm, nics: nics.map(n => ({ ...n, extra: 'x' })) as unknown as ProtectedVm['nics'] }).nics, nics, 'only the known fields')
  const table: Array<[string, unknown]> = [
    ['an unknown mode', { model: 'e1000', mode: 'tap' }],
    ['a bridge with mode user', { model: 'e1000', mode: 'user', bridge: 'br0' }],
    ['a bridge name too long', { model: 'e1000', mode: 'bridge', bridge: 'b'.repeat(16) }],
    ['a multicast MAC', { model: 'e1000', mac: '01:00:5e:00:00:01' }],
    ['an unknown field', { model: 'e1000', vlan: 3 }]
  ]
  for (const [what, nic] of table) t.type(invalidProtectedVm({ ...vm, nics: [nic] }), 'string', what)
})
