/** The time, re-read every `tickMs`: what keeps "3 min ago" (or a countdown) true on a page left open. */
import { useEffect, useState } from 'preact/hooks'

/** Minutes are the finest unit shown past the first minute: a tick every 15 s is fine enough. */
export const TICK_MS = 15_000

/** A countdown shows seconds. */
export const COUNTDOWN_TICK_MS = 1000

/**
 * The time at this render; the component renders again at least every
 * `tickMs`. Read at render, not kept from the last tick: a render that new
 * data caused (a live snapshot) would otherwise show a fresh time as "in 4 s".
 */
export function useNow (tickMs = TICK_MS): number {
  const [, setTick] = useState(0)
  useEffect(() => {
    const timer = setInterval(() => { setTick(n => n + 1) }, tickMs)
    return () => { clearInterval(timer) }
  }, [tickMs])
  return Date.now()
}
