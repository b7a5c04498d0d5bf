import { AppError, AppErrorCode } from '../errors.ts'
import { damaged, readJsonFile, writeJsonFile, type JsonFileKind } from '../json-file.ts'
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

export const RELATIONSHIPS_FILE: JsonFileKind = { what: 'relationships file', version: RELATIONSHIPS_FILE_VERSION, maxBytes: MAX_RELATIONSHIPS_FILE_BYTES, code: AppErrorCode.APP_RELATIONSHIPS_CORRUPT }

/** Checks a whole relationships document (json-file.ts read it); throws APP_RELATIONSHIPS_CORRUPT naming the first problem. */
function decode (file: string, doc: Record<string, unknown>): Map<string, Relationship> {
  const corrupt = (why: string): AppError => damaged(RELATIONSHIPS_FILE, file, why)
  if (Object.keys(doc).some(k => k !== 'relationships')) throw corrupt('unknown top-level field')
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
    const doc = await readJsonFile(file, RELATIONSHIPS_FILE)
    return new RelationshipTable(file, doc === undefined ? new Map() : decode(file, doc))
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
      await writeJsonFile(this.file, RELATIONSHIPS_FILE, { relationships: [...next.values()].map(copyRelationship) })
      this.rels = next
      return true
    })
  }
}
