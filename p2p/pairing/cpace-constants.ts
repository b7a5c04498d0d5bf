/**
 * Constants of the CPace cipher suite CPACE-RISTR255-SHA512
 * (draft-irtf-cfrg-cpace, section "CPace group objects G_Ristretto255 and
 * G_Decaf448", and "Common function for computing generators").
 * Changing any value below changes every derived key: it is a new protocol version.
 */

/** G_Ristretto255.DSI, the suite's domain-separation identifier. */
export const CPACE_DSI = 'CPaceRistretto255'

/** Suffix appended to G.DSI for the ISK hash: ISK = H(lv_cat(G.DSI || "_ISK", sid, K) || transcript). */
export const CPACE_ISK_DSI_SUFFIX = '_ISK'

/** H.s_in_bytes for SHA-512: the generator string zero-pads DSI and PRS up to one full input block. */
export const CPACE_HASH_BLOCK_BYTES = 128

/** 2 * G_Ristretto255.field_size_bytes: SHA-512 output fed to ristretto255 element derivation (RFC 9496 section 4.3.4). */
export const CPACE_GENERATOR_HASH_BYTES = 64

/** Length of an encoded ristretto255 element: a public share Ya / Yb and the shared point K. */
export const CPACE_SHARE_BYTES = 32

/** Length of a scalar, little-endian, as sampled by G.sample_scalar(). */
export const CPACE_SCALAR_BYTES = 32

/** G_Ristretto255.group_size_bits: sample_scalar() clears every bit above these. */
export const CPACE_GROUP_SIZE_BITS = 252

/** H.b_in_bytes for SHA-512: the length of the ISK. */
export const CPACE_ISK_BYTES = 64

/**
 * Largest PRS accepted. The PRS is a PIN or a key derived from one or from a QR
 * secret (tens of bytes). Up to 108 bytes, prepend_len(DSI) (18) + prepend_len(PRS)
 * (1 + 108) + the padding's length byte (1) still fit the first 128-byte SHA-512
 * block, so the hashing work does not depend on the PRS length (the draft's
 * side-channel reason for the padding).
 */
export const MAX_PRS_BYTES = 108

/**
 * Largest channel identifier CI. CI binds both peers' Noise identities (a libp2p
 * peer id is about 38 bytes, a public key up to a few hundred for RSA); 1 KiB
 * leaves room and bounds the hash input.
 */
export const MAX_CI_BYTES = 1024

/** Largest session id. The pairing sid is random bytes from both peers (16 each); 64 leaves room. */
export const MAX_SID_BYTES = 64

/**
 * Smallest session id accepted: the draft says sid SHOULD be at least 8 bytes;
 * Tandem always sets one, because CPace's composability proof relies on unique sids.
 */
export const MIN_SID_BYTES = 8

/**
 * Largest associated data ADa / ADb. AD carries a protocol version and party
 * identity (tens of bytes); the peer's AD comes from the wire, so the decoder
 * must reject anything longer before calling cpaceIsk.
 */
export const MAX_AD_BYTES = 1024
