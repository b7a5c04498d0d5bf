/**
 * The torture harness's own I/O (test/helpers/torture.ts): a reader of the
 * pack format written here, not borrowed from the engine, so that damage
 * lands where the harness says; and the child process it kills.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { PACK_HEADER_BYTES, PACK_MAGIC, RECORD_HEADER_BYTES } from '../../core/store/pack.ts'

const CHILD = fileURLToPath(new URL('../core/fixtures/torture-child.ts', import.meta.url))
const REPO = fileURLToPath(new URL('../..', import.meta.url))

export interface PackRecordAt {
  /** Record type: RecordType.BLOCK or RecordType.MANIFEST_PAGE. */
  type: number
  hash: string
  dataOffset: number
  storedLength: number
}

/**
 * The records of a pack file (docs/store-format.md, schema 2), parsed here
 * (not by the engine) so that damage lands where the harness says. Stops at
 * a record it cannot read (cut short, a damaged length).
 */
export function parsePack (bytes: Buffer): PackRecordAt[] {
  const out: PackRecordAt[] = []
  if (!bytes.subarray(0, PACK_MAGIC.byteLength).equals(PACK_MAGIC)) return out
  let at = PACK_HEADER_BYTES
  while (at + RECORD_HEADER_BYTES <= bytes.byteLength) {
    // type u8 | codec u8 | stored length u32 | raw length u32 | hash (32) | CRC-32 u32 | data
    const stored = bytes.readUInt32LE(at + 2)
    const dataOffset = at + RECORD_HEADER_BYTES
    if (stored === 0 || dataOffset + stored > bytes.byteLength) break
    out.push({ type: bytes[at]!, hash: bytes.toString('hex', at + 10, at + 10 + 32), dataOffset, storedLength: stored })
    at = dataOffset + stored
  }
  return out
}

/** Runs the child (test/core/fixtures/torture-child.ts) with `args`; resolves with how it ended and its stderr. */
export async function runChild (args: string[]): Promise<{ code: number | null, signal: NodeJS.Signals | null, stderr: string }> {
  const p = spawn(process.execPath, [CHILD, ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  return await new Promise((resolve, reject) => {
    p.on('error', reject)
    p.on('close', (code, signal) => { resolve({ code, signal, stderr }) })
  })
}

/** The error code the child died with, if any. */
export function childCode (stderr: string): string | undefined {
  return /code: '([A-Z_]+)'/.exec(stderr)?.[1]
}

/** The child's error in one line: its first error line and its code, if any. */
export function childError (stderr: string): string {
  const lines = stderr.split('\n').map(l => l.trim()).filter(l => l !== '')
  const first = lines.find(l => /Error/.test(l)) ?? lines[0] ?? ''
  const code = lines.find(l => /^code: /.test(l)) ?? ''
  return `${first} ${code}`.trim()
}
