/** The time, re-read every `tickMs`: what keeps "3 min ago" (or a countdown) true on a page left open. */
import { useEffect, useState } from 'preact/hooks'

/** Minutes are the finest unit shown past the first minute: a tick every 15 s is fine enough. */
export const TICK_MS = 15_000

/** A countdown shows seconds. */
export const COUNTDOWN_TICK_MS = 1000

export function useNow (tickMs = TICK_MS): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => { setNow(Date.now()) }, tickMs)
    return () => { clearInterval(timer) }
  }, [tickMs])
  return now
}
