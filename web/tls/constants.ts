/**
 * The web certificate's fixed choices and limits (docs/web.md "Certificate").
 */

/**
 * How long a certificate is valid: 825 days, the longest that Apple's
 * platforms (iOS 13, macOS 10.15 and later) accept for a TLS server
 * certificate even when the user has trusted it by hand; a longer one is
 * refused outright there. (The 398-day limit of the CA/Browser Forum binds
 * only certificates from public authorities, not a box's self-signed one.)
 */
export const VALIDITY_DAYS = 825

/**
 * The certificate is valid from this long before it is made, so a browser
 * whose clock runs a little behind the box's does not see it "not yet valid".
 */
export const BACKDATE_MS = 60 * 60 * 1000

/**
 * An existing certificate with less than this left is renewed when it is
 * loaded (at daemon start), rather than left to lapse: the operator then
 * learns the new fingerprint from the start's log and `tandem status` on a
 * day of their choosing, not from a browser's error on the day it expires.
 */
export const RENEW_BEFORE_MS = 30 * 24 * 60 * 60 * 1000

/** The serial number's size: 16 random bytes (RFC 5280 allows up to 20; 16 leave no collision to fear). */
export const SERIAL_BYTES = 16

/**
 * A PEM key or certificate of ours is under 2 KiB; a file larger than this
 * is not one, and is not read whole (it is moved aside as damaged).
 */
export const MAX_PEM_BYTES = 64 * 1024

/** X.520's upper bound for a common name (ub-common-name). */
export const MAX_COMMON_NAME_CHARS = 64

/** The private key (PKCS#8 PEM, mode 0600) and the certificate (PEM), in DATA/web/. */
export const KEY_FILE = 'tls.key'
export const CERT_FILE = 'tls.crt'

/** Mode of DATA/web/: private to the daemon's user (the files in it are 0600: fs-util.ts writeFileAtomic). */
export const DIR_MODE = 0o700
