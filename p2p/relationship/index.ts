export * from './constants.ts'
export {
  decodeRelationship, encodeRelationship,
  type BootKind, type DiskFormat, type DriverKind, type FailoverNotice, type PlannedFailover, type Reversal, type SharedPoint, type InitialReplication, type KernelBoot, type ProtectedDisk, type ProtectedNic, type ProtectedNicMode, type ProtectedVm,
  type ProtectionSettings, type RelationshipAnswer, type RelationshipDescription, type RelationshipMessage, type RelationshipRemoval,
  type RelationshipRequest
} from './messages.ts'
export type { PlannedFailoverTarget } from './planned.ts'
export type { RelationshipPrimary } from './primary.ts'
export { REGISTRAR_CODES, registrarCode, type RelationshipRegistrar } from './registrar.ts'
export { RelationshipReceiver, type RelationshipReceiverInit, type RequestEvent } from './receiver.ts'
export { sendFailedOver, sendOffer, sendPlannedFailover, sendRemove, sendReverse, sendUpdate, type RelationshipAccepted, type RelationshipPeer, type RelationshipRequestOptions } from './sender.ts'
