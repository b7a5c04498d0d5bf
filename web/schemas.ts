/**
 * The JSON schema of every request and response of the local API
 * (docs/api.md). Requests with an unknown property, a wrong type or a
 * missing field are refused (WEB_BAD_REQUEST): fastify's validator is set
 * not to remove or coerce anything (api-server.ts).
 */

const str = { type: 'string' } as const
const strings = { type: 'array', items: str } as const
const nullableStr = { type: ['string', 'null'] } as const
const role = { type: 'string', enum: ['primary', 'replica', 'both'] } as const

/** A libp2p peer id in its text form (base58btc, as PeerId.toString() gives it). */
const peerId = { type: 'string', pattern: '^[1-9A-HJ-NP-Za-km-z]{40,64}$' } as const

export function object (properties: Record<string, unknown>, required: string[] = Object.keys(properties)): Record<string, unknown> {
  return { type: 'object', additionalProperties: false, required, properties }
}

export const errorSchema = object({ code: str, message: str })

/** A plan's words, one line each (appliance/service/plan-summary.ts): the CLI's `--dry-run` text, the web page's summary. */
export const summarySchema = strings

/** The web server's part of the status (appliance/service/types.ts WebStatusInfo). */
export const webStatusSchema = object({ url: nullableStr, fingerprint: nullableStr, setupCode: nullableStr, passwordSet: { type: 'boolean' } })

export const statusSchema = object({
  state: { type: 'string', enum: ['running', 'stopped'] },
  name: str,
  peerId: str,
  role,
  dataDir: str,
  listen: strings,
  addresses: strings,
  api: str,
  httpsApi: nullableStr,
  web: { anyOf: [{ type: 'null' }, webStatusSchema] },
  peers: { type: 'integer' },
  connectedPeers: { type: 'integer' },
  pairing: object({ open: { type: 'boolean' }, expiresAt: nullableStr }),
  version: str,
  startedAt: nullableStr,
  pid: { type: ['integer', 'null'] }
})

/** ttl in ms: 1 s to a day (appliance's MIN_ / MAX_PAIRING_TTL_MS, which check it again). */
const secrets = { type: 'string', enum: ['pin', 'invite', 'both'] } as const

export const pairOpenBody = object({ mode: secrets, ttl: { type: 'integer', minimum: 1000, maximum: 86_400_000 } }, [])

export const pairOpenSchema = object({ mode: secrets, pin: nullableStr, invite: nullableStr, addresses: strings, expiresAt: str })

/**
 * A PIN of 8 digits (p2p's PIN_DIGITS) and a multiaddr, or an invite (at
 * most p2p's MAX_INVITE_CHARS); checked in depth behind the API.
 */
export const pairJoinBody = {
  oneOf: [
    object({ pin: { type: 'string', pattern: '^[0-9]{8}$' }, addr: { type: 'string', minLength: 1, maxLength: 1024 } }),
    object({ invite: { type: 'string', minLength: 1, maxLength: 2048 } })
  ]
}

/** A completed pairing (appliance/service/types.ts PairingDoneInfo). */
const pairingDoneSchema = object({ side: { type: 'string', enum: ['host', 'joiner'] }, peerId: str, name: str, confirmationCode: str, pairedAt: str })
const nullable = (schema: Record<string, unknown>): Record<string, unknown> => ({ anyOf: [{ type: 'null' }, schema] })

/** `GET /v1/pairing`: the last window and the last pairing (PairStatusInfo). */
export const pairStatusSchema = object({
  window: nullable(object({
    mode: secrets, expiresAt: str, open: { type: 'boolean' }, joining: { type: 'boolean' }, failedAttempts: { type: 'integer' }, paired: nullable(pairingDoneSchema),
    pin: nullableStr, invite: nullableStr
  })),
  last: nullable(pairingDoneSchema)
})

export const peerSchema = object({ peerId: str, name: str, role, pairedAt: str, connected: { type: 'boolean' } })

export const pairJoinSchema = object({ peer: peerSchema, confirmationCode: str })

export const peersSchema = { type: 'array', items: peerSchema }

export const peerParams = object({ peerId })

export const pairRemoveSchema = object({ peerId: str, removed: { type: 'boolean', const: true } })
