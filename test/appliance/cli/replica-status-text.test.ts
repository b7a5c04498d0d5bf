/** The Replica relationships in words (for `tandem replication status`). */
import t from 'tap'
import { replicaStatusText } from '../../../appliance/cli/replica-status-text.ts'
import { REPLICA_STATUS } from '../../web/fixtures/fake-service.ts'

t.equal(replicaStatusText([]), 'no relationship is held here as Replica')
const line = replicaStatusText([REPLICA_STATUS])
t.match(line, /^web \(web-1\) {2}Replica of 12D3KooW/)
t.match(line, /replicating, newest point 5 s old, keeps latest \+ 2/)
t.match(line, /health normal: replicating; last replication 2026-01-01T00:00:01.000Z/, 'health and the last replication time')
t.match(replicaStatusText([{ ...REPLICA_STATUS, achievedRpoMs: null }]), /no point yet/)
