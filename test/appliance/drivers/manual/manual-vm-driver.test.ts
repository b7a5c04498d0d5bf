/**
 * ManualVmDriver against the VmDriver compliance suite: a VM with a raw and
 * a qcow2 disk that Tandem does not run; its pending bytes are unknown
 * (no change tracking), even right after a cycle and a write.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import { ManualVmDriver } from '../../../../appliance/drivers/index.ts'
import type { VmDefinition } from '../../../../appliance/drivers/qemu/index.ts'
import { vmDriverCompliance } from '../../../helpers/compliance/vm-driver.ts'
import { tempDir } from '../../../helpers/fixtures.ts'
import { requireTools } from '../../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-nbd', 'qemu-storage-daemon'])

const run = promisify(execFile)
const MiB = 2 ** 20

async function branchFiles (dir: string): Promise<{ vm: VmDefinition, system: string, data: string }> {
  const system = join(dir, 'system.raw')
  const data = join(dir, 'data.qcow2')
  await writeFile(system, randomBytes(4 * MiB))
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', data, String(2 * MiB)])
  await run('qemu-io', ['-f', 'qcow2', data, '-c', 'write -P 0x5a 64k 300k'])
  const vm: VmDefinition = {
    name: 'branch-files',
    vcpus: 1,
    memoryMiB: 128,
    disks: [{ name: 'system', path: system, format: 'raw' }, { name: 'data', path: data, format: 'qcow2' }],
    nics: [],
    guestAgent: false
  }
  return { vm, system, data }
}

await vmDriverCompliance(t, {
  make: async t => {
    const dir = await tempDir(t)
    const { vm, system, data } = await branchFiles(dir)
    return {
      driver: new ManualVmDriver({ guardIntervalMs: 50 }),
      vm,
      restart: async () => new ManualVmDriver({ guardIntervalMs: 50 }),
      content: async disk => {
        if (disk === 'system') return await readFile(system)
        const out = join(dir, `content-${randomBytes(4).toString('hex')}.raw`)
        await run('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'raw', data, out])
        return await readFile(out)
      }
    }
  }
})

t.test('pending bytes are unknown: nothing tracks the writes between cycles', async t => {
  const dir = await tempDir(t)
  const { vm, system } = await branchFiles(dir)
  const driver = new ManualVmDriver({ guardIntervalMs: 50 })
  t.equal(await driver.pendingBytes(vm), null, 'before any cycle')
  const cycle = await driver.diskSources(vm)
  await cycle.complete({ ok: true, roots: { system: 'a'.repeat(64), data: 'b'.repeat(64) } })
  await writeFile(system, randomBytes(4 * MiB))
  t.equal(await driver.pendingBytes(vm), null, 'after a cycle and a write')
  await t.rejects(driver.pendingBytes({ ...vm, name: '../x' }), { code: 'APP_VM_INVALID' }, 'an invalid definition is refused, as by every method')
})
