/**
 * Talking to QEMU: the QMP client (VMs and qemu-storage-daemon), the guest
 * agent client (filesystem freeze) and the KVM usability probe. Contracts,
 * timeouts and error codes: docs/qemu.md.
 */
export { QmpClient, type QmpCallOptions, type QmpConnectOptions, type QmpEvent, type QmpGreeting, type QmpWaitOptions } from './qmp-client.ts'
export { GuestAgentClient, type FsFreezeStatus, type GuestAgentCallOptions, type GuestAgentConnectOptions } from './guest-agent-client.ts'
export { keepTail } from './output-tail.ts'
export { probeBootSector, probeKvm, probeTcg, PROBE_EXIT_STATUS, type AccelProbeOptions, type AccelProbeResult, type KvmProbeOptions } from './kvm-probe.ts'
export {
  MAX_AGENT_LINE_BYTES, MAX_QMP_EVENT_BUFFER, MAX_QMP_LINE_BYTES,
  TIMEOUT_AGENT_COMMAND_MS, TIMEOUT_AGENT_SYNC_MS, TIMEOUT_KVM_PROBE_MS,
  TIMEOUT_QMP_COMMAND_MS, TIMEOUT_QMP_CONNECT_MS, TIMEOUT_QMP_EVENT_MS
} from './constants.ts'
