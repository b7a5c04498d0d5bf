/**
 * Hash routing: the page is the part of the URL after `#` (`#/pairing`).
 * The server answers only `/` with index.html, so it keeps no list of the
 * front end's pages, no catch-all route can hide a wrong API path, and a
 * reload or a bookmark of any page works. A page's path may carry one
 * parameter after its name (`#/vm/web`).
 */
import { useEffect, useState } from 'preact/hooks'

export interface Route { page: string, param: string | null }

/** `#/vm/web%20one` -> { page: 'vm', param: 'web one' }; `''`, `#` and `#/` are the dashboard (''). */
export function parseRoute (hash: string): Route {
  const [page = '', param] = hash.replace(/^#\/?/, '').split('/')
  return { page, param: param === undefined || param === '' ? null : decodeURIComponent(param) }
}

/** The URL of a page, for links. */
export const href = (page: string, param?: string): string => param === undefined ? `#/${page}` : `#/${page}/${encodeURIComponent(param)}`

/** The current route, re-rendering on every hash change. */
export function useRoute (): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash))
  useEffect(() => {
    const changed = (): void => { setRoute(parseRoute(location.hash)) }
    addEventListener('hashchange', changed)
    return () => { removeEventListener('hashchange', changed) }
  }, [])
  return route
}
