export type { Relationship, RelationshipRole, RelationshipState, NewRelationship } from './relationship.ts'
export { newRelationship, invalidRelationship, copyRelationship, oneLine, RELATIONSHIP_STATES, MAX_REASON_CHARS } from './relationship.ts'
export type { ChangeableSetting, Frequency, InitialReplication, RelationshipSettings, SettingsChangeText, SettingsText } from './settings.ts'
export {
  DEFAULT_SETTINGS, CHANGEABLE_SETTINGS, applySettingsChange, parseSettingsChange, parseSettings, parseDuration, parseFrequency, parseRecoveryPoints, parseAppConsistentEvery, parseBandwidth, parseInitial,
  MIN_FREQUENCY_MS, MAX_FREQUENCY_MS, DEFAULT_FREQUENCY_MS, MAX_RECOVERY_POINTS, MIN_APP_CONSISTENT_MS, MAX_APP_CONSISTENT_MS, MIN_BANDWIDTH, MAX_BANDWIDTH
} from './settings.ts'
export type { TransitionInput, TransitionInputKind, TransitionResult, StateEvent } from './state-machine.ts'
export { transition, transitionOrThrow, TRANSITION_INPUTS } from './state-machine.ts'
export { RelationshipTable, RELATIONSHIPS_FILE_VERSION, MAX_RELATIONSHIPS_FILE_BYTES } from './relationship-table.ts'
export {
  FAILED_OVER_STATES, STALE_VM_EVENT, TERM_LOST_CODES, hasLostTerm, replicaVerdict, staleVmReason, termLostInput,
  type ReplicaRequestKind, type TermLoss, type TermVerdict
} from './term-rules.ts'
