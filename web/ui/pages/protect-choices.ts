/**
 * Pure: the Protect wizard's choices (docs/web.md "Protect"), the request
 * they make (`PUT /v1/replication/:name`, the settings as the operator
 * would type them: docs/relationships.md#settings) and the same choices in
 * plain words for the last step.
 */
import type { ReplicationEnableRequest } from '../../../appliance/service/replication-types.ts'

export type Frequency = '30s' | '5m' | '15m' | 'continuous'
export type AppEvery = 'none' | '1h' | '4h' | '12h' | '24h'
export type InitialKind = 'now' | 'at' | 'existing' | 'seed'

export interface Choices {
  vm: string
  /** The paired box's peer id (shown by name). */
  peer: string
  frequency: Frequency
  /** Additional hourly recovery points, as typed. */
  recoveryPoints: string
  appConsistentEvery: AppEvery
  initial: InitialKind
  /** With `at`: the `datetime-local` value (this browser's time zone). */
  at: string
  /** With `seed`: an absolute path on this box. */
  seedPath: string
}

/** Hyper-V's defaults, as the daemon's (docs/relationships.md#settings). */
export const DEFAULT_CHOICES: Choices = {
  vm: '', peer: '', frequency: '5m', recoveryPoints: '24', appConsistentEvery: 'none', initial: 'now', at: '', seedPath: ''
}

/** core's retention limit: the daemon refuses more (APP_SETTING_INVALID). */
export const MAX_RECOVERY_POINTS = 10_000

export const FREQUENCY_WORDS: Record<Frequency, string> = {
  '30s': 'every 30 seconds', '5m': 'every 5 minutes', '15m': 'every 15 minutes', continuous: 'continuously (a new cycle as soon as one ends)'
}

export const APP_WORDS: Record<AppEvery, string> = {
  none: 'never (every point is crash-consistent)', '1h': 'every hour', '4h': 'every 4 hours', '12h': 'every 12 hours', '24h': 'once a day'
}

export const INITIAL_WORDS: Record<InitialKind, string> = {
  now: 'now, over the network',
  at: 'at a time you choose, over the network',
  existing: 'from a copy already on the other box (only the blocks that differ are sent)',
  seed: 'from a seed file written on this box, carried to the other box'
}

/** The `initial` setting's text: `at:` with the time in ISO 8601 (UTC), `seed:` with the path. */
export function initialSetting (c: Choices): string {
  if (c.initial === 'at') return `at:${new Date(c.at).toISOString()}`
  if (c.initial === 'seed') return `seed:${c.seedPath.trim()}`
  return c.initial
}

/** The request body. */
export function enableRequest (c: Choices): ReplicationEnableRequest {
  return {
    to: c.peer,
    frequency: c.frequency,
    recoveryPoints: c.recoveryPoints.trim(),
    appConsistentEvery: c.appConsistentEvery,
    initial: initialSetting(c)
  }
}

/** What is wrong with a step's choices, in words, or null. Steps: 'vm', 'box', 'points', 'initial'. */
export function stepProblem (step: string, c: Choices): string | null {
  switch (step) {
    case 'vm': return c.vm === '' ? 'Choose the VM to protect.' : null
    case 'box': return c.peer === '' ? 'Choose the box that keeps the copy.' : null
    case 'points': {
      const n = Number(c.recoveryPoints.trim())
      return /^\d+$/.test(c.recoveryPoints.trim()) && n <= MAX_RECOVERY_POINTS ? null : `Recovery points: a whole number from 0 to ${MAX_RECOVERY_POINTS}.`
    }
    case 'initial':
      if (c.initial === 'at' && Number.isNaN(new Date(c.at).getTime())) return 'Choose the date and time to start.'
      if (c.initial === 'seed' && !c.seedPath.trim().startsWith('/')) return 'The seed file\'s place: a full path on this box, starting with /.'
      return null
    default: return null
  }
}

/** The choices as sentences, for the last step. */
export function summary (c: Choices, boxName: string, peerName: string): string[] {
  const n = Number(c.recoveryPoints)
  return [
    `${c.vm} runs on ${boxName}; ${peerName} keeps its copy.`,
    `A new recovery point ${FREQUENCY_WORDS[c.frequency]}.`,
    n === 0 ? 'Only the latest recovery point is kept.' : `The latest recovery point is kept, plus ${n} hourly point${n === 1 ? '' : 's'} before it.`,
    c.appConsistentEvery === 'none' ? 'No app-consistent points: the guest is not asked to flush its writes.' : `An app-consistent point (the guest flushes its writes first) ${APP_WORDS[c.appConsistentEvery]}.`,
    c.initial === 'at'
      ? `The first full copy starts ${new Date(c.at).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' })}, over the network.`
      : c.initial === 'seed' ? `The first full copy is written to ${c.seedPath.trim()} on this box; import it on ${peerName}, then only what changed since is sent.` : `The first full copy starts ${INITIAL_WORDS[c.initial]}.`
  ]
}
