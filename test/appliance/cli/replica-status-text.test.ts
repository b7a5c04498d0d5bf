/** The Replica relationships in words (for `tandem replication status`). */
import t from 'tap'
import { replicaStatusText } from '../../../appliance/cli/replica-status-text.ts'
import { DRILL_SETTINGS, FAILOVER, PROOF, REPLICA_STATUS, TEST } from '../../web/fixtures/fake-service.ts'

t.equal(replicaStatusText([]), 'no relationship is held here as Replica')
const line = replicaStatusText([REPLICA_STATUS])
t.match(line, /^web \(web-1\) {2}Replica of 12D3KooW/)
t.match(line, /replicating, newest point 5 s old, keeps latest \+ 2/)
t.match(line, /health normal: replicating; last replication 2026-01-01T00:00:01.000Z/, 'health and the last replication time')
t.match(replicaStatusText([{ ...REPLICA_STATUS, achievedRpoMs: null }]), /no point yet/)
t.match(line, /no point proven by a drill yet/)
const busy = replicaStatusText([{ ...REPLICA_STATUS, lastProvenPoint: PROOF, drill: DRILL_SETTINGS, test: TEST }])
t.match(busy, /last proven point 3 \(booted 2026-01-02T00:00:00.000Z, sign of life after 4 s\)/, 'the last proven point next to the health')
t.match(busy, /drills every 7 d, next 2026-01-09T00:00:00.000Z/)
t.match(busy, /test failover on point 3 since 2026-01-02T00:00:00.000Z: web-test running/, 'the running test')
const failedOver = replicaStatusText([{ ...REPLICA_STATUS, state: 'failed-over-waiting-completion', term: 2, failover: FAILOVER }])
t.match(failedOver, /failed over to point 3 \(2026-01-01T00:00:00.000Z\) at term 2 since 2026-01-02T00:00:00.000Z: web running here, running; web runs on point 3/, 'the unplanned failover')
t.match(replicaStatusText([{ ...REPLICA_STATUS, failover: { ...FAILOVER, kind: 'files', vmState: null, disks: [{ name: 'disk0', path: '/d/web-1/disk0.raw' }] } }]), /raw files here \(\/d\/web-1\/disk0.raw\)/)
