/**
 * Limits and timeouts of the QEMU clients (docs/qemu.md), each with its reason.
 */

/**
 * Longest QMP line accepted. Real replies are a few KiB; the largest common
 * one, `query-named-block-nodes`, grows with backing chains (ask for it
 * with `flat: true`). A longer line fails the connection instead of
 * buffering without bound.
 */
export const MAX_QMP_LINE_BYTES = 1024 * 1024

/** Connect, greeting and capabilities negotiation: a live QEMU answers in milliseconds; a stuck one must not hold the caller. */
export const TIMEOUT_QMP_CONNECT_MS = 10_000

/** Default wait for one QMP reply. Block commands return at once (jobs run in the background and report by events). */
export const TIMEOUT_QMP_COMMAND_MS = 30_000

/** Default wait for a QMP event in `waitForEvent`. */
export const TIMEOUT_QMP_EVENT_MS = 30_000

/** Recent QMP events kept for `waitForEvent({ since })`, so an event arriving before the wait starts is not missed. */
export const MAX_QMP_EVENT_BUFFER = 256

/** Longest guest-agent line accepted: agent replies are small except base64 payloads of `guest-exec-status` and `guest-file-read`; read in chunks well below this. The guest is not trusted: a longer line closes the connection. */
export const MAX_AGENT_LINE_BYTES = 1024 * 1024

/**
 * Wait for the guest agent's `guest-sync-delimited` reply. The agent
 * answers at once when it runs; libvirt uses 5 s too. Longer only delays
 * the APP_AGENT_UNAVAILABLE of a guest without an agent.
 */
export const TIMEOUT_AGENT_SYNC_MS = 5_000

/** Default wait for one agent command. A freeze flushes every filesystem and can take seconds on a busy guest. */
export const TIMEOUT_AGENT_COMMAND_MS = 30_000

/** A KVM probe boots one sector: under working KVM or TCG it exits in well under a second; a hang in the BIOS is killed at this limit. */
export const TIMEOUT_KVM_PROBE_MS = 10_000

/** Bytes of a probe's stderr kept for its reason (QEMU's abort message is on the last lines). */
export const MAX_PROBE_STDERR_BYTES = 4096
