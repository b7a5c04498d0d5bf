/**
 * A failover as the API shows it (docs/api.md "Failover"): the record with
 * what is live (the term, the VM's state, the job), and a command's plan
 * (`--dry-run`). Pure.
 */
import type { Relationship } from '../relationships/index.ts'
import type { FailoverInfo, FailoverPlanInfo, PlanFacts } from '../service/index.ts'
import type { FailoverPlan } from './failover-plan.ts'
import type { FailoverRecord } from './failover-record.ts'
import type { PointChoice } from './point-choice.ts'

/** The failover of record `r`, with the relationship's term now, the VM's state and the running job. */
export function failoverInfo (r: FailoverRecord, live: { term: number, vmState: string | null, job: string | null }): FailoverInfo {
  return {
    relationship: r.relationship,
    vm: r.vm,
    kind: r.kind,
    phase: r.phase,
    point: r.point,
    term: live.term,
    since: new Date(r.since).toISOString(),
    vmState: live.vmState,
    disks: r.definition.disks.map(d => ({ name: d.name, path: d.path })),
    nics: r.nics.map(n => ({ ...n })),
    job: live.job,
    timings: { ...r.timings },
    planned: r.planned,
    reason: r.reason
  }
}

/**
 * What `action` would do to `rel`: its term after, the point chosen (and
 * how many newer ones are held), how many points a completion would drop
 * (all `held` but the point), the VM's shape or files, and whether it needs
 * the operator's `yes`.
 */
export function planInfo (action: FailoverPlanInfo['action'], rel: Relationship, termAfter: number, plan: FailoverPlan, choice: PointChoice, held: number, needsYes: boolean): PlanFacts<FailoverPlanInfo> {
  const sizes = new Map(choice.point.disks.map(d => [d.name, d.size]))
  const vm = plan.kind === 'vm'
  return {
    action,
    relationship: rel.id,
    vm: rel.vm,
    state: rel.state,
    term: rel.term,
    termAfter,
    kind: plan.kind,
    point: choice.point,
    latest: choice.latest,
    newerPoints: choice.newer,
    dropAtComplete: Math.max(0, held - 1),
    vcpus: vm ? plan.definition.vcpus : null,
    memoryMiB: vm ? plan.definition.memoryMiB : null,
    boot: vm ? (plan.definition.boot === undefined ? 'bios' : 'kernel') : null,
    disks: plan.definition.disks.map(d => ({ name: d.name, path: d.path, size: sizes.get(d.name) ?? 0 })),
    nics: plan.nics.map(n => ({ ...n })),
    note: plan.note,
    needsYes
  }
}
