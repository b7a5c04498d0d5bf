import { setTimeout as sleep } from 'node:timers/promises'
import { abortedError } from '../../../../core/errors.ts'
import { GuestAgentClient, TIMEOUT_AGENT_COMMAND_MS, TIMEOUT_AGENT_SYNC_MS } from '../qmp/index.ts'
import { AGENT_RETRY_MS } from './constants.ts'

/** What waitForAgent needs of a guest agent connection. */
export interface AgentPing {
  ping: (options: { timeoutMs: number, signal: AbortSignal }) => Promise<void>
  close: () => Promise<void>
}

export interface WaitForAgentOptions {
  signal: AbortSignal
  /** GuestAgentClient.connect by default; tests pass a fake. */
  connect?: (socket: string, options: { syncTimeoutMs: number, signal: AbortSignal }) => Promise<AgentPing>
  /** Least time between attempts, AGENT_RETRY_MS by default. */
  retryMs?: number
}

/**
 * Resolves once the guest agent behind `socket` answers `guest-ping`: the
 * guest booted far enough to run its services. The agent gives no sign
 * when it starts, so this tries again until `signal` aborts (the caller's
 * time limit): each attempt connects and syncs (GuestAgentClient.connect),
 * waiting up to TIMEOUT_AGENT_SYNC_MS for the reply; the virtio-serial
 * port holds the sync until the agent opens it, so an agent that starts
 * during an attempt answers at once. Attempts that fail faster (no socket)
 * are paced to one per `retryMs`. Any failure of an attempt means "not
 * yet". Rejects only with CORE_ABORTED; the connection is closed either way.
 */
export async function waitForAgent (socket: string, options: WaitForAgentOptions): Promise<void> {
  const { signal } = options
  const connect = options.connect ?? (async (path, o) => await GuestAgentClient.connect(path, o))
  const retryMs = options.retryMs ?? AGENT_RETRY_MS
  for (;;) {
    if (signal.aborted) throw abortedError(signal)
    const pace = sleep(retryMs, undefined, { signal }).catch(() => undefined)
    let agent: AgentPing | undefined
    try {
      agent = await connect(socket, { syncTimeoutMs: TIMEOUT_AGENT_SYNC_MS, signal })
      await agent.ping({ timeoutMs: TIMEOUT_AGENT_COMMAND_MS, signal })
      return
    } catch {
      // not up yet (or the wait was aborted: checked at the top)
    } finally {
      await agent?.close().catch(() => undefined)
    }
    await pace
  }
}
