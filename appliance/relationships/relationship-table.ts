import { AppError, AppErrorCode } from '../errors.ts'
import { readBoundedIfExists, writeFileAtomic } from '../fs-util.ts'
import { SerialQueue } from '../serial-queue.ts'
import { copyRelationship, invalidRelationship, type Relationship } from './relationship.ts'

/** The format version written and the only one read (docs/relationships.md#the-relationships-file). */
export const RELATIONSHIPS_FILE_VERSION = 1

/**
 * Largest relationships file read: a record is under 1 KiB (a seed path
 * can make one up to 5 KiB) and a box protects tens of VMs, so this holds
 * thousands; anything bigger is not ours.
 */
export const MAX_RELATIONSHIPS_FILE_BYTES = 4 * 1024 * 1024

const DOC_FIELDS = ['version', 'relationships']
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Parses and checks a whole relationships file; throws APP_RELATIONSHIPS_CORRUPT naming the first problem. */
function decode (file: string, bytes: Uint8Array): Map<string, Relationship> {
  const corrupt = (why: string, cause?: unknown): AppError =>
    new AppError(AppErrorCode.APP_RELATIONSHIPS_CORRUPT, `relationships file ${file} is damaged: ${why}`, cause === undefined ? {} : { cause })
  let doc: unknown
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw corrupt('not UTF-8 JSON', err)
  }
  if (!isObject(doc)) throw corrupt('not a JSON object')
  if (doc.version !== RELATIONSHIPS_FILE_VERSION) throw corrupt(`version ${String(doc.version).slice(0, 16)} is not ${RELATIONSHIPS_FILE_VERSION}`)
  if (Object.keys(doc).some(k => !DOC_FIELDS.includes(k))) throw corrupt('unknown top-level field')
  if (!Array.isArray(doc.relationships)) throw corrupt('relationships is not an array')
  const table = new Map<string, Relationship>()
  const vms = new Set<string>()
  for (const [i, r] of doc.relationships.entries()) {
    const why = invalidRelationship(r)
    if (why !== undefined) throw corrupt(`relationship ${i}: ${why}`)
    const rel = r as Relationship
    if (table.has(rel.id)) throw corrupt(`relationship ${i}: id ${rel.id} is listed twice`)
    if (vms.has(rel.vm)) throw corrupt(`relationship ${i}: VM ${rel.vm} has two relationships`)
    table.set(rel.id, copyRelationship(rel))
    vms.add(rel.vm)
  }
  return table
}

function encode (rels: Iterable<Relationship>): string {
  return JSON.stringify({ version: RELATIONSHIPS_FILE_VERSION, relationships: [...rels].map(copyRelationship) }, null, 2) + '\n'
}

/**
 * This box's relationships, persisted in one JSON file
 * (docs/relationships.md#the-relationships-file): at most one per VM.
 * Reads are synchronous, from memory, and return copies. Changes (`put`,
 * `remove`) may be called concurrently: they run one at a time in call
 * order, and each becomes visible in memory only once the file holding it
 * is durably in place; one that rejects (an I/O error) leaves memory as it
 * was and does not block the ones after it. One process owns the file.
 */
export class RelationshipTable {
  readonly file: string
  private rels: ReadonlyMap<string, Relationship>
  private readonly writes = new SerialQueue()

  private constructor (file: string, rels: ReadonlyMap<string, Relationship>) {
    this.file = file
    this.rels = rels
  }

  /**
   * Loads `file`; a missing file is an empty table (nothing is written until
   * the first change). A file that exists but is not a valid version 1
   * document throws APP_RELATIONSHIPS_CORRUPT and is left untouched:
   * resetting it would forget what this box protects. Other I/O errors are
   * thrown as they are.
   */
  static async open (file: string): Promise<RelationshipTable> {
    const bytes = await readBoundedIfExists(file, MAX_RELATIONSHIPS_FILE_BYTES, size =>
      new AppError(AppErrorCode.APP_RELATIONSHIPS_CORRUPT, `relationships file ${file} is damaged: ${size} bytes, more than ${MAX_RELATIONSHIPS_FILE_BYTES}`))
    return new RelationshipTable(file, bytes === undefined ? new Map() : decode(file, bytes))
  }

  get (id: string): Relationship | undefined {
    const r = this.rels.get(id)
    return r === undefined ? undefined : copyRelationship(r)
  }

  /** The relationship protecting `vm`, if any. */
  byVm (vm: string): Relationship | undefined {
    for (const r of this.rels.values()) if (r.vm === vm) return copyRelationship(r)
    return undefined
  }

  /** Every relationship, oldest first (a replaced record keeps its place). */
  list (): Relationship[] {
    return [...this.rels.values()].map(copyRelationship)
  }

  /**
   * Stores `rel`, replacing the record with the same id. An invalid record,
   * or a second relationship for a VM that has one, is a programmer mistake
   * (the service checks first): TypeError.
   */
  async put (rel: Relationship): Promise<void> {
    const why = invalidRelationship(rel)
    if (why !== undefined) throw new TypeError(`not a valid relationship: ${why}`)
    const entry = copyRelationship(rel)
    await this.change(rels => {
      for (const other of rels.values()) {
        if (other.vm === entry.vm && other.id !== entry.id) throw new TypeError(`VM ${entry.vm} already has relationship ${other.id}`)
      }
      rels.set(entry.id, entry)
      return true
    })
  }

  /** Forgets relationship `id`; false (and nothing written) when there was none. */
  async remove (id: string): Promise<boolean> {
    return await this.change(rels => rels.delete(id))
  }

  /** Runs `edit` on a copy after every earlier change; when it returns true, writes the copy and then adopts it. */
  private async change (edit: (rels: Map<string, Relationship>) => boolean): Promise<boolean> {
    return await this.writes.run(async () => {
      const next = new Map(this.rels)
      if (!edit(next)) return false
      await writeFileAtomic(this.file, encode(next.values()))
      this.rels = next
      return true
    })
  }
}
