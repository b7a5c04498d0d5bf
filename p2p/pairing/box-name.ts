/**
 * A box's name, as the operator gives it and as the other box shows it (its
 * own screen, the event log, the peers file). It is shown, never parsed, so
 * what matters is that it cannot disguise itself or what follows it.
 */

/** Longest box name shown to the operator (UTF-16 code units). */
export const MAX_NAME_CHARS = 64

/**
 * Characters a name may not hold: C0 and C1 controls and DEL (`\p{Cc}`:
 * they move cursors and rewrite terminal lines, U+009B is CSI), line and
 * paragraph separators (U+2028, U+2029: a new line in a log entry), and the
 * bidi formatting characters (`\p{Bidi_Control}`: U+202E and its kin show
 * text in another order than it is stored).
 */
const FORBIDDEN = /[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}]/u

/** True for 1..MAX_NAME_CHARS characters, none of them forbidden (above). */
export function isBoxName (v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME_CHARS && !FORBIDDEN.test(v)
}
