/** Pure: the failover commands in words (`--dry-run`, and what they did): unplanned, complete, cancel, stop-test, planned and its cancel on the primary. */
import t from 'tap'
import { failoverText } from '../../../appliance/cli/failover-unplanned.ts'
import { failoverPlanSummary, plannedPlanSummary, testStopPlanSummary } from '../../../appliance/service/plan-summary.ts'
import { FAILOVER, FAILOVER_PLAN, PLANNED_PLAN, TEST_STOP_PLAN } from '../../web/fixtures/fake-service.ts'

// The plans' words moved to the service (the daemon sends them as `summary`; the CLI prints them): the same text, line by line.
const planText = (p: Parameters<typeof failoverPlanSummary>[0]): string => failoverPlanSummary(p).join('\n')
const stopPlanText = (p: Parameters<typeof testStopPlanSummary>[0]): string => testStopPlanSummary(p).join('\n')
const plannedPlanText = (p: Parameters<typeof plannedPlanSummary>[0]): string => plannedPlanSummary(p).join('\n')

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

t.test('stop-test --dry-run says what goes and that nothing of the relationship changes', async t => {
  const text = stopPlanText(TEST_STOP_PLAN)
  t.match(text, /^dry run: nothing was stopped\. `tandem failover stop-test web` would:/)
  t.match(text, /stop web-test \(running\), powering it off after 10 s: a test VM is thrown away, not shut down/)
  t.match(text, /discard everything the test wrote since 2026-01-02T00:00:00.000Z: its run directory \(\/var\/lib\/tandem\/failover\/web-1\/test\), overlays included, is removed/)
  t.match(text, /stop serving recovery point 3 \(2026-01-01T00:00:00.000Z, crash-consistent\): retention may remove it again/)
  t.match(text, /change nothing of web's replication \(replicating\) or of its recovery points/)
  const served = stopPlanText({ ...TEST_STOP_PLAN, test: { ...TEST_STOP_PLAN.test, testVm: null, state: null } })
  t.match(served, /close the NBD exports of 1 disk \(nbd\+unix:\/\/\/disk0\?socket=[^)]+\): a VM of your own that reads them loses its disks/)
  t.notMatch(served, /overlays/)
})

t.test('planned failover --dry-run, and cancel --dry-run on the primary', async t => {
  const planned = plannedPlanText(PLANNED_PLAN)
  t.match(planned, /^dry run: nothing was done\. `tandem failover planned web` would:/)
  t.match(planned, /shut web down through its guest agent or ACPI, waiting up to 300 s; then give up, with nothing changed \(add --force/)
  t.match(planned, /lose nothing: every write of the VM is in that point/)
  const prepared = { ...PLANNED_PLAN, action: 'cancel' as const, state: 'prepared-for-planned-failover', vmState: 'shutoff', shutdown: 'stopped' as const, resumes: true }
  const cancel = plannedPlanText({ ...prepared, startsVm: true })
  t.match(cancel, /^dry run: nothing was done\. `tandem failover cancel web` would:/)
  t.match(cancel, /give up the planned failover of web to box-b \(prepared-for-planned-failover\) and replicate again from this box at term 1/)
  t.match(cancel, /start web again here \(it is shutoff\)/)
  t.match(cancel, /lose nothing: box-b keeps its recovery points/)
  t.match(cancel, /if box-b took the failover after all .* its term 2 wins: this box's next cycle is refused, and what web writes here from now on is set aside as a salvage copy/)
  t.notMatch(cancel, /shut web down/)
  t.match(plannedPlanText({ ...prepared, driver: 'manual', shutdown: 'manual', vmState: 'unmanaged' }), /leave web to you: a manual VM runs in its own hypervisor/)
  t.match(plannedPlanText({ ...prepared, vmState: 'running', shutdown: 'shutdown' }), /leave web as it is \(running\)/)
})
