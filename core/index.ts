/**
 * The replication engine: no network, no HTTP, imports nothing of ours
 * outside this folder. See docs/store-format.md and docs/design.md's data path.
 */
export * from './types.ts'
export * from './errors.ts'
export * from './constants.ts'
export { hashBlock, isZero, zeroHash, toHex, fromHex } from './hash.ts'
export { blockCount, blockLength, hashAt, isZeroBlock, diskRoot, pointRoot, encodeManifest, decodeManifest, checkManifest } from './manifest.ts'
export { diffManifests } from './diff.ts'
export { differingExtents, trackedViaShared } from './shared-tracking.ts'
export { BlockCodec, Codec, type EncodedBlock } from './compress.ts'
export * from './disk-view/index.ts'
export * from './scan/index.ts'
export * from './store/index.ts'
export { checkSourceSanity, type DiskShape, type SourceSanityOptions } from './source-sanity.ts'
export { replicateOnce, type ReplicateOptions, type CycleReport, type DiskCycleReport } from './replicate.ts'
export { materializePoint, writeBlocks, type MaterializeOptions } from './restore.ts'
export { openPointExport, type PointExportOptions, type PointExportStore } from './point-export.ts'
export { verifyPoint, verifyImage, MAX_REPORTED_PROBLEMS, type VerifyReport, type BlockProblem, type DamagedBlock } from './verify.ts'
export { planResync, type ResyncPlan } from './resync.ts'
