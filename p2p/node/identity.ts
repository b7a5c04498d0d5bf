import { createHash, randomBytes } from 'node:crypto'
import { generateKeyPair, generateKeyPairFromSeed, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { P2pError, P2pErrorCode } from '../errors.ts'

/** The identity file: a header, the libp2p protobuf of an Ed25519 key (68 bytes), a checksum: about 110 bytes. */
const MAX_IDENTITY_FILE_BYTES = 4096

/** Identifies the file's format; a file without it is the first format, a bare protobuf (read, then upgraded). */
const MAGIC = Buffer.from('tandem-identity-v1\n', 'utf8')
/** SHA-256 of MAGIC and the protobuf, after the protobuf. */
const CHECKSUM_BYTES = 32
/** Ed25519 private key in libp2p's raw form: the 32-byte seed, then the 32-byte public key. */
const SEED_BYTES = 32

/** Thrown for an identity file that exists but cannot be used: P2P_IDENTITY_INVALID or P2P_IDENTITY_DAMAGED. */
export class IdentityError extends P2pError {
  constructor (message: string, options: { cause?: unknown, code?: typeof P2pErrorCode.P2P_IDENTITY_INVALID | typeof P2pErrorCode.P2P_IDENTITY_DAMAGED } = {}) {
    super(options.code ?? P2pErrorCode.P2P_IDENTITY_INVALID, message, options)
    this.name = 'IdentityError'
  }
}

const damaged = (path: string, why: string, cause?: unknown): IdentityError =>
  new IdentityError(`identity file ${path} is damaged: ${why}; restore it from a backup (a new identity means pairing again)`, { code: P2pErrorCode.P2P_IDENTITY_DAMAGED, cause })

/**
 * The box's Ed25519 identity, created once and kept in `path` (mode 0600):
 * its peer id is what the paired box trusts, so it must never change by
 * accident.
 *
 * Reading: a file readable by others, too large, or holding another key
 * type is P2P_IDENTITY_INVALID; one whose checksum does not match, that does
 * not decode, or whose public key is not the one its private key derives
 * (a flipped bit in either half) is P2P_IDENTITY_DAMAGED, naming the path.
 * Never a silent regeneration. A file of the first format (a bare protobuf,
 * no checksum) is checked the same way and rewritten with a checksum
 * (same key, atomic rename).
 *
 * Creating: the key is written to a temporary file, fsynced, then linked to
 * `path` with link(), which fails when `path` exists: of processes starting
 * at once on an empty directory the first link wins, and every other one
 * loads the winner's key, so no process runs with a key that is not on disk.
 * May be called concurrently, also from several processes.
 */
export async function loadOrCreateIdentity (path: string): Promise<PrivateKey> {
  const existing = await readIdentityFile(path)
  if (existing !== undefined) return await decodeIdentity(path, existing)
  const key = await generateKeyPair('Ed25519')
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`
  await writeSynced(tmp, encodeIdentity(key))
  try {
    await link(tmp, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    // Another process created it first: its key is the identity.
    const winner = await readIdentityFile(path)
    if (winner === undefined) throw err
    return await decodeIdentity(path, winner)
  } finally {
    await unlink(tmp).catch(() => {})
  }
  await syncDir(dirname(path))
  return key
}

/** The file's bytes, or undefined when there is none. Throws IdentityError. */
async function readIdentityFile (path: string): Promise<Buffer | undefined> {
  try {
    const s = await stat(path)
    if (s.size > MAX_IDENTITY_FILE_BYTES) throw new IdentityError(`identity file ${path} is ${s.size} bytes: not an identity`)
    if ((s.mode & 0o077) !== 0) throw new IdentityError(`identity file ${path} is readable by others (mode ${(s.mode & 0o777).toString(8)}); make it 0600`)
    return await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err instanceof IdentityError ? err : new IdentityError(`cannot read identity file ${path}: ${(err as Error).message}`, { cause: err })
  }
}

function checksum (protobuf: Uint8Array): Buffer {
  return createHash('sha256').update(MAGIC).update(protobuf).digest()
}

/** MAGIC, the protobuf, its checksum. */
export function encodeIdentity (key: PrivateKey): Uint8Array {
  const protobuf = privateKeyToProtobuf(key)
  return Buffer.concat([MAGIC, protobuf, checksum(protobuf)])
}

async function decodeIdentity (path: string, bytes: Buffer): Promise<PrivateKey> {
  const current = bytes.subarray(0, MAGIC.byteLength).equals(MAGIC)
  let protobuf: Uint8Array = bytes
  if (current) {
    if (bytes.byteLength < MAGIC.byteLength + CHECKSUM_BYTES + 1) throw damaged(path, 'truncated')
    protobuf = bytes.subarray(MAGIC.byteLength, bytes.byteLength - CHECKSUM_BYTES)
    if (!checksum(protobuf).equals(bytes.subarray(bytes.byteLength - CHECKSUM_BYTES))) throw damaged(path, 'its checksum does not match')
  }
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(protobuf)
  } catch (err) {
    throw damaged(path, 'not a key', err)
  }
  if (key.type !== 'Ed25519') throw new IdentityError(`identity file ${path} holds a ${key.type} key; Tandem uses Ed25519`)
  // The public half is what the peer id is made of, the private half what signs: they must belong together.
  const derived = await generateKeyPairFromSeed('Ed25519', key.raw.subarray(0, SEED_BYTES))
  if (!derived.publicKey.equals(key.publicKey)) throw damaged(path, 'its public key is not the one its private key derives')
  if (!current) await upgrade(path, key)
  return key
}

/** Rewrites a first-format file with a checksum: the same key, replaced atomically. */
async function upgrade (path: string, key: PrivateKey): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`
  await writeSynced(tmp, encodeIdentity(key))
  try {
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  await syncDir(dirname(path))
}

async function writeSynced (file: string, bytes: Uint8Array): Promise<void> {
  const h = await open(file, 'wx', 0o600)
  try {
    await h.writeFile(bytes)
    await h.sync()
  } finally {
    await h.close()
  }
}

async function syncDir (dir: string): Promise<void> {
  const d = await open(dir, 'r')
  try { await d.sync() } finally { await d.close() }
}
