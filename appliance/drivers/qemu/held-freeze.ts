import { thawGuest, TIMEOUT_THAW_MS, type FreezeAgent } from './tracking/guest-freeze.ts'

export interface HeldFreeze {
  /** Give this to every disk's takePoint: the first freeze is real, later ones share it; its thaws do nothing. */
  agent: FreezeAgent
  /** The one real thaw, after the last point: undefined when it worked (or nothing was frozen), else why the guest may still be frozen. Never throws. */
  thaw: () => Promise<string | undefined>
}

/**
 * One guest freeze held across the points of all of a VM's disks, so the
 * disks are quiesced at one moment (a freeze per disk would let the guest
 * write between them). The thaw is retried within TIMEOUT_THAW_MS, pausing
 * between tries (guest-freeze.ts thawGuest), and a guest left frozen is
 * reported, not hidden.
 */
export function holdFreeze (agent: FreezeAgent): HeldFreeze {
  let frozen: Promise<number> | undefined
  return {
    agent: {
      fsfreezeFreeze: async options => await (frozen ??= agent.fsfreezeFreeze(options)),
      fsfreezeThaw: async () => 0
    },
    thaw: async () => {
      if (frozen === undefined) return undefined
      // a freeze that failed or timed out may still have happened in the guest: thaw regardless
      await frozen.catch(() => undefined)
      return await thawGuest(agent, TIMEOUT_THAW_MS)
    }
  }
}
