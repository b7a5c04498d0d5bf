/**
 * `tandem points` and `tandem events` in-process against a fake service:
 * NAME asks the daemon (also when TANDEM_STORE is set), `--store` with a
 * NAME or neither is a usage error, `events` passes its name and `--last`.
 */
import t from 'tap'
import { main } from '../../../appliance/cli/main.ts'
import type { LocalBox } from '../../../appliance/service/index.ts'
import { EVENTS, FakeService, POINTS } from '../../web/fixtures/fake-service.ts'

async function run (args: string[], service: FakeService, env: Record<string, string> = {}): Promise<{ status: number, out: string, err: string }> {
  const unused = async (): Promise<never> => { throw new Error('not used') }
  const box: LocalBox = { init: unused, run: unused, offlineStatus: unused, connect: async () => service }
  let out = ''
  let err = ''
  const write = process.stdout.write.bind(process.stdout)
  const saved = Object.fromEntries(Object.keys(env).map(k => [k, process.env[k]]))
  Object.assign(process.env, env)
  process.stdout.write = ((s: string) => { out += s; return true }) as typeof process.stdout.write
  try {
    const status = await main(['node', 'tandem', ...args], box, { write: (s: string) => { err += s; return true } } as unknown as NodeJS.WritableStream)
    return { status, out, err }
  } finally {
    process.stdout.write = write
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v }
  }
}

t.test('points NAME asks the daemon', async t => {
  const service = new FakeService()
  const r = await run(['points', 'web', '--data', '/tmp/x', '--json'], service)
  t.equal(r.status, 0)
  t.same(JSON.parse(r.out), POINTS)
  t.same(service.calls, [['points', 'web']])
  const env = await run(['points', 'web', '--data', '/tmp/x'], service, { TANDEM_STORE: '/nowhere' })
  t.equal(env.status, 0, 'TANDEM_STORE does not take over a NAME')
  t.match(env.out, /web \(relationship web-1\)/)
})

t.test('usage errors', async t => {
  const service = new FakeService()
  let r = await run(['points', 'web', '--store', '/tmp/s', '--data', '/tmp/x'], service)
  t.equal(r.status, 2)
  t.match(r.err, /^error APP_USAGE:/)
  r = await run(['points', '--data', '/tmp/x'], service, { TANDEM_STORE: '' })
  t.equal(r.status, 2, 'neither NAME nor --store')
  r = await run(['events', '--last', 'x', '--data', '/tmp/x'], service)
  t.equal(r.status, 2)
  t.same(service.calls, [], 'the daemon was not asked')
})

t.test('events passes its name and --last', async t => {
  const service = new FakeService()
  const r = await run(['events', 'web', '--last', '5', '--data', '/tmp/x', '--json'], service)
  t.equal(r.status, 0)
  t.same(JSON.parse(r.out), EVENTS)
  t.same(service.calls, [['listEvents', { name: 'web', last: 5 }]])
  const text = await run(['events', '--data', '/tmp/x'], service)
  t.match(text.out, /replica-added {2}now protecting web/)
  t.same(service.calls.at(-1), ['listEvents', { last: 200 }])
})
