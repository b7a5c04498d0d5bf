import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { chmod, open, readFile, rename, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { P2pError, P2pErrorCode } from '../errors.ts'

/** The identity file holds the libp2p protobuf encoding of an Ed25519 key: about 68 bytes. */
const MAX_IDENTITY_FILE_BYTES = 4096

/** Thrown (code P2P_IDENTITY_INVALID) when the identity file exists but cannot be used. */
export class IdentityError extends P2pError {
  constructor (message: string, options: { cause?: unknown } = {}) {
    super(P2pErrorCode.P2P_IDENTITY_INVALID, message, options)
    this.name = 'IdentityError'
  }
}

/**
 * The box's Ed25519 identity, created once and kept in `path` (mode 0600):
 * its peer id is what the paired box trusts, so it must never change by
 * accident. A file that exists but is damaged, not Ed25519, or readable by
 * others is an error naming the path (P2P_IDENTITY_INVALID), never a silent
 * regeneration. Creation is atomic (temp file, fsync, rename, fsync dir).
 */
export async function loadOrCreateIdentity (path: string): Promise<PrivateKey> {
  let bytes: Buffer | undefined
  try {
    const s = await stat(path)
    if (s.size > MAX_IDENTITY_FILE_BYTES) throw new IdentityError(`identity file ${path} is ${s.size} bytes: not an identity`)
    if ((s.mode & 0o077) !== 0) throw new IdentityError(`identity file ${path} is readable by others (mode ${(s.mode & 0o777).toString(8)}); make it 0600`)
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err instanceof IdentityError ? err : new IdentityError(`cannot read identity file ${path}: ${(err as Error).message}`, { cause: err })
  }
  if (bytes !== undefined) {
    let key: PrivateKey
    try {
      key = privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new IdentityError(`identity file ${path} is damaged`, { cause: err })
    }
    if (key.type !== 'Ed25519') throw new IdentityError(`identity file ${path} holds a ${key.type} key; Tandem uses Ed25519`)
    return key
  }
  const key = await generateKeyPair('Ed25519')
  const tmp = `${path}.tmp-${process.pid}`
  const h = await open(tmp, 'wx', 0o600)
  try {
    await h.writeFile(privateKeyToProtobuf(key))
    await h.sync()
  } finally {
    await h.close()
  }
  await chmod(tmp, 0o600)
  await rename(tmp, path)
  const d = await open(dirname(path), 'r')
  try { await d.sync() } finally { await d.close() }
  return key
}
