/**
 * `tandem points` and `tandem events` in-process against a fake service:
 * NAME asks the daemon (also when TANDEM_STORE is set), `--store` with a
 * NAME or neither is a usage error, `events` passes its name and `--last`.
 */
import t from 'tap'
import { runCli } from '../../helpers/cli-in-process.ts'
import { EVENTS, FakeService, POINTS } from '../../web/fixtures/fake-service.ts'

const run = runCli

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
