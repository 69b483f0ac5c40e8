import { constants } from 'node:http2';

/** Largest stream id (2^31-1): the last-stream-id of the graceful GOAWAY that announces a drain. */
export const MAX_STREAM_ID = 2 ** 31 - 1;

/** HTTP/2 error codes (RFC 9113 section 7), by value: the label values of resets and GOAWAYs. */
export const H2_ERROR_NAMES: readonly string[] = Object.freeze([
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
]);

/** The name of an HTTP/2 error code; a code outside RFC 9113 is `other`. */
export function h2ErrorName(code: number): string {
  return H2_ERROR_NAMES[code] ?? 'other';
}

export const NGHTTP2_NO_ERROR: number = constants.NGHTTP2_NO_ERROR;
export const NGHTTP2_INTERNAL_ERROR: number = constants.NGHTTP2_INTERNAL_ERROR;
export const NGHTTP2_ENHANCE_YOUR_CALM: number = constants.NGHTTP2_ENHANCE_YOUR_CALM;

/** Window over which `maxResetsPerSecond` counts a session's resets (ms). */
export const RESET_WINDOW_MS = 1000;

/** How long the graceful GOAWAY waits for its PING to come back before the final GOAWAY goes anyway (ms). */
export const GOAWAY_PING_BOUND_MS = 1000;

/** Refusal reason of a TLS client that negotiated no protocol the server serves (no `h2`, and `http/1.1` not allowed). */
export const UNKNOWN_PROTOCOL = 'unknown_protocol';
