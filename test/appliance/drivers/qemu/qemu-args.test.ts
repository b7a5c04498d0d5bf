/**
 * buildQemuArgs, table-tested with literal inputs and outputs: the common
 * head, disks (raw, qcow2, raw with sidecar, custom node), NIC modes, the
 * guest agent channel, the display device, direct kernel boot, KVM vs TCG,
 * comma escaping.
 */
import t from 'tap'
import { AppErrorCode } from '../../../../appliance/errors.ts'
import { buildQemuArgs, type VmDefinition } from '../../../../appliance/drivers/qemu/index.ts'

const head = (accel: 'kvm' | 'tcg', name = 'vm1', smp = '1', mem = '256', runDir = '/run/t/vm1'): string[] => [
  '-name', `guest=${name}`, '-machine', 'pc', '-accel', accel, ...accel === 'kvm' ? ['-cpu', 'host'] : [],
  '-smp', smp, '-m', mem, '-nodefaults', '-no-user-config', '-display', 'none',
  '-qmp', `unix:${runDir}/qmp.sock,server=on,wait=off`,
  '-chardev', `file,id=serial0,path=${runDir}/serial.log`, '-serial', 'chardev:serial0'
]

const one = (extra: Partial<VmDefinition> = {}): VmDefinition => ({
  name: 'vm1', vcpus: 1, memoryMiB: 256, disks: [{ name: 'sys', path: '/vms/sys.qcow2', format: 'qcow2' }], nics: [], guestAgent: false, ...extra
})

const cases: Array<{ what: string, def: VmDefinition, accel: 'kvm' | 'tcg', runDir?: string, args: string[] }> = [
  {
    what: 'one qcow2 disk under TCG boots from it',
    def: one(),
    accel: 'tcg',
    args: [...head('tcg'),
      '-blockdev', 'driver=file,filename=/vms/sys.qcow2,node-name=disk0-file',
      '-blockdev', 'driver=qcow2,file=disk0-file,node-name=disk0',
      '-device', 'virtio-blk-pci,drive=disk0,id=vda,bootindex=0']
  },
  {
    what: 'KVM adds -cpu host',
    def: one({ vcpus: 4, memoryMiB: 4096 }),
    accel: 'kvm',
    args: [...head('kvm', 'vm1', '4', '4096'),
      '-blockdev', 'driver=file,filename=/vms/sys.qcow2,node-name=disk0-file',
      '-blockdev', 'driver=qcow2,file=disk0-file,node-name=disk0',
      '-device', 'virtio-blk-pci,drive=disk0,id=vda,bootindex=0']
  },
  {
    what: 'raw, raw with a sidecar, and a custom node name',
    def: one({
      disks: [
        { name: 'a', path: '/vms/a.raw', format: 'raw' },
        { name: 'b', path: '/vms/b.raw', format: 'raw', sidecar: '/vms/b.meta.qcow2' },
        { name: 'c', path: '/vms/c.qcow2', format: 'qcow2', node: 'cdisk' }
      ]
    }),
    accel: 'tcg',
    args: [...head('tcg'),
      '-blockdev', 'driver=file,filename=/vms/a.raw,node-name=disk0-file',
      '-blockdev', 'driver=raw,file=disk0-file,node-name=disk0',
      '-device', 'virtio-blk-pci,drive=disk0,id=vda,bootindex=0',
      '-blockdev', 'driver=file,filename=/vms/b.meta.qcow2,node-name=disk1-file',
      '-blockdev', 'driver=file,filename=/vms/b.raw,node-name=disk1-data',
      '-blockdev', 'driver=qcow2,file=disk1-file,data-file=disk1-data,node-name=disk1',
      '-device', 'virtio-blk-pci,drive=disk1,id=vdb',
      '-blockdev', 'driver=file,filename=/vms/c.qcow2,node-name=cdisk-file',
      '-blockdev', 'driver=qcow2,file=cdisk-file,node-name=cdisk',
      '-device', 'virtio-blk-pci,drive=cdisk,id=vdc']
  },
  {
    what: 'NIC modes: none adds nothing, isolated is restricted user networking, user, bridge with a MAC',
    def: one({
      disks: [],
      boot: { kernel: '/k/vmlinux' },
      nics: [
        { id: 'n0', mode: 'none' },
        { id: 'n1', mode: 'isolated' },
        { id: 'n2', mode: 'user' },
        { id: 'n3', mode: 'bridge', bridge: 'br0', mac: '52:54:00:aa:bb:cc' }
      ]
    }),
    accel: 'tcg',
    args: [...head('tcg'), '-kernel', '/k/vmlinux',
      '-netdev', 'user,id=n1,restrict=on', '-device', 'virtio-net-pci,netdev=n1,id=n1-nic',
      '-netdev', 'user,id=n2', '-device', 'virtio-net-pci,netdev=n2,id=n2-nic',
      '-netdev', 'bridge,id=n3,br=br0', '-device', 'virtio-net-pci,netdev=n3,id=n3-nic,mac=52:54:00:aa:bb:cc']
  },
  {
    what: 'direct kernel boot (no bootindex) and the guest agent channel',
    def: one({ guestAgent: true, boot: { kernel: '/k/vmlinux', initrd: '/k/initrd.gz', append: 'console=ttyS0 panic=-1' } }),
    accel: 'tcg',
    args: [...head('tcg'), '-kernel', '/k/vmlinux', '-initrd', '/k/initrd.gz', '-append', 'console=ttyS0 panic=-1',
      '-blockdev', 'driver=file,filename=/vms/sys.qcow2,node-name=disk0-file',
      '-blockdev', 'driver=qcow2,file=disk0-file,node-name=disk0',
      '-device', 'virtio-blk-pci,drive=disk0,id=vda',
      '-chardev', 'socket,path=/run/t/vm1/qga.sock,server=on,wait=off,id=qga0',
      '-device', 'virtio-serial',
      '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0']
  },
  {
    what: 'a display is a VGA device after every other device; the window stays off',
    def: one({ guestAgent: true, nics: [{ id: 'n0', mode: 'isolated' }], display: true }),
    accel: 'tcg',
    args: [...head('tcg'),
      '-blockdev', 'driver=file,filename=/vms/sys.qcow2,node-name=disk0-file',
      '-blockdev', 'driver=qcow2,file=disk0-file,node-name=disk0',
      '-device', 'virtio-blk-pci,drive=disk0,id=vda,bootindex=0',
      '-netdev', 'user,id=n0,restrict=on', '-device', 'virtio-net-pci,netdev=n0,id=n0-nic',
      '-chardev', 'socket,path=/run/t/vm1/qga.sock,server=on,wait=off,id=qga0',
      '-device', 'virtio-serial',
      '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
      '-device', 'VGA,id=video0']
  },
  {
    what: 'commas in paths are doubled inside option strings',
    def: one({ disks: [{ name: 'sys', path: '/vms/a,b.raw', format: 'raw' }] }),
    accel: 'tcg',
    runDir: '/run/x,y',
    args: [...head('tcg', 'vm1', '1', '256', '/run/x,,y'),
      '-blockdev', 'driver=file,filename=/vms/a,,b.raw,node-name=disk0-file',
      '-blockdev', 'driver=raw,file=disk0-file,node-name=disk0',
      '-device', 'virtio-blk-pci,drive=disk0,id=vda,bootindex=0']
  }
]

t.test('argument lists', async t => {
  for (const c of cases) t.same(buildQemuArgs(c.def, { accel: c.accel, runDir: c.runDir ?? '/run/t/vm1' }), c.args, c.what)
})

t.test('the definition is checked; programmer mistakes are TypeErrors', async t => {
  t.throws(() => buildQemuArgs(one({ vcpus: 0 }), { accel: 'tcg', runDir: '/run/t' }), { code: AppErrorCode.APP_VM_INVALID })
  t.throws(() => buildQemuArgs(one(), { accel: 'tcg', runDir: 'relative' }), TypeError)
  t.throws(() => buildQemuArgs(one(), { accel: 'hvf' as 'tcg', runDir: '/run/t' }), TypeError)
})
