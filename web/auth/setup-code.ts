/**
 * The one-time setup code (docs/web.md "Server and login"): 12 characters of
 * Crockford's base32 alphabet (no I, L, O, U: nothing to confuse), shown as
 * `ABCD-EFGH-JKLM` on the console and in `tandem status`, kept in
 * DATA/web/setup-code (0600) while no admin password is set.
 */
import { randomInt, timingSafeEqual } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { SETUP_CODE_CHARS, SETUP_CODE_GROUP } from './constants.ts'
import { readPrivateFile, writePrivateFile } from './private-file.ts'

export const SETUP_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
export const SETUP_CODE_FILE = 'setup-code'

/** The largest setup-code file read: the code, its dashes and a newline. */
const MAX_SETUP_CODE_FILE_BYTES = 64

/** A new code, grouped (`ABCD-EFGH-JKLM`), from node:crypto's uniform randomInt. */
export function newSetupCode (): string {
  let plain = ''
  for (let i = 0; i < SETUP_CODE_CHARS; i++) plain += SETUP_CODE_ALPHABET[randomInt(SETUP_CODE_ALPHABET.length)]
  return groupCode(plain)
}

function groupCode (plain: string): string {
  const groups: string[] = []
  for (let i = 0; i < plain.length; i += SETUP_CODE_GROUP) groups.push(plain.slice(i, i + SETUP_CODE_GROUP))
  return groups.join('-')
}

/**
 * A typed code in its plain form: case, dashes and spaces ignored, and the
 * letters Crockford's base32 reads as digits (O as 0; I and L as 1). Pure.
 */
export function normalizeSetupCode (typed: string): string {
  return typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1')
}

/** Whether `typed` is `code`, compared in constant time (for codes of the right length). Pure. */
export function setupCodeMatches (typed: string, code: string): boolean {
  const a = Buffer.from(normalizeSetupCode(typed))
  const b = Buffer.from(normalizeSetupCode(code))
  // The length is no secret (every code has 12 characters); timingSafeEqual needs equal ones.
  return a.length === b.length && timingSafeEqual(a, b)
}

const codePath = (webDir: string): string => join(webDir, SETUP_CODE_FILE)

/** The code in DATA/web/setup-code, or null when there is none (or it is not a code: it is then replaced by the next `writeSetupCode`). */
export async function readSetupCodeFile (webDir: string): Promise<string | null> {
  const text = await readPrivateFile(codePath(webDir), MAX_SETUP_CODE_FILE_BYTES).catch(() => null)
  const code = text?.trim() ?? ''
  const plain = normalizeSetupCode(code)
  return plain.length === SETUP_CODE_CHARS && [...plain].every(c => SETUP_CODE_ALPHABET.includes(c)) ? groupCode(plain) : null
}

/** Writes a new code (replacing any) and answers it. */
export async function writeSetupCode (webDir: string): Promise<string> {
  const code = newSetupCode()
  await writePrivateFile(codePath(webDir), `${code}\n`)
  return code
}

/** Idempotent. */
export async function removeSetupCode (webDir: string): Promise<void> {
  await rm(codePath(webDir), { force: true })
}
