/**
 * Values the box commands check before they reach the daemon: a bad VM
 * name, PIN or peer id is a usage error in plain words (exit 2), whether or
 * not a daemon runs. Found trying the CLI as a new user: the API's schema
 * refused them first, as WEB_BAD_REQUEST in JSON-schema words.
 */
import t from 'tap'
import { InvalidArgumentError } from 'commander'
import { parsePeerId, parsePin, parseVmName } from '../../../appliance/cli/option-values.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { tandemAt } from '../../helpers/tandem-cli.ts'

t.test('the parsers', async t => {
  t.equal(parseVmName('web-1.prod_a'), 'web-1.prod_a')
  for (const bad of ['', 'bad name', '-x', 'a/b', 'x'.repeat(65), 'é']) t.throws(() => parseVmName(bad), InvalidArgumentError, JSON.stringify(bad))
  t.equal(parsePin('12345678'), '12345678')
  t.equal(parsePin('1234 5678'), '12345678', 'spaces as people copy them')
  t.equal(parsePin('1234-5678'), '12345678')
  for (const bad of ['12', '123456789', 'abcdefgh', '']) t.throws(() => parsePin(bad), InvalidArgumentError, bad)
  t.equal(parsePeerId('12D3KooWGRbfabh3dcHT5spviCYeMKCCsm8Pj38PMwDjKvxgojGV'), '12D3KooWGRbfabh3dcHT5spviCYeMKCCsm8Pj38PMwDjKvxgojGV')
  for (const bad of ['nobody', '12D3KooW0OIl', '../etc']) t.throws(() => parsePeerId(bad), InvalidArgumentError, bad)
})

t.test('through the CLI: exit 2, APP_USAGE, nothing sent', async t => {
  const data = await tempDir(t)
  for (const args of [
    ['vm', 'add', 'bad name', '--disk', '/tmp/x.img'],
    ['pair', 'join', '--pin', '12', '--addr', '/ip4/127.0.0.1/tcp/1'],
    ['pair', 'remove', 'nobody', '--yes']
  ]) {
    const run = await tandemAt(data, args)
    t.equal(run.status, 2, args.join(' '))
    t.equal(run.code, 'APP_USAGE', args.join(' '))
  }
})
