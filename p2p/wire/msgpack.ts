import { Packr, Unpackr } from 'msgpackr'

/**
 * The msgpack codec of every Tandem protocol. Plain msgpack only: no
 * msgpackr record structures or other extensions, which a hostile peer could
 * use to make the decoder build what we do not expect. `unpackMessage` may
 * throw anything on bad input: callers turn that into their MALFORMED code.
 */
const packr = new Packr({ useRecords: false })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })

export const packMessage = (v: unknown): Uint8Array => packr.pack(v)
export const unpackMessage = (b: Uint8Array): unknown => unpackr.unpack(b)

/** True for a plain decoded map (msgpackr turns reserved bytes into class instances). */
export function isPlainMap (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype
}
