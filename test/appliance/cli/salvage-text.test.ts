/** `tandem salvage list` in words (appliance/cli/salvage.ts): a copy says since when, a preparation what it is for. */
import t from 'tap'
import { salvageListText } from '../../../appliance/cli/salvage.ts'
import { SALVAGE } from '../../web/fixtures/fake-service.ts'

t.test('copies and preparations in words', async t => {
  t.equal(salvageListText([]), 'no salvage copies')
  const text = salvageListText([SALVAGE, { ...SALVAGE, id: 'web-1-20260103T000000Z', state: 'prepared', prepared: true, since: null }])
  const [copy, prep] = text.split(/\n(?=web-1-)/)
  t.match(copy, /^web-1-20260102T000000Z {2}web {2}kept .*\n {2}writes after 2026-01-01T00:00:00.000Z\n/)
  t.match(prep, /^web-1-20260103T000000Z {2}web {2}prepared .*\n {2}kept since the other box failed the VM over: `replication reverse` there takes it/)
  t.notMatch(prep, /no point was shared/, 'not a whole-disk copy of nothing shared')
})
