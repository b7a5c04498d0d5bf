export type { LogEvent, EventInput, EndInput, EventOutcome, EventData } from './log-event.ts'
export { KIND_PATTERN, MAX_DATA_FIELDS } from './log-event.ts'
export type { EventLogProblem, EventQuery, EventRead, EventLogInit, EventLogRecovery } from './event-log.ts'
export { EventLog, readEventLog, CURRENT_FILE, PREVIOUS_FILE, MAX_EVENT_LINE_BYTES, DEFAULT_MAX_EVENT_FILE_BYTES, INTERRUPTED_REASON } from './event-log.ts'
