/**
 * testVmDefinition, table-tested: a test VM keeps the protected VM's shape
 * (vCPUs, memory, boot, agent, disks by name and node) on overlays in its
 * run directory, isolates or drops its NICs, and adds a display. And
 * startTestVm's refusals before anything is touched.
 */
import t from 'tap'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { AppErrorCode } from '../../../../appliance/errors.ts'
import { QemuDriver, startTestVm, testVmDefinition, testVmOverlay, type VmDefinition } from '../../../../appliance/drivers/qemu/index.ts'
import { tempDir } from '../../../helpers/fixtures.ts'

const web: VmDefinition = {
  name: 'web-1',
  vcpus: 2,
  memoryMiB: 2048,
  disks: [
    { name: 'system', path: '/vms/web-1/system.qcow2', format: 'qcow2' },
    { name: 'data', path: '/vms/web-1/data.raw', format: 'raw', sidecar: '/vms/web-1/data.meta.qcow2', node: 'datanode' }
  ],
  nics: [
    { id: 'net0', mode: 'bridge', bridge: 'br0', mac: '52:54:00:12:34:56' },
    { id: 'net1', mode: 'user' },
    { id: 'net2', mode: 'none' }
  ],
  guestAgent: true,
  boot: { kernel: '/k/vmlinux', append: 'console=ttyS0' }
}
const run = '/run/tandem/failover/web-1'

t.test('the test VM takes the VM\'s shape on overlays, on an isolated network, with a display', async t => {
  t.same(testVmDefinition(web, run), {
    name: 'web-1-test',
    vcpus: 2,
    memoryMiB: 2048,
    disks: [
      { name: 'system', path: `${run}/system.overlay.qcow2`, format: 'qcow2', node: 'disk0' },
      { name: 'data', path: `${run}/data.overlay.qcow2`, format: 'qcow2', node: 'datanode' }
    ],
    nics: [{ id: 'net0', mode: 'isolated', mac: '52:54:00:12:34:56' }, { id: 'net1', mode: 'isolated' }],
    guestAgent: true,
    boot: { kernel: '/k/vmlinux', append: 'console=ttyS0' },
    display: true
  })
  t.equal(testVmOverlay(run, 'data'), `${run}/data.overlay.qcow2`)
})

t.test('shape options: a name, no network, no display', async t => {
  const def = testVmDefinition(web, run, { name: 'drill-7', network: 'none', display: false })
  t.equal(def.name, 'drill-7')
  t.same(def.nics, [])
  t.notOk('display' in def)
})

t.test('bad input', async t => {
  t.throws(() => testVmDefinition(web, run, { name: 'web-1' }), { code: AppErrorCode.APP_VM_INVALID, details: { field: 'name' } }, 'the same name as the VM')
  t.throws(() => testVmDefinition(web, run, { name: 'a/b' }), { code: AppErrorCode.APP_VM_INVALID, details: { field: 'name' } })
  t.throws(() => testVmDefinition({ ...web, vcpus: 0 }, run), { code: AppErrorCode.APP_VM_INVALID, details: { field: 'vcpus' } }, 'the VM\'s own definition is checked')
  t.throws(() => testVmDefinition(web, 'relative'), TypeError)
  t.throws(() => testVmDefinition(web, run, { network: 'user' as 'none' }), TypeError)
})

t.test('startTestVm refuses a disk the point does not serve, before touching the run directory', async t => {
  const runDir = join(await tempDir(t), 'run')
  await t.rejects(startTestVm({ driver: new QemuDriver(), vm: web, backing: { system: { socket: '/s.sock', export: 'system' } }, runDir }),
    { code: AppErrorCode.APP_VM_INVALID, details: { field: 'backing.data' } })
  t.notOk(await stat(runDir).then(() => true, () => false), 'no run directory was made')
})
