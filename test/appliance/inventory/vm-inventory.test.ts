import t from 'tap'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { VmInventory, type InventoryVm } from '../../../appliance/inventory/index.ts'
import type { CheckedVmDefinition } from '../../../appliance/drivers/qemu/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'

function vm (name: string, disks: string[], driver: 'qemu' | 'manual' = 'manual'): InventoryVm {
  const definition: CheckedVmDefinition = {
    name,
    vcpus: 1,
    memoryMiB: 256,
    disks: disks.map((path, i) => ({ name: `disk${i}`, path, format: 'raw', node: `disk${i}` })),
    nics: [],
    guestAgent: false
  }
  return { driver, definition, addedAt: 1_700_000_000_000 }
}

t.test('VMs are added, listed in order, kept across a reopen, and removed', async t => {
  const file = join(await tempDir(t), 'vms.json')
  const inv = await VmInventory.open(file)
  t.same(inv.list(), [], 'a missing file is an empty inventory')
  await t.rejects(stat(file), { code: 'ENOENT' }, 'nothing written before the first change')
  await inv.add(vm('web', ['/vms/web.img']))
  await inv.add(vm('db', ['/vms/db0.img', '/vms/db1.img'], 'qemu'))
  t.equal((await stat(file)).mode & 0o777, 0o600, 'the file is private')
  const again = await VmInventory.open(file)
  t.same(again.list().map(v => v.definition.name), ['web', 'db'])
  t.same(again.get('db'), vm('db', ['/vms/db0.img', '/vms/db1.img'], 'qemu'))
  t.equal(await again.remove('web'), true)
  t.equal(await again.remove('web'), false)
  t.same((await VmInventory.open(file)).list().map(v => v.definition.name), ['db'])
})

t.test('a taken name or disk, or a bad definition, is refused and nothing changes', async t => {
  const file = join(await tempDir(t), 'vms.json')
  const inv = await VmInventory.open(file)
  await inv.add(vm('web', ['/vms/web.img']))
  const before = await readFile(file, 'utf8')
  await t.rejects(inv.add(vm('web', ['/vms/other.img'])), { code: 'APP_VM_EXISTS' })
  await t.rejects(inv.add(vm('copy', ['/vms/web.img'])), { code: 'APP_DISK_TAKEN' })
  await t.rejects(inv.add(vm('bad name!', ['/vms/x.img'])), { code: 'APP_VM_INVALID' })
  await t.rejects(inv.add(vm('rel', ['relative/path.img'])), { code: 'APP_VM_INVALID' })
  await t.rejects(inv.add({ ...vm('drv', ['/vms/d.img']), driver: 'vmware' as 'qemu' }), { code: 'APP_VM_INVALID' })
  t.equal(await readFile(file, 'utf8'), before, 'the file is unchanged')
  t.same(inv.list().map(v => v.definition.name), ['web'])
})

t.test('a returned VM is a copy: changing it changes nothing inside', async t => {
  const inv = await VmInventory.open(join(await tempDir(t), 'vms.json'))
  const added = await inv.add(vm('web', ['/vms/web.img']))
  added.definition.disks[0]!.path = '/elsewhere'
  inv.list()[0]!.definition.name = 'renamed'
  t.equal(inv.get('web')!.definition.disks[0]!.path, '/vms/web.img')
})

t.test('concurrent changes run in call order, each durable', async t => {
  const file = join(await tempDir(t), 'vms.json')
  const inv = await VmInventory.open(file)
  const names = Array.from({ length: 20 }, (_, i) => `vm${i}`)
  await Promise.all(names.map(async n => await inv.add(vm(n, [`/vms/${n}.img`]))))
  t.same((await VmInventory.open(file)).list().map(v => v.definition.name), names)
})

t.test('a damaged file is APP_INVENTORY_CORRUPT and is left as it was', async t => {
  const dir = await tempDir(t)
  const good = JSON.stringify({ version: 1, vms: [vm('a', ['/vms/a.img'])] })
  const cases: Array<[string, string]> = [
    ['not JSON', '{"version": 1, "vms": ['],
    ['not UTF-8', '\xff\xfe'],
    ['not an object', '[1,2]'],
    ['another version', JSON.stringify({ version: 2, vms: [] })],
    ['vms not a list', JSON.stringify({ version: 1, vms: {} })],
    ['an unknown top-level field', JSON.stringify({ version: 1, vms: [], extra: 1 })],
    ['a bad entry', JSON.stringify({ version: 1, vms: [{ driver: 'manual', definition: { name: 'x' }, addedAt: 1 }] })],
    ['an unknown entry field', JSON.stringify({ version: 1, vms: [{ ...vm('a', ['/a']), owner: 'me' }] })],
    ['a name twice', JSON.stringify({ version: 1, vms: [vm('a', ['/vms/a.img']), vm('a', ['/vms/b.img'])] })],
    ['a disk twice', JSON.stringify({ version: 1, vms: [vm('a', ['/vms/a.img']), vm('b', ['/vms/a.img'])] })]
  ]
  for (const [why, text] of cases) {
    const file = join(dir, `${why.replaceAll(' ', '-')}.json`)
    await writeFile(file, why === 'not UTF-8' ? Buffer.from([0xff, 0xfe, 0x7b]) : text)
    const before = await readFile(file)
    await t.rejects(VmInventory.open(file), { code: 'APP_INVENTORY_CORRUPT' }, why)
    t.same(await readFile(file), before, `${why}: left untouched`)
  }
  const file = join(dir, 'good.json')
  await writeFile(file, good)
  t.equal((await VmInventory.open(file)).list().length, 1, 'the same document, undamaged, opens')
})
