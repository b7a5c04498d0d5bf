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
