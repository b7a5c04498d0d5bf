/**
 * The limits of the browser-facing server's login (docs/web.md "Server and
 * login"), each with its reason.
 */

/** A password's length in characters (code points): 8 is the floor NIST SP 800-63B sets; 256 bounds the hashing work a request can ask for. */
export const MIN_PASSWORD_CHARS = 8
export const MAX_PASSWORD_CHARS = 256

/**
 * argon2id's cost: 19 MiB of memory, 2 passes, 1 lane: OWASP's password
 * storage recommendation for argon2id. Some tens of milliseconds on a small box: a login
 * stays quick, and the rate limit below bounds how much work strangers can ask for.
 */
export const ARGON2_MEMORY_KIB = 19_456
export const ARGON2_PASSES = 2
export const ARGON2_LANES = 1

/** The setup code: 12 characters of a 32-letter alphabet (60 bits), shown in groups of 4 for a human to type from a console. */
export const SETUP_CODE_CHARS = 12
export const SETUP_CODE_GROUP = 4

/**
 * Wrong setup codes in a row before the code is replaced (the old one is then
 * refused): on top of the rate limit, guessing 60 bits stays hopeless even for
 * a daemon that runs for years. Counted in memory: a restart starts again at 0.
 */
export const MAX_SETUP_CODE_TRIES = 10

/** Login and setup attempts a minute from one client address: enough for typos, too few to guess. */
export const MAX_AUTH_TRIES_PER_ADDRESS = 5
/**
 * Login and setup attempts a minute from all addresses together: bounds the
 * argon2 work strangers can cause and guessing from many addresses. Its cost: a
 * flood can keep the admin out of the page for a while; the console and the
 * `tandem` command (the unix socket) still work.
 */
export const MAX_AUTH_TRIES_TOTAL = 30
/** The window both counts above run over. */
export const AUTH_RATE_WINDOW_MS = 60_000

/**
 * A session's absolute lifetime from its login: a working shift's few hours,
 * long enough for a failover not to be cut off half-way, short enough that a
 * stolen cookie does not last.
 */
export const MAX_SESSION_MS = 4 * 60 * 60_000
/** A session unused this long ends (a tab left open on a shared desk). */
export const MAX_SESSION_IDLE_MS = 60 * 60_000
/** Sessions kept at once: the store is memory; logging in past it ends the least recently used. */
export const MAX_SESSIONS = 64
/** Of a browser's User-Agent, what the sessions list keeps. */
export const MAX_USER_AGENT_CHARS = 200
/** The largest admin.json read: it holds one PHC string (about 100 bytes) and a date. */
export const MAX_ADMIN_FILE_BYTES = 4096
