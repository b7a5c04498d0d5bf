import type { JobInfo } from './job-types.ts'
import type { ReversePlanInfo, ReverseRequest } from './planned-types.ts'
import type { ReplicationEnableRequest, ReplicationInfo, ReplicationUpdateRequest, ReplicationMeasureInfo, ReplicationRemoveResult } from './replication-types.ts'

/**
 * Replication of this box's VMs to a paired Replica (docs/relationships.md,
 * docs/cli.md "tandem replication"). `name` is the VM's name. Every change
 * goes through the relationship state machine and is an event in the log;
 * a change the state does not allow is APP_INVALID_STATE and changes
 * nothing. APP_RELATIONSHIP_NOT_FOUND when the VM has no relationship.
 */
export interface ReplicationApi {
  /**
   * Protects VM `name` (in the inventory) on the paired box `request.to`:
   * the Replica is offered the relationship and records it, then cycles run
   * at the frequency. Throws APP_VM_NOT_FOUND, APP_PEER_NOT_FOUND,
   * APP_RELATIONSHIP_EXISTS, APP_SETTING_INVALID,
   * or the Replica's refusal (P2P_RELATIONSHIP_REFUSED, P2P_PEER_UNREACHABLE...):
   * then nothing is kept. With `initial: seed:PATH` a seed export job
   * starts too (`seedExportJob` of the result): the first cycle waits until
   * the Replica has imported the seed, then sends only what changed since.
   */
  replicationEnable: (name: string, request: ReplicationEnableRequest) => Promise<ReplicationInfo>
  /**
   * Changes the settings of VM `name`'s relationship, on its primary
   * (docs/relationships.md "Changing the settings"), in any state but
   * prepared-for-planned-failover (APP_INVALID_STATE: the Replica is
   * taking the VM over; change them after, on the new primary): only the
   * fields given change, durably (the relationships file) and with an event
   * (kind `replication-settings`), then the Replica is told with the
   * relationship protocol's `update` (an unreachable one learns at the next
   * change). When each takes effect: `frequency` at once for the wait
   * before the next cycle (due one new interval after the last cycle's due
   * time; at once if that has passed); `bandwidth` and
   * `appConsistentEvery` from the next cycle (a cycle in flight keeps
   * its limit and is never interrupted); `recoveryPoints` on the Replica,
   * from the next point it commits (its pruning reads the count from its
   * record, which the `update` replaces: no new wire message). Throws
   * APP_USAGE when no field is given, APP_SETTING_INVALID for a bad value
   * (nothing changes), APP_RELATIONSHIP_NOT_FOUND when the VM has no
   * relationship or this box is its Replica.
   */
  replicationUpdate: (name: string, request: ReplicationUpdateRequest) => Promise<ReplicationInfo>
  /**
   * Every relationship this box is the primary of (oldest first), or only VM
   * `name`'s, with the health their cycles give. Replica relationships are
   * `replicaStatus()`'s; a name held here only as Replica is APP_RELATIONSHIP_NOT_FOUND.
   */
  replicationStatus: (name?: string) => Promise<ReplicationInfo[]>
  /** The monitoring window's figures of VM `name`'s relationship; only on its primary (APP_RELATIONSHIP_NOT_FOUND on the Replica, which has no cycle records). */
  replicationMeasure: (name: string) => Promise<ReplicationMeasureInfo>
  /** No cycle starts until resume (one in flight finishes); the Replica is told. */
  replicationSuspend: (name: string) => Promise<ReplicationInfo>
  /** Cycles start again (a resynchronization first when tracking was lost meanwhile). */
  replicationResume: (name: string) => Promise<ReplicationInfo>
  /** The next cycle compares every block with the Replica's copy and sends only those that differ; recovery points are kept. */
  replicationResync: (name: string) => Promise<ReplicationInfo>
  /** Stops protecting the VM: this box forgets the relationship and its replication state; the Replica keeps its recovery points. */
  replicationRemove: (name: string) => Promise<ReplicationRemoveResult>
  /**
   * Reverse replication, on the box that failed over (docs/failover.md
   * "Reverse replication"), as a job (kind `replication-reverse`): the old
   * primary is told to become the Replica (it keeps its disk as it is, a
   * salvage copy of what it wrote after the shared point, before anything
   * can overwrite it), this box becomes the primary of the same
   * relationship at its term, and its first cycle sends only the blocks
   * that differ from the old primary's disk; the job ends with that
   * cycle. Checked before the job: APP_RELATIONSHIP_NOT_FOUND,
   * APP_INVALID_STATE (not a completed failover: complete it first),
   * APP_VM_NOT_FOUND. The job fails with the old primary's refusal
   * (P2P_VM_RUNNING: its VM runs, add `force`; P2P_STALE_TERM...) or
   * P2P_PEER_UNREACHABLE, and then nothing changed here.
   */
  replicationReverse: (name: string, request?: ReverseRequest) => Promise<JobInfo>
  /** What `replication reverse` would do, checked the same way; nothing is done. */
  replicationReversePlan: (name: string, request?: ReverseRequest) => Promise<ReversePlanInfo>
}
