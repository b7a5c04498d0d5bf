/**
 * The admin password (docs/web.md "Server and login"): DATA/web/admin.json
 * (0600, written atomically) holds its argon2id hash as a PHC string, never
 * the password. The first password is set with the one-time setup code
 * (setup-code.ts), which exists only while no password is set.
 */
import { hash, verify, type Options } from '@node-rs/argon2'
import { join } from 'node:path'
import { WebError, WebErrorCode } from '../errors.ts'
import {
  ARGON2_LANES, ARGON2_MEMORY_KIB, ARGON2_PASSES, MAX_ADMIN_FILE_BYTES, MAX_PASSWORD_CHARS, MAX_SETUP_CODE_TRIES, MIN_PASSWORD_CHARS
} from './constants.ts'
import { readPrivateFile, writePrivateFile } from './private-file.ts'
import { readSetupCodeFile, removeSetupCode, setupCodeMatches, writeSetupCode } from './setup-code.ts'

export const ADMIN_FILE = 'admin.json'
export const ADMIN_FILE_VERSION = 1

/** admin.json. */
export interface AdminFile {
  version: typeof ADMIN_FILE_VERSION
  /** argon2id, PHC string format (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`). */
  hash: string
  /** When the password was set (ISO). */
  changedAt: string
}

const ARGON2_OPTIONS: Options = {
  // Algorithm.Argon2id: the package's const enum cannot be read under isolatedModules.
  algorithm: 2 as Options['algorithm'],
  memoryCost: ARGON2_MEMORY_KIB,
  timeCost: ARGON2_PASSES,
  parallelism: ARGON2_LANES
}

const adminPath = (webDir: string): string => join(webDir, ADMIN_FILE)

/**
 * Whether an admin password is set: admin.json exists. A damaged admin.json
 * counts as set (no setup over it); to reset the password, remove the file
 * from the console and restart the daemon.
 */
export async function passwordIsSet (webDir: string): Promise<boolean> {
  return await readPrivateFile(adminPath(webDir), MAX_ADMIN_FILE_BYTES).then(text => text !== null, () => true)
}

/**
 * Makes sure a setup code exists while no password is set, and that none is
 * left once one is: called by the composition root at `tandem init` and at
 * daemon start. Answers the code, or null when a password is set. Idempotent.
 */
export async function ensureSetupCode (webDir: string): Promise<string | null> {
  if (await passwordIsSet(webDir)) {
    await removeSetupCode(webDir)
    return null
  }
  return await readSetupCodeFile(webDir) ?? await writeSetupCode(webDir)
}

/** The setup code to show (console, `tandem status` on the local socket), or null when a password is set or no code was made. */
export async function readSetupCode (webDir: string): Promise<string | null> {
  return await passwordIsSet(webDir) ? null : await readSetupCodeFile(webDir)
}

/** A password as hashed: Unicode NFKC, so the same characters typed on two keyboards match (NIST SP 800-63B). Throws a TypeError outside the length rule (the routes' schemas check it first). */
function normalizedPassword (password: string): string {
  const chars = [...password].length
  if (chars < MIN_PASSWORD_CHARS || chars > MAX_PASSWORD_CHARS) {
    throw new TypeError(`a password has ${MIN_PASSWORD_CHARS} to ${MAX_PASSWORD_CHARS} characters`)
  }
  return password.normalize('NFKC')
}

/**
 * Sets, checks and changes the admin password of one DATA/web/ folder.
 * Setting and changing run one at a time (a second setup racing the first
 * finds the password set).
 */
export class AdminStore {
  readonly webDir: string
  readonly #now: () => number
  #wrongCodes = 0
  #queue: Promise<unknown> = Promise.resolve()

  constructor (webDir: string, now: () => number = Date.now) {
    this.webDir = webDir
    this.#now = now
  }

  /** Runs `fn` after every write queued before it. */
  async #serialized<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => undefined)
    return await run
  }

  /**
   * Sets the first password with the setup code, then removes the code.
   * Throws WEB_PASSWORD_ALREADY_SET, or WEB_SETUP_CODE_INVALID (a wrong code;
   * after MAX_SETUP_CODE_TRIES of them in a row, a new code replaces it).
   */
  async setup (code: string, password: string): Promise<void> {
    const plain = normalizedPassword(password)
    await this.#serialized(async () => {
      if (await passwordIsSet(this.webDir)) throw new WebError(WebErrorCode.WEB_PASSWORD_ALREADY_SET, 'the admin password is set already; log in, or change it from the settings')
      const current = await ensureSetupCode(this.webDir)
      if (current === null || !setupCodeMatches(code, current)) {
        if (++this.#wrongCodes >= MAX_SETUP_CODE_TRIES) {
          this.#wrongCodes = 0
          await writeSetupCode(this.webDir)
          throw new WebError(WebErrorCode.WEB_SETUP_CODE_INVALID, 'wrong setup code, too many times: a new code replaces it; read it on the console or in `tandem status`')
        }
        throw new WebError(WebErrorCode.WEB_SETUP_CODE_INVALID, 'wrong setup code; read it on the console or in `tandem status`')
      }
      await this.#write(await hash(plain, ARGON2_OPTIONS))
      this.#wrongCodes = 0
      await removeSetupCode(this.webDir)
    })
  }

  /** Whether `password` is the admin password. Throws WEB_PASSWORD_NOT_SET when none is set. */
  async verify (password: string): Promise<boolean> {
    const admin = await this.#read()
    if (admin === null) throw new WebError(WebErrorCode.WEB_PASSWORD_NOT_SET, 'no admin password is set yet: set it with the setup code first')
    return await verify(admin.hash, password.normalize('NFKC'))
  }

  /** Replaces the password when `current` is it; else WEB_PASSWORD_WRONG. */
  async change (current: string, password: string): Promise<void> {
    const plain = normalizedPassword(password)
    await this.#serialized(async () => {
      if (!await this.verify(current)) throw new WebError(WebErrorCode.WEB_PASSWORD_WRONG, 'the current password is wrong')
      await this.#write(await hash(plain, ARGON2_OPTIONS))
    })
  }

  async #read (): Promise<AdminFile | null> {
    const text = await readPrivateFile(adminPath(this.webDir), MAX_ADMIN_FILE_BYTES)
    if (text === null) return null
    const admin = JSON.parse(text) as Partial<AdminFile>
    if (admin.version !== ADMIN_FILE_VERSION || typeof admin.hash !== 'string' || !admin.hash.startsWith('$argon2id$')) {
      throw new Error(`${adminPath(this.webDir)} is damaged: remove it from the console and restart the daemon to set a new password`)
    }
    return admin as AdminFile
  }

  async #write (phc: string): Promise<void> {
    const admin: AdminFile = { version: ADMIN_FILE_VERSION, hash: phc, changedAt: new Date(this.#now()).toISOString() }
    await writePrivateFile(adminPath(this.webDir), `${JSON.stringify(admin, null, 2)}\n`)
  }
}
