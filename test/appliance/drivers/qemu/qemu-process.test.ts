/**
 * Telling a VM's QEMU by its command line (what adopt relies on so that a
 * reused pid is never taken for the VM), table-tested against what
 * buildQemuArgs really produces; and reading a pid file.
 */
import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildQemuArgs, vmRunPaths, type VmDefinition } from '../../../../appliance/drivers/qemu/index.ts'
import { accelOf, isVmQemu, processArgs, readPidFile } from '../../../../appliance/drivers/qemu/qemu-process.ts'
import { tempDir } from '../../../helpers/fixtures.ts'

const def: VmDefinition = { name: 'web-1', vcpus: 1, memoryMiB: 256, disks: [{ name: 'sys', path: '/vms/sys.qcow2', format: 'qcow2' }], nics: [], guestAgent: false }
/** argv[0] as a path: this file runs no QEMU (only its command line is read), so it needs no requireTools. */
const QEMU = '/usr/bin/qemu-system-x86_64'
const argv = (runDir: string, accel: 'kvm' | 'tcg' = 'tcg', name = def.name): string[] => [QEMU, ...buildQemuArgs({ ...def, name }, { accel, runDir })]

t.test('isVmQemu', async t => {
  const cases: Array<{ what: string, args: string[], name: string, runDir: string, is: boolean }> = [
    { what: 'the VM\'s own QEMU', args: argv('/run/t/web-1'), name: 'web-1', runDir: '/run/t/web-1', is: true },
    { what: 'a run directory with a comma (escaped by QEMU\'s rule)', args: argv('/run/t,x/web-1'), name: 'web-1', runDir: '/run/t,x/web-1', is: true },
    { what: 'another VM of the same run directory', args: argv('/run/t/web-1', 'tcg', 'web-2'), name: 'web-1', runDir: '/run/t/web-1', is: false },
    { what: 'the same name from another run directory', args: argv('/run/other/web-1'), name: 'web-1', runDir: '/run/t/web-1', is: false },
    { what: 'an unrelated process', args: ['/usr/bin/node', 'server.js'], name: 'web-1', runDir: '/run/t/web-1', is: false },
    { what: 'nothing after -name', args: [QEMU, '-name'], name: 'web-1', runDir: '/run/t/web-1', is: false }
  ]
  for (const c of cases) t.equal(isVmQemu(c.args, c.name, vmRunPaths(c.runDir).qmpSocket), c.is, c.what)
})

t.test('accelOf', async t => {
  t.equal(accelOf(argv('/run/t/web-1', 'kvm')), 'kvm')
  t.equal(accelOf(argv('/run/t/web-1', 'tcg')), 'tcg')
  t.equal(accelOf([QEMU, '-accel', 'hvf']), undefined)
  t.equal(accelOf([QEMU]), undefined)
})

t.test('readPidFile and processArgs', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'qemu.pid')
  t.equal(await readPidFile(file), undefined, 'no file')
  for (const [text, pid] of [['1234\n', 1234], ['1234', 1234], ['', undefined], ['0\n', undefined], ['-5\n', undefined], ['12ab\n', undefined], ['1234\n5678\n', undefined]] as const) {
    await writeFile(file, text)
    t.equal(await readPidFile(file), pid, JSON.stringify(text))
  }
  const own = await processArgs(process.pid)
  t.ok(own !== undefined && own.length > 0, 'a live process has arguments')
  t.equal(await processArgs(2 ** 22 + 1), undefined, 'a pid above the kernel\'s maximum is no process')
})
