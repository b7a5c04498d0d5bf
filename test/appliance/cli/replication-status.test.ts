/** `tandem replication status` and `measure`: the primary's relationships and the Replica's held ones, chosen by name and put in words. Pure. */
import t from 'tap'
import { boxStatusText, measureText, selectStatus, statusText } from '../../../appliance/cli/replication.ts'
import { MEASURE, REPLICA_STATUS, REPLICATION } from '../../web/fixtures/fake-service.ts'

const both = { primary: [REPLICATION], replica: [REPLICA_STATUS] }

t.test('a name picks its entries on either side, by VM name or relationship id', async t => {
  t.same(selectStatus(both, REPLICATION.vm), { primary: [REPLICATION], replica: [] })
  t.same(selectStatus(both, REPLICA_STATUS.vm), { primary: [], replica: [REPLICA_STATUS] })
  t.same(selectStatus(both, REPLICA_STATUS.relationship), { primary: [], replica: [REPLICA_STATUS] })
  t.throws(() => selectStatus(both, 'nothing-here'), { code: 'APP_RELATIONSHIP_NOT_FOUND' })
})

t.test('the text shows the primary blocks, then the Replica lines', async t => {
  const text = boxStatusText(both)
  t.match(text, new RegExp(`^${REPLICATION.vm} {2}primary → `))
  t.match(text, /Replica of .*\n {2}health normal/)
  t.ok(text.indexOf('primary →') < text.indexOf('Replica of'), 'primary first')
  t.notMatch(boxStatusText({ primary: [], replica: [REPLICA_STATUS] }), /primary →/, 'a Replica alone shows no primary block')
  t.equal(boxStatusText({ primary: [], replica: [] }), 'no replication relationships')
})

t.test('pending bytes in the text: a count, or unknown when the driver cannot tell', async t => {
  const table: Array<[number | null, RegExp]> = [[0, /\b0 B pending/], [3_145_728, /\b3145728 B pending/], [null, /\bunknown pending/]]
  for (const [bytes, text] of table) {
    t.match(statusText([{ ...REPLICATION, dataAtRisk: { bytes, seconds: 12 } }]), new RegExp(`at risk +12 s of writes, ${text.source}`), `status: ${bytes}`)
    t.match(measureText({ ...MEASURE, pendingSizeBytes: bytes }), text, `measure: ${bytes}`)
  }
})

t.test('a paired box is named in the words; an unknown one by its peer id', async t => {
  const text = boxStatusText(both, new Map([[REPLICATION.peer, 'head-office'], [REPLICA_STATUS.peer, 'head-office']]))
  t.match(text, new RegExp(`^${REPLICATION.vm} {2}primary → head-office$`, 'm'))
  t.match(text, / {2}Replica of head-office {2}/)
  t.match(boxStatusText(both), new RegExp(`primary → ${REPLICATION.peer}`), 'no names: the peer id')
})

t.test('a running cycle\'s progress: a line in the block, with the time left once known', async t => {
  t.notMatch(statusText([REPLICATION]), /progress/, 'none when no cycle runs')
  const running = { ...REPLICATION, running: true, progress: { phase: 'send disk0', bytesDone: 225_443_840, bytesTotal: 536_870_912, startedAt: '2026-12-07T10:00:00.000Z', etaMs: 180_000 } }
  t.match(statusText([running]), /\n {2}progress {2}send disk0 {2}41% {2}215\.0\/512\.0 MiB, about 3 min left$/)
  t.match(statusText([{ ...running, progress: { ...running.progress, etaMs: null } }]), /progress {2}send disk0 {2}41% {2}215\.0\/512\.0 MiB$/, 'no rate yet: no time left')
  t.match(statusText([{ ...running, progress: { ...running.progress, phase: 'starting', bytesDone: 0, bytesTotal: 0 } }]), /progress {2}starting$/)
})
