import type { Relationship } from '../relationships/relationship.ts'
import type { StateEvent } from '../relationships/state-machine.ts'
import type { EventInput } from './log-event.ts'

/**
 * Pure: the event-log entry for a transition's event (kind `state`), about
 * relationship `rel`; `data` carries from, to and the input for tools.
 */
export function stateEventInput (rel: Pick<Relationship, 'id' | 'vm'>, e: StateEvent): EventInput {
  const input: EventInput = { relationship: rel.id, vm: rel.vm, kind: 'state', reason: e.reason, data: { from: e.from, to: e.to, input: e.input } }
  if (e.code !== undefined) input.code = e.code
  return input
}
