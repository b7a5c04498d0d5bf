/**
 * The JSON schemas of the settings routes (web/routes/settings.ts, docs/api.md
 * "Settings"). Values are checked again behind the API, as `tandem init`
 * checks them (APP_USAGE names the bad one).
 */
import { object } from '../schemas.ts'

/** A box name is at most 64 characters (p2p's MAX_NAME_CHARS); a little room for the check behind to name what is wrong. */
const MAX_NAME_FIELD_CHARS = 256
/** A multiaddr to listen on is under 100 characters; a box listens on a few. */
const MAX_LISTEN_CHARS = 512
const MAX_LISTEN_ADDRESSES = 16
/** HOST:PORT: a DNS name is at most 253 characters. */
const MAX_API_CHARS = 300

const field = (max: number): Record<string, unknown> => ({ type: 'string', minLength: 1, maxLength: max })
const setting = { type: 'string', enum: ['name', 'listen', 'api'] } as const

export const settingsUpdateBody = object({
  name: field(MAX_NAME_FIELD_CHARS),
  listen: { type: 'array', minItems: 1, maxItems: MAX_LISTEN_ADDRESSES, items: field(MAX_LISTEN_CHARS) },
  api: field(MAX_API_CHARS)
}, [])

export const settingsSchema = object({
  name: { type: 'string' },
  listen: { type: 'array', items: { type: 'string' } },
  api: { type: ['string', 'null'] },
  apiPlainHttp: { type: 'boolean' },
  running: object({ name: { type: 'string' }, listen: { type: 'array', items: { type: 'string' } }, api: { type: ['string', 'null'] } }),
  restartNeeded: { type: 'array', items: setting }
})
