/**
 * The appliance's small JSON documents (VM inventory, relationships, config):
 * read whole and bounded, checked by the caller, replaced atomically. A file
 * that exists but cannot be read as the expected document is reported with
 * the caller's code and left untouched: resetting it would silently lose
 * what it held (docs/vm-inventory.md).
 */
import { AppError, type AppErrorCode } from './errors.ts'
import { readBoundedIfExists, writeFileAtomic } from './fs-util.ts'

export interface JsonFileKind {
  /** What the file is, for messages ("VM inventory"). */
  what: string
  /** The only version read and the one written. */
  version: number
  /** Largest file read, with its reason at the caller. */
  maxBytes: number
  /** The code of a damaged file. */
  code: AppErrorCode
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** An error of `kind`'s code naming `file` and why it is not a valid document. */
export function damaged (kind: JsonFileKind, file: string, why: string, cause?: unknown): AppError {
  return new AppError(kind.code, `${kind.what} ${file} is damaged: ${why}`, cause === undefined ? {} : { cause })
}

/**
 * The document in `file` (its `version` checked and removed), or undefined
 * when the file does not exist. Throws `kind.code` for a file too big, not
 * UTF-8 JSON, not an object or of another version; other I/O errors as they are.
 */
export async function readJsonFile (file: string, kind: JsonFileKind): Promise<Record<string, unknown> | undefined> {
  const bytes = await readBoundedIfExists(file, kind.maxBytes, size => damaged(kind, file, `${size} bytes, more than ${kind.maxBytes}`))
  if (bytes === undefined) return undefined
  let doc: unknown
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw damaged(kind, file, 'not UTF-8 JSON', err)
  }
  if (!isObject(doc)) throw damaged(kind, file, 'not a JSON object')
  if (doc.version !== kind.version) throw damaged(kind, file, `version ${String(doc.version).slice(0, 16)} is not ${kind.version}`)
  const { version: _, ...body } = doc
  return body
}

/** Writes `body` with `kind.version` to `file`, atomically (fs-util.ts writeFileAtomic), mode 0600. */
export async function writeJsonFile (file: string, kind: JsonFileKind, body: Record<string, unknown>): Promise<void> {
  await writeFileAtomic(file, JSON.stringify({ version: kind.version, ...body }, null, 2) + '\n')
}
