/** Pure: unplanned failover, complete and cancel in words (`--dry-run`, and what they did). */
import t from 'tap'
import { failoverText, planText } from '../../../appliance/cli/failover-unplanned.ts'
import { FAILOVER, FAILOVER_PLAN } from '../../web/fixtures/fake-service.ts'

t.test('a dry run says what would happen and what could be lost', async t => {
  const latest = planText(FAILOVER_PLAN)
  t.match(latest, /^dry run: nothing was done\. `tandem failover unplanned web` would:/)
  t.match(latest, /raise the term of web from 1 to 2: its old primary is refused/)
  t.match(latest, /start web on it here within seconds: 1 vCPU, 512 MiB, booting its kernel directly/)
  t.match(latest, /warning: NIC net0 is on bridge br0/)
  t.match(latest, /lose nothing held here: it is the latest point/)
  const older = planText({ ...FAILOVER_PLAN, latest: false, newerPoints: 3, dropAtComplete: 3, needsYes: true })
  t.match(older, /the 3 newer points will be dropped if you complete \(needs --yes\)/)
  const files = planText({ ...FAILOVER_PLAN, kind: 'files', note: 'Tandem does not know how web boots', disks: [{ name: 'disk0', path: '/d/disk0.raw', size: 1048576 }] })
  t.match(files, /write recovery point 3 .* as raw files, byte for byte \(\/d\/disk0.raw, 1048576 bytes\); no VM runs here: Tandem does not know how web boots/)
  const complete = planText({ ...FAILOVER_PLAN, action: 'complete', term: 2, newerPoints: 1, dropAtComplete: 2 })
  t.match(complete, /copy the data of recovery point 3 .* into web's own disks while it runs/)
  t.match(complete, /drop the 2 other recovery points of web, the 1 newer point included; point 3 is kept, the base of a later failback \(needs --yes\)/)
  const only = planText({ ...FAILOVER_PLAN, action: 'complete', term: 2, newerPoints: 0, dropAtComplete: 0 })
  t.match(only, /keep point 3, the only recovery point of web here, as the base of a later failback/)
  t.notMatch(only, /drop the 0/)
  const cancel = planText({ ...FAILOVER_PLAN, action: 'cancel', term: 2, termAfter: 1 })
  t.match(cancel, /stop web and discard what it wrote since the failover/)
  t.match(cancel, /give the term back \(2 to 1\) and take the old primary's replication again; no recovery point changes/)
})

t.test('a failover in words', async t => {
  const text = failoverText(FAILOVER)
  t.match(text, /^failed over: web \(running\) runs on this box from point 3 \(2026-01-01T00:00:00.000Z\), term 2/)
  t.match(text, /term in 3 ms, served in 12 ms, overlays in 30 ms, QEMU running in 400 ms/)
  t.match(text, /disk disk0 {2}\/var\/lib\/tandem\/vms\/web\/disk0.qcow2/)
  t.match(text, /`tandem failover complete web --yes` keeps this, `tandem failover cancel web` undoes it/)
})
