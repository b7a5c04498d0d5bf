/** The time, re-read every TICK_MS: what keeps "3 min ago" true on a page left open. */
import { useEffect, useState } from 'preact/hooks'

/** Minutes are the finest unit shown past the first minute: a tick every 15 s is fine enough. */
export const TICK_MS = 15_000

export function useNow (): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => { setNow(Date.now()) }, TICK_MS)
    return () => { clearInterval(timer) }
  }, [])
  return now
}
