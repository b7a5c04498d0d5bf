/**
 * The record of a running test VM, kept in its run directory
 * (`DATA/failover/<relationship>/test/test.json`) from before QEMU starts
 * until the directory is removed, so that a daemon that was killed can
 * find the test VM it left and stop it (docs/failover.md "Test failover").
 * Only a VM's test has one: a test that only serves the point leaves
 * nothing (the sockets under DATA/exports/ are emptied at start).
 */
import { join } from 'node:path'
import { checkVmDefinition, type CheckedVmDefinition } from '../drivers/qemu/index.ts'
import { AppErrorCode } from '../errors.ts'
import { damaged, readJsonFile, writeJsonFile, type JsonFileKind } from '../json-file.ts'
import { MAX_FAILOVER_FILE_BYTES } from './constants.ts'

export const TEST_RECORD_FILE = 'test.json'

const KIND: JsonFileKind = { what: 'test failover record', version: 1, maxBytes: MAX_FAILOVER_FILE_BYTES, code: AppErrorCode.APP_FAILOVER_FILE_CORRUPT }

export interface TestRecord {
  relationship: string
  point: number
  /** ms since the epoch. */
  since: number
  /** The test VM as it was started: its name and run files let a restarted daemon find its QEMU (QemuDriver.adopt). */
  definition: CheckedVmDefinition
}

/** The record file of the test whose run directory is `runDir`. */
export function testRecordFile (runDir: string): string {
  return join(runDir, TEST_RECORD_FILE)
}

/** Writes the record atomically (0600). */
export async function writeTestRecord (runDir: string, record: TestRecord): Promise<void> {
  await writeJsonFile(testRecordFile(runDir), KIND, { relationship: record.relationship, point: record.point, since: record.since, definition: record.definition })
}

/** The record in `runDir`, undefined when there is none; APP_FAILOVER_FILE_CORRUPT when it is not one. */
export async function readTestRecord (runDir: string): Promise<TestRecord | undefined> {
  const file = testRecordFile(runDir)
  const doc = await readJsonFile(file, KIND)
  if (doc === undefined) return undefined
  const { relationship, point, since, definition } = doc
  if (typeof relationship !== 'string' || !Number.isSafeInteger(point) || !Number.isSafeInteger(since)) throw damaged(KIND, file, 'expected { relationship, point, since, definition }')
  let def: CheckedVmDefinition
  try {
    def = checkVmDefinition(definition)
  } catch (err) {
    throw damaged(KIND, file, `definition: ${(err as Error).message}`, err)
  }
  return { relationship, point: point as number, since: since as number, definition: def }
}
