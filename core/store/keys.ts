/**
 * LevelDB key layout of a store (normative description: docs/store-format.md).
 * Keys are UTF-8 strings; numbers are zero-padded so that lexical order is
 * numeric order.
 */
export const SCHEMA_KEY = 'meta/schema'
export const NEXT_POINT_KEY = 'meta/next-point'

const pad = (n: number, width: number): string => String(n).padStart(width, '0')

export const pointKey = (id: number): string => `point/${pad(id, 12)}`
export const POINT_RANGE = { gt: 'point/', lt: 'point/~' }

/** A point's disk manifest: the list of its page hashes. */
export const manifestKey = (id: number, disk: string): string => `manifest/${pad(id, 12)}/${disk}`
export const pointManifestsRange = (id: number): { gt: string, lt: string } => ({ gt: `manifest/${pad(id, 12)}/`, lt: `manifest/${pad(id, 12)}/~` })

/** Manifest pages are content-addressed and shared by the points that have them. */
export const pageKey = (hashHex: string): string => `mpage/${hashHex}`
export const PAGE_RANGE = { gt: 'mpage/', lt: 'mpage/~' }
export const hashOfPageKey = (key: string): string => key.slice('mpage/'.length)

export const blockKey = (hashHex: string): string => `block/${hashHex}`
export const BLOCK_RANGE = { gt: 'block/', lt: 'block/~' }
export const hashOfBlockKey = (key: string): string => key.slice('block/'.length)

export const packKey = (packId: string): string => `pack/${packId}`
export const PACK_RANGE = { gt: 'pack/', lt: 'pack/~' }

export const imageKey = (disk: string): string => `image/${disk}`
export const IMAGE_RANGE = { gt: 'image/', lt: 'image/~' }

/** Durable staging of resumable cycles: `stage/<id>/meta`, `stage/<id>/pack/<pack>`, `stage/<id>/block/<hash>`, `stage/<id>/journal/<n>`. */
export const STAGE_ID = /^[0-9a-f]{32}$/
export const stageMetaKey = (id: string): string => `stage/${id}/meta`
export const stagePackKey = (id: string, pack: string): string => `stage/${id}/pack/${pack}`
export const stageBlockKey = (id: string, hashHex: string): string => `stage/${id}/block/${hashHex}`
export const stageJournalKey = (id: string, n: number): string => `stage/${id}/journal/${pad(n, 12)}`
export const stageRange = (id: string, part?: 'pack' | 'block' | 'journal'): { gt: string, lt: string } =>
  part === undefined ? { gt: `stage/${id}/`, lt: `stage/${id}/~` } : { gt: `stage/${id}/${part}/`, lt: `stage/${id}/${part}/~` }
export const STAGE_PACK_RANGE = { gt: 'stage/', lt: 'stage/~' }

/** Blocks verify found damaged (or missing): `bad/<hash>`, until a cycle stores them again or no point needs them. */
export const badBlockKey = (hashHex: string): string => `bad/${hashHex}`
export const BAD_RANGE = { gt: 'bad/', lt: 'bad/~' }
export const hashOfBadKey = (key: string): string => key.slice('bad/'.length)
/** A pack some of whose records healing replaced (their damaged copies are dead): the next prune looks at it. */
export const healedPackKey = (packId: string): string => `healed/${packId}`
export const HEALED_PACK_RANGE = { gt: 'healed/', lt: 'healed/~' }
/**
 * Pack files the sweep may delete (sweep.ts). `pending/<pack>` is written
 * (synced) before the pack file is created and cleared by the batch that
 * commits the pack; `garbage/<pack>` is written by the batch in which pruning
 * retires a pack and cleared once the file is gone. A pack file no key names
 * is a stray: kept and reported, never deleted.
 */
export const pendingPackKey = (packId: string): string => `pending/${packId}`
export const PENDING_PACK_RANGE = { gt: 'pending/', lt: 'pending/~' }
export const garbagePackKey = (packId: string): string => `garbage/${packId}`
export const GARBAGE_PACK_RANGE = { gt: 'garbage/', lt: 'garbage/~' }
/** A point file (`points/<id>.point`) of a point pruning removed, deleted by the sweep. */
export const garbagePointKey = (id: number): string => `garbage-point/${pad(id, 12)}`
export const GARBAGE_POINT_RANGE = { gt: 'garbage-point/', lt: 'garbage-point/~' }
/** A point file written for a commit that has not landed yet; the commit batch clears it, the sweep deletes the file otherwise. */
export const pendingPointKey = (id: number): string => `pending-point/${pad(id, 12)}`
export const PENDING_POINT_RANGE = { gt: 'pending-point/', lt: 'pending-point/~' }
export const pointIdOfKey = (key: string): number => Number(key.slice(key.lastIndexOf('/') + 1))
