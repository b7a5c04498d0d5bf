/**
 * config.json: defaults fill what is left out, every bad field is
 * APP_CONFIG_INVALID (a typo is never ignored), init's options are checked
 * (APP_USAGE) before anything is written, and the file round-trips.
 */
import t from 'tap'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CONFIG_VERSION, defaultConfig, parseConfig, readConfig } from '../../../appliance/daemon/index.ts'
import { isLoopbackHost, MAX_CONFIG_BYTES } from '../../../appliance/daemon/config.ts'
import { initDataDir, initialConfig } from '../../../appliance/daemon/init.ts'
import { logLevel } from '../../../appliance/daemon/logger.ts'
import { tempDir } from '../../helpers/fixtures.ts'

t.test('a version alone is a complete config', async t => {
  t.same(parseConfig({ version: 1 }), defaultConfig())
  t.equal(defaultConfig().version, CONFIG_VERSION)
  t.same(defaultConfig().listen, ['/ip4/0.0.0.0/tcp/7450'])
})

t.test('bad fields are APP_CONFIG_INVALID', async t => {
  const bad: Array<[string, unknown]> = [
    ['not an object', []],
    ['null', null],
    ['no version', { name: 'x' }],
    ['another version', { version: 2 }],
    ['an unknown field', { version: 1, nmae: 'typo' }],
    ['an empty name', { version: 1, name: '' }],
    ['a name with a control character', { version: 1, name: 'a\u0007b' }],
    ['an unknown role', { version: 1, role: 'leader' }],
    ['listen not an array', { version: 1, listen: '/ip4/0.0.0.0/tcp/1' }],
    ['listen empty', { version: 1, listen: [] }],
    ['listen not a multiaddr', { version: 1, listen: ['0.0.0.0:7450'] }],
    ['api not HOST:PORT', { version: 1, api: 'localhost' }],
    ['api port out of range', { version: 1, api: 'localhost:70000' }],
    ['an unknown log level', { version: 1, logLevel: 'loud' }],
    ['maxCycleBytes not positive', { version: 1, maxCycleBytes: 0 }],
    ['maxCycleBytes not whole', { version: 1, maxCycleBytes: 1.5 }],
    ['apiPlainHttp not a boolean', { version: 1, api: '127.0.0.1:8080', apiPlainHttp: 'yes' }],
    ['apiPlainHttp without an api', { version: 1, apiPlainHttp: true }],
    ['apiPlainHttp on every address', { version: 1, api: '0.0.0.0:8080', apiPlainHttp: true }],
    ['apiPlainHttp on a network address', { version: 1, api: '192.168.1.20:8080', apiPlainHttp: true }],
    ['apiPlainHttp on a name', { version: 1, api: 'box.local:8080', apiPlainHttp: true }]
  ]
  for (const [what, doc] of bad) t.throws(() => parseConfig(doc), { code: 'APP_CONFIG_INVALID' }, what)
})

t.test('good values are kept', async t => {
  const doc = { version: 1, name: 'shop', role: 'replica', listen: ['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/7450'], api: '[::1]:8443', apiPlainHttp: true, logLevel: 'debug', maxCycleBytes: 1024 }
  t.same(parseConfig(doc), doc)
  for (const api of ['127.0.0.1:1', '127.8.9.10:80', '[::1]:80', '[0:0:0:0:0:0:0:1]:80', 'localhost:8080', 'LocalHost:8080']) {
    t.equal(parseConfig({ version: 1, api, apiPlainHttp: true }).apiPlainHttp, true, `plain HTTP on the loopback host ${api}`)
  }
})

t.test('loopback hosts', async t => {
  const cases: Array<[string, boolean]> = [
    ['localhost', true], ['127.0.0.1', true], ['127.255.0.9', true], ['::1', true], ['[::1]', true], ['0::1', true],
    ['0.0.0.0', false], ['::', false], ['[::]', false], ['128.0.0.1', false], ['192.168.1.1', false], ['::2', false],
    ['::ffff:127.0.0.1', false], ['localhost.example', false], ['box', false]
  ]
  for (const [host, loopback] of cases) t.equal(isLoopbackHost(host), loopback, host)
})

t.test('TANDEM_LOG_LEVEL overrides the config when it names a level', async t => {
  t.equal(logLevel('info', {}), 'info')
  t.equal(logLevel('info', { TANDEM_LOG_LEVEL: 'debug' }), 'debug')
  t.equal(logLevel('info', { TANDEM_LOG_LEVEL: 'loud' }), 'info')
})

t.test('init options are checked before anything is written', async t => {
  t.throws(() => initialConfig({ name: '' }), { code: 'APP_USAGE' })
  t.throws(() => initialConfig({ listen: ['nope'] }), { code: 'APP_USAGE' })
  t.throws(() => initialConfig({ api: 'x' }), { code: 'APP_USAGE' })
  t.throws(() => initialConfig({ plainHttp: true }), { code: 'APP_USAGE' }, '--plain-http without --api')
  t.throws(() => initialConfig({ api: '0.0.0.0:8080', plainHttp: true }), { code: 'APP_USAGE' }, '--plain-http on every address')
  t.throws(() => initialConfig({ api: 'box.local:8080', plainHttp: true }), { code: 'APP_USAGE' }, '--plain-http on a name')
  t.same(initialConfig({ api: '127.0.0.1:8080', plainHttp: true }), { ...defaultConfig(), api: '127.0.0.1:8080', apiPlainHttp: true })
  t.same(initialConfig({ api: '127.0.0.1:8080', plainHttp: false }), { ...defaultConfig(), api: '127.0.0.1:8080' })
  t.same(initialConfig({ name: 'a', listen: ['/ip4/127.0.0.1/tcp/0'], api: 'box.local:8443' }), { ...defaultConfig(), name: 'a', listen: ['/ip4/127.0.0.1/tcp/0'], api: 'box.local:8443' })
  const dir = join(await tempDir(t), 'data')
  await t.rejects(initDataDir(dir, { listen: ['nope'] }), { code: 'APP_USAGE' })
  await t.rejects(readFile(join(dir, 'config.json')), { code: 'ENOENT' })
})

t.test('init writes a config that reads back; a damaged one refuses a second init', async t => {
  const dir = join(await tempDir(t), 'data')
  const r = await initDataDir(dir, { name: 'shop' })
  t.equal(r.name, 'shop')
  t.equal((await stat(join(dir, 'web'))).mode & 0o777, 0o700, 'the web server\'s directory, private')
  t.same(await readConfig(join(dir, 'config.json')), { ...defaultConfig(), name: 'shop' })
  await writeFile(join(dir, 'config.json'), '{ damaged')
  await t.rejects(readConfig(join(dir, 'config.json')), { code: 'APP_CONFIG_INVALID' })
  await t.rejects(initDataDir(dir, {}), { code: 'APP_DATA_ALREADY_INITIALIZED' }, 'a damaged config is not overwritten')
  for (const [why, text] of [
    ['another version', JSON.stringify({ ...defaultConfig(), version: CONFIG_VERSION + 1 })],
    ['larger than MAX_CONFIG_BYTES', JSON.stringify({ ...defaultConfig(), name: 'x'.repeat(MAX_CONFIG_BYTES) })],
    ['not UTF-8', '\uFFFD']
  ] as const) {
    await writeFile(join(dir, 'config.json'), why === 'not UTF-8' ? Buffer.from([0xff, 0xfe, 0x7b]) : text)
    await t.rejects(readConfig(join(dir, 'config.json')), { code: 'APP_CONFIG_INVALID' }, why)
  }
})
