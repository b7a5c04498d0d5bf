/**
 * The daemon's settings (BoxSettings, through a running Appliance too) over
 * a real data directory: read from config.json against what runs, changed
 * atomically and checked as `tandem init` checks (APP_USAGE, the file left
 * as it was), plain HTTP kept on loopback, concurrent updates both kept,
 * and `restartNeeded` naming what differs from the running daemon.
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { PassThrough } from 'node:stream'
import { join } from 'node:path'
import { Appliance, initDataDir } from '../../../appliance/daemon/index.ts'
import { BoxSettings } from '../../../appliance/daemon/box-settings.ts'
import { requireConfig } from '../../../appliance/daemon/config.ts'
import type { SettingsUpdateRequest } from '../../../appliance/service/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'

const LISTEN = ['/ip4/127.0.0.1/tcp/0']

t.test('read, change, refuse, and what a restart applies', async t => {
  const dir = join(await tempDir(t), 'box')
  await initDataDir(dir, { name: 'branch-1', listen: LISTEN, api: '0.0.0.0:8443' })
  const file = join(dir, 'config.json')
  const running = await requireConfig(file)
  const settings = new BoxSettings(file, running)
  t.same(await settings.get(), {
    name: 'branch-1', listen: LISTEN, api: '0.0.0.0:8443', apiPlainHttp: false,
    running: { name: 'branch-1', listen: LISTEN, api: '0.0.0.0:8443' }, restartNeeded: []
  })

  const renamed = await settings.update({ name: 'branch-2' })
  t.equal(renamed.name, 'branch-2')
  t.equal(renamed.running.name, 'branch-1', 'the daemon runs with the old name')
  t.same(renamed.restartNeeded, ['name'])
  t.equal((await requireConfig(file)).name, 'branch-2', 'written to config.json')

  const before = await readFile(file, 'utf8')
  const refused: Array<[string, SettingsUpdateRequest]> = [
    ['a name that is not printable', { name: 'a\u0000b' }],
    ['a listen address that is not a multiaddr', { listen: ['0.0.0.0:7450'] }],
    ['no listen address', { listen: [] }],
    ['a web address that is not HOST:PORT', { api: 'https://box/' }],
    ['nothing to change', {}]
  ]
  for (const [what, request] of refused) {
    await t.rejects(settings.update(request), { code: 'APP_USAGE' }, what)
  }
  t.equal(await readFile(file, 'utf8'), before, 'a refused change writes nothing')

  // Two updates at once: one after the other, both kept.
  await Promise.all([settings.update({ listen: ['/ip4/0.0.0.0/tcp/7451'] }), settings.update({ api: '0.0.0.0:9443' })])
  const both = await settings.get()
  t.same([both.name, both.listen, both.api], ['branch-2', ['/ip4/0.0.0.0/tcp/7451'], '0.0.0.0:9443'])
  t.same(both.restartNeeded, ['name', 'listen', 'api'])
  const back = await settings.update({ name: 'branch-1', listen: LISTEN, api: '0.0.0.0:8443' })
  t.same(back.restartNeeded, [], 'back to what runs: nothing to restart for')
  t.equal((await requireConfig(file)).role, running.role, 'the rest of config.json is kept')
})

t.test('plain HTTP stays on loopback', async t => {
  const dir = join(await tempDir(t), 'box')
  await initDataDir(dir, { name: 'demo', listen: LISTEN, api: '127.0.0.1:8080', plainHttp: true })
  const file = join(dir, 'config.json')
  const settings = new BoxSettings(file, await requireConfig(file))
  await t.rejects(settings.update({ api: '0.0.0.0:8080' }), { code: 'APP_USAGE' }, 'plain HTTP on every address is refused')
  t.equal((await settings.update({ api: '127.0.0.1:8081' })).api, '127.0.0.1:8081', 'another loopback port is fine')
  t.equal((await settings.update({ name: 'demo-2' })).apiPlainHttp, true)
})

t.test('a running daemon answers settings() and settingsUpdate()', async t => {
  const dir = join(await tempDir(t), 'box')
  await initDataDir(dir, { name: 'branch-1', listen: LISTEN })
  const app = await Appliance.start({ dataDir: dir, log: new PassThrough().resume() })
  t.teardown(async () => { await app.stop() })
  t.same((await app.settings()).restartNeeded, [])
  const changed = await app.settingsUpdate({ name: 'branch-9' })
  t.same(changed.restartNeeded, ['name'])
  t.equal((await app.status()).name, 'branch-1', 'the running daemon keeps its name until restarted')
})
