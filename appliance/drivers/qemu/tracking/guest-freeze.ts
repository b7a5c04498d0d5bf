/**
 * Quiescing a guest around a point: freeze its filesystems through the
 * guest agent, and thaw them again whatever happened. A guest left frozen
 * is the worst outcome (its disk I/O stalls), so thawing never throws and
 * retries within a hard limit.
 */
import { setTimeout as sleep } from 'node:timers/promises'

/** The guest agent calls a quiesced point needs (appliance/drivers/qemu/qmp's GuestAgentClient). */
export interface FreezeAgent {
  fsfreezeFreeze: (options?: { timeoutMs?: number }) => Promise<number>
  fsfreezeThaw: (options?: { timeoutMs?: number }) => Promise<unknown>
}

/** A freeze longer than this is given up (the guest's I/O stalls while frozen); the point is then crash-consistent. */
export const TIMEOUT_FREEZE_MS = 10_000
/** Thaw is retried within this limit; a guest left frozen is the worst outcome. */
export const TIMEOUT_THAW_MS = 10_000
/**
 * The pause between two thaw tries. An agent whose channel is closed rejects
 * at once: without a pause the retries would spin and block the event loop
 * (every other VM's cycle, the API) for the whole limit. 100 ms adds little
 * to a guest's stall when a transient failure clears, and caps the tries at
 * about a hundred within TIMEOUT_THAW_MS.
 */
export const PAUSE_THAW_RETRY_MS = 100

/** Freezes the guest's filesystems; a failure or a hang is an answer (the point is then crash-consistent), never thrown. */
export async function freezeGuest (agent: FreezeAgent, limits: { freezeMs: number, thawMs: number }): Promise<{ ok: true, count: number } | { ok: false, reason: string }> {
  try {
    return { ok: true, count: await agent.fsfreezeFreeze({ timeoutMs: limits.freezeMs }) }
  } catch (err) {
    // A freeze that timed out may still complete in the guest: thaw regardless.
    await thawGuest(agent, limits.thawMs)
    return { ok: false, reason: `guest freeze failed (${codeOf(err)}): crash-consistent` }
  }
}

/**
 * Thaws, retrying within `limitMs` with a pause of PAUSE_THAW_RETRY_MS
 * between tries; resolves to a note when the guest may still be frozen,
 * never throws. There is always at least one try, aborted or not; an abort
 * cuts a pause short and ends the retries after the try that follows it.
 */
export async function thawGuest (agent: FreezeAgent, limitMs: number, signal?: AbortSignal): Promise<string | undefined> {
  const until = performance.now() + limitMs
  let last: unknown
  for (;;) {
    try {
      await agent.fsfreezeThaw({ timeoutMs: Math.max(1, Math.ceil(until - performance.now())) })
      return undefined
    } catch (err) {
      last = err
    }
    const leftMs = until - performance.now()
    if (leftMs <= 0 || signal?.aborted === true) break
    await sleep(Math.min(PAUSE_THAW_RETRY_MS, leftMs), undefined, { signal }).catch(() => undefined)
  }
  return `guest thaw failed (${codeOf(last)}): the guest may still be frozen`
}

const codeOf = (err: unknown): string => (err as { code?: string })?.code ?? (err as Error)?.message ?? String(err)
