/**
 * Pure: what a failover command would do and what could be lost, in plain
 * words, one line each (docs/failover.md). The daemon puts these lines in
 * every plan it answers (`summary`), so the CLI's `--dry-run` and the web
 * page say exactly the same thing; tests call them with literal plans.
 */
import { durationText } from '../events/figure-text.ts'
import type { DrillSignInfo, TestPlanInfo, TestStopPlanInfo } from './failover-types.ts'
import type { PlannedPlanInfo, ReversePlanInfo } from './planned-types.ts'
import type { FailoverPlanInfo } from './unplanned-types.ts'

/** A plan as the daemon finds it, before its summary is written. */
export type PlanFacts<T extends { summary: string[] }> = Omit<T, 'summary'>

/** A plan with its words: what the daemon answers (and the fake service of the tests). */
export function withSummary<T extends { summary: string[] }> (facts: PlanFacts<T>, summary: (facts: PlanFacts<T>) => string[]): T {
  return { ...facts, summary: summary(facts) } as T
}

export function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** The sign of life a drill waits for, in words. */
export const signText = (s: DrillSignInfo): string => s.kind === 'agent' ? 'the guest agent answering' : `a serial console line matching /${s.pattern}/`

/** `failover test [--check] --dry-run`. */
export function testPlanSummary (p: PlanFacts<TestPlanInfo>): string[] {
  const point = `recovery point ${p.point.id} of ${p.vm} (${p.point.time}, ${p.point.consistency}-consistent${p.latest ? ', the latest' : `; ${plural(p.newerPoints, 'newer point')} held here`})`
  const lines = [`dry run: nothing was started. \`tandem failover test ${p.vm}${p.check === null ? '' : ' --check'}\` would:`]
  lines.push(`  - serve ${point} read-only over NBD; it is kept (retention does not remove it) until the test stops`)
  if (p.testVm === null) {
    lines.push(`  - run no VM here (${p.note ?? ''}): the disks' NBD addresses are printed for a VM of your own`)
  } else {
    lines.push(`  - start ${p.testVm} on it: ${plural(p.vcpus ?? 0, 'vCPU')}, ${p.memoryMiB ?? 0} MiB, ${p.boot === 'kernel' ? 'booting its kernel directly' : 'booting from its first disk'}; ${p.nics === 0 ? 'no NIC' : `its ${plural(p.nics, 'NIC')} on an isolated network (no host, no outside)`}`)
    lines.push('  - send the VM\'s writes to throw-away overlays: stopping the test discards them; the point itself is never written')
  }
  if (p.check !== null) {
    lines.push(`  - wait up to ${durationText(p.check.timeoutMs)} for ${signText(p.check.sign)}, take a screenshot into ${p.check.screenshotDir}, stop the VM, and mark the point proven (a drill)`)
  }
  lines.push(`  - leave the relationship ${p.state}: replication goes on committing new points meanwhile (a test is not a failover)`)
  return lines
}

/** `failover stop-test --dry-run`. */
export function testStopPlanSummary (p: PlanFacts<TestStopPlanInfo>): string[] {
  const t = p.test
  const point = `recovery point ${t.point.id} (${t.point.time}, ${t.point.consistency}-consistent)`
  return [
    `dry run: nothing was stopped. \`tandem failover stop-test ${p.vm}\` would:`,
    t.testVm === null
      ? `  - close the NBD exports of ${plural(t.disks.length, 'disk')} (${t.disks.map(d => d.uri).join(', ')}): a VM of your own that reads them loses its disks`
      : `  - stop ${t.testVm} (${t.state ?? 'unknown'}), powering it off after ${durationText(p.stopWindowMs)}: a test VM is thrown away, not shut down`,
    `  - discard everything the test wrote since ${t.since}: its run directory (${p.runDir})${t.testVm === null ? '' : ', overlays included,'} is removed`,
    `  - stop serving ${point}: retention may remove it again like any other point`,
    `  - change nothing of ${p.vm}'s replication (${p.state}) or of its recovery points: the point itself was never written`
  ]
}

const pointWords = (p: FailoverPlanInfo['point']): string => `recovery point ${p.id} (${p.time}, ${p.consistency}-consistent)`

/** `failover unplanned | complete | cancel --dry-run` on the Replica. */
export function failoverPlanSummary (p: PlanFacts<FailoverPlanInfo>): string[] {
  const lines = [`dry run: nothing was done. \`tandem failover ${p.action} ${p.vm}\` would:`]
  if (p.action === 'unplanned') {
    lines.push(`  - raise the term of ${p.vm} from ${p.term} to ${p.termAfter}: its old primary is refused from then on (it stops, and says why, when it comes back)`)
    if (p.kind === 'vm') {
      lines.push(`  - serve ${pointWords(p.point)} read-only and start ${p.vm} on it here within seconds: ${plural(p.vcpus ?? 0, 'vCPU')}, ${p.memoryMiB ?? 0} MiB, ${p.boot === 'kernel' ? 'booting its kernel directly' : 'booting from its first disk'}, its writes in ${p.disks.map(d => d.path).join(', ')}`)
      lines.push(`  - connect ${p.nics.length === 0 ? 'no NIC' : p.nics.map(n => `${n.id} ${n.mode}${n.bridge === null ? '' : ` ${n.bridge}`}`).join(', ')}`)
      for (const n of p.nics) if (n.warning !== null) lines.push(`    warning: ${n.warning}`)
    } else {
      lines.push(`  - write ${pointWords(p.point)} as raw files, byte for byte (${p.disks.map(d => `${d.path}, ${d.size} bytes`).join('; ')}); no VM runs here: ${p.note ?? ''}`)
    }
    lines.push(p.latest
      ? '  - lose nothing held here: it is the latest point'
      : `  - keep the ${plural(p.newerPoints, 'newer point')} for now, but the ${plural(p.newerPoints, 'newer point')} will be dropped if you complete (needs --yes)`)
  } else if (p.action === 'complete') {
    lines.push(p.kind === 'vm'
      ? `  - copy the data of ${pointWords(p.point)} into ${p.vm}'s own disks while it runs (${p.disks.map(d => d.path).join(', ')}), then stop serving the point`
      : `  - keep the raw files (${p.disks.map(d => d.path).join(', ')}) as the disks of ${p.vm}`)
    lines.push(p.dropAtComplete === 0
      ? `  - keep point ${p.point.id}, the only recovery point of ${p.vm} here, as the base of a later failback (needs --yes)`
      : `  - drop the ${plural(p.dropAtComplete, 'other recovery point')} of ${p.vm}${p.newerPoints > 0 ? `, the ${plural(p.newerPoints, 'newer point')} included` : ''}; point ${p.point.id} is kept, the base of a later failback (needs --yes)`)
    lines.push(`  - leave ${p.vm} failed over for good at term ${p.term}, in \`tandem vm list\``)
  } else {
    lines.push(p.kind === 'vm'
      ? `  - stop ${p.vm} and discard what it wrote since the failover (${p.disks.map(d => d.path).join(', ')})`
      : `  - remove the raw files (${p.disks.map(d => d.path).join(', ')}) and whatever was written to them`)
    lines.push(`  - stop serving point ${p.point.id}, give the term back (${p.term} to ${p.termAfter}) and take the old primary's replication again; no recovery point changes`)
  }
  return lines
}

/** `failover planned --dry-run`, and `failover cancel --dry-run` on the primary. */
export function plannedPlanSummary (p: PlanFacts<PlannedPlanInfo>): string[] {
  if (p.action === 'cancel') return plannedCancelSummary(p)
  const down = p.shutdown === 'manual'
    ? `  - check that no process holds the disks of ${p.vm} (a manual VM: shut it down in its own hypervisor first)`
    : p.shutdown === 'stopped'
      ? `  - find ${p.vm} stopped already (${p.vmState})`
      : `  - shut ${p.vm} down through its guest agent or ACPI, waiting up to ${Math.round(p.shutdownWindowMs / 1000)} s; ${p.force ? 'then power it off' : 'then give up, with nothing changed (add --force to power it off)'}`
  return [
    `dry run: nothing was done. \`tandem failover planned ${p.vm}\` would:`,
    ...(p.resumes ? [`  - go on where the last attempt stopped: ${p.vm} is prepared already, its last changes are on ${p.replica}`] : [
      down,
      `  - send its last changes to ${p.replica} (the stopped disks: the point is exact; the last point there is of ${p.lastPointTime ?? 'never'})`
    ]),
    `  - have ${p.replica} fail over to that point at term ${p.termAfter}, start ${p.vm}, copy its data into its own disks, and replicate it back to this box, sending only changed blocks`,
    '  - lose nothing: every write of the VM is in that point'
  ]
}

function plannedCancelSummary (p: PlanFacts<PlannedPlanInfo>): string[] {
  const vm = p.driver === 'manual'
    ? `  - leave ${p.vm} to you: a manual VM runs in its own hypervisor (start it there again)`
    : p.startsVm
      ? `  - start ${p.vm} again here (it is ${p.vmState})`
      : `  - leave ${p.vm} as it is (${p.vmState})`
  return [
    `dry run: nothing was done. \`tandem failover cancel ${p.vm}\` would:`,
    `  - give up the planned failover of ${p.vm} to ${p.replica} (${p.state}) and replicate again from this box at term ${p.term}, on its schedule`,
    vm,
    `  - lose nothing: ${p.replica} keeps its recovery points, the last changes sent included`,
    `  - if ${p.replica} took the failover after all (its answer lost on the way), its term ${p.termAfter} wins: this box's next cycle is refused, and what ${p.vm} writes here from now on is set aside as a salvage copy when ${p.replica} reverses replication`
  ]
}

/** `replication reverse --dry-run` on the box that failed over. */
export function reversePlanSummary (p: PlanFacts<ReversePlanInfo>): string[] {
  const since = p.base === null ? 'everything on its disks (no point is shared)' : `the writes on ${p.replica} after ${p.base.time}`
  return [
    `dry run: nothing was done. \`tandem replication reverse ${p.vm}\` would:`,
    `  - ask ${p.replica}, the old primary, to become the Replica of ${p.vm} at term ${p.term}${p.force ? ', stopping its copy of the VM if it runs' : ' (refused if its copy of the VM runs: add --force to stop it)'}`,
    `  - ${since} will be set aside as a salvage copy there (tandem salvage list), nothing lost`,
    `  - make this box the primary: ${p.disks.map(d => `${d.name} ${d.path}`).join(', ')} replicated to ${p.replica}`,
    `  - send only the blocks that differ from ${p.replica}'s disk${p.base === null ? '' : ` (the point both share: ${p.base.root.slice(0, 12)})`}`
  ]
}
