/**
 * `tandem replication set` in-process against a fake service: the options
 * travel as typed, the text names the new settings, `--json` is the status
 * document, nothing given is a usage error before the daemon is asked, and
 * the daemon's error codes come out as the exit status.
 */
import t from 'tap'
import { runCli } from '../../helpers/cli-in-process.ts'
import { FakeService } from '../../web/fixtures/fake-service.ts'
import { settingsText } from '../../../appliance/cli/replication.ts'

t.test('set sends the options as typed; text and --json', async t => {
  const service = new FakeService()
  const r = await runCli(['replication', 'set', 'vm1', '--frequency', '30s', '--bandwidth', '10M', '--app-consistent-every', '1h', '--data', '/tmp/x'], service)
  t.equal(r.status, 0, r.err)
  t.match(r.out, /^replication settings of vm1 changed: frequency 30 s, 3 recovery points, app-consistent every 1 h, bandwidth 10 MB\/s\n/)
  t.match(r.out, /state {5}replicating/)
  t.same(service.calls[0], ['replicationUpdate', { name: 'vm1', frequency: '30s', bandwidth: '10M', appConsistentEvery: '1h' }])
  const json = await runCli(['replication', 'set', 'vm1', '--recovery-points', '48', '--data', '/tmp/x', '--json'], service)
  t.equal(json.status, 0)
  t.match(JSON.parse(json.out), { vm: 'vm1', settings: { recoveryPoints: 48 } })
})

t.test('nothing to change is a usage error; the daemon\'s codes come through', async t => {
  const service = new FakeService()
  let r = await runCli(['replication', 'set', 'vm1', '--data', '/tmp/x'], service)
  t.equal(r.status, 2)
  t.match(r.err, /^error APP_USAGE:/)
  t.same(service.calls, [], 'the daemon was not asked')
  r = await runCli(['replication', 'set', 'vm1', '--bandwidth', 'fast', '--data', '/tmp/x'], service)
  t.match(r.err, /^error APP_SETTING_INVALID:/)
  service.failWith = { code: 'APP_RELATIONSHIP_NOT_FOUND', message: 'Replica side' }
  r = await runCli(['replication', 'set', 'vm1', '--frequency', '5m', '--data', '/tmp/x'], service)
  t.match(r.err, /^error APP_RELATIONSHIP_NOT_FOUND:/)
})

t.test('settingsText', async t => {
  t.equal(settingsText({ frequency: 'continuous', recoveryPoints: 0, appConsistentEvery: null, bandwidth: null, initial: 'now' }),
    'frequency continuous, 0 recovery points, app-consistent none, bandwidth no limit')
})
