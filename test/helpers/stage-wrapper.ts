import type { ReplicaStage, ReplicaTarget } from '../../p2p/replication/index.ts'

/**
 * A replica target whose stages (new or resumed) go through `wrap`: the
 * fault-injection seam of the Replica's store (a stage that fails its Nth
 * write, or holds its checkpoints). Everything else is passed through.
 */
export function withWrappedStages (target: ReplicaTarget, wrap: (stage: ReplicaStage) => ReplicaStage): ReplicaTarget {
  return {
    points: async () => await target.points(),
    manifest: async (root, disk) => await target.manifest(root, disk),
    close: async () => { await target.close() },
    ...(target.freeBytes === undefined ? {} : { freeBytes: target.freeBytes.bind(target) }),
    newStage: async (cycle, blockSize) => wrap(await target.newStage(cycle, blockSize)),
    resumeStage: async cycle => {
      const r = await target.resumeStage(cycle)
      return r === undefined ? undefined : { ...r, stage: wrap(r.stage) }
    }
  }
}
