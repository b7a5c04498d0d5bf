import type { ChangeableSetting, RelationshipSettings } from '../relationships/settings.ts'
import type { Relationship } from '../relationships/relationship.ts'
import { durationText, rateText } from './figure-text.ts'
import type { EventInput } from './log-event.ts'

/** Kind of the event of a change of a relationship's settings on its primary (docs/events.md). */
export const SETTINGS_KIND = 'replication-settings'

/** One setting's value as the reason line shows it. */
function valueText (s: RelationshipSettings, key: ChangeableSetting): string {
  switch (key) {
    case 'frequency': return s.frequency === 'continuous' ? 'continuous' : durationText(s.frequency)
    case 'recoveryPoints': return String(s.recoveryPoints)
    case 'appConsistentEvery': return s.appConsistentEvery === null ? 'none' : durationText(s.appConsistentEvery)
    case 'bandwidth': return s.bandwidth === null ? 'no limit' : rateText(s.bandwidth)
  }
}

const LABELS: Record<ChangeableSetting, string> = { frequency: 'frequency', recoveryPoints: 'recovery points', appConsistentEvery: 'app-consistent every', bandwidth: 'bandwidth' }

/**
 * Pure: the event of relationship `rel`'s settings changed from `before` to
 * its own (`changed` names which): the reason says old and new values, `data`
 * holds the new stored values of every changeable setting and which changed.
 */
export function settingsEventInput (rel: Pick<Relationship, 'id' | 'vm' | 'settings'>, before: RelationshipSettings, changed: readonly ChangeableSetting[]): EventInput {
  const what = changed.map(k => `${LABELS[k]} from ${valueText(before, k)} to ${valueText(rel.settings, k)}`).join(', ')
  const s = rel.settings
  return {
    relationship: rel.id,
    vm: rel.vm,
    kind: SETTINGS_KIND,
    reason: `replication settings of ${rel.vm} changed: ${what}`,
    data: { changed: changed.join(','), frequency: s.frequency, recoveryPoints: s.recoveryPoints, appConsistentEvery: s.appConsistentEvery, bandwidth: s.bandwidth }
  }
}
