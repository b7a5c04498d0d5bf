/**
 * Waits on a data directory's event log (DATA/events/events.jsonl,
 * docs/events.md) from outside the daemon, for end-to-end tests that drive
 * real daemons through the CLI: woken by the file's changes, never a timer.
 */
import { watch } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'

export type LoggedEvent = Record<string, unknown>

async function lines (dataDir: string): Promise<string[]> {
  return (await readFile(join(dataDir, 'events', 'events.jsonl'), 'utf8').catch(() => '')).split('\n').filter(l => l !== '')
}

/** Resolves with the line number after the first line matching `match` beyond the first `skip` lines of `dataDir`'s log. */
export async function eventLine (dataDir: string, match: (e: LoggedEvent) => boolean, skip: number): Promise<number> {
  const check = async (): Promise<number | undefined> => {
    const all = await lines(dataDir)
    for (let i = skip; i < all.length; i++) {
      try { if (match(JSON.parse(all[i]!) as LoggedEvent)) return i + 1 } catch {}
    }
    return undefined
  }
  return await new Promise<number>((resolve, reject) => {
    const w = watch(join(dataDir, 'events'), () => {
      check().then(n => { if (n !== undefined) { w.close(); resolve(n) } }, reject)
    })
    check().then(n => { if (n !== undefined) { w.close(); resolve(n) } }, reject)
  })
}

/** How many lines the log holds now. */
export const lineCount = async (dataDir: string): Promise<number> => (await lines(dataDir)).length

export const cycleBegin = (e: LoggedEvent): boolean => e.kind === 'cycle' && e.phase === 'begin'
export const cycleOk = (e: LoggedEvent): boolean => e.kind === 'cycle' && e.phase === 'end' && e.outcome === 'ok'
/** The end of a cycle, however it ended. */
export const cycleEnd = (e: LoggedEvent): boolean => e.kind === 'cycle' && e.phase === 'end'
