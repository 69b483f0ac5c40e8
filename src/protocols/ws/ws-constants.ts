import type { ShedReason } from '../../overload/shed-reason';

/** Close codes (RFC 6455 section 7.4.1) the WebSocket pool sends. */
export const WS_CLOSE = Object.freeze({
  /** The idle timeout closed a quiet connection. */
  normal: 1000,
  /** The server is shutting down. */
  goingAway: 1001,
  /** The client read too slowly: its send buffer stayed over `maxBufferedAmount`. */
  policyViolation: 1008,
  /** The client sent a message larger than `maxPayload`. */
  messageTooBig: 1009,
  /** The client broke the protocol (a bad frame); sent by `ws`. */
  protocolError: 1002,
  /** The client sent text that is not UTF-8; sent by `ws`. */
  invalidPayload: 1007,
  /**
   * The pool was full when the handshake completed (a race the upgrade check did not see), or,
   * with `overload.closeOnShed`, a message of the client was shed.
   */
  tryAgainLater: 1013,
});

/**
 * Close codes `unipool_ws_close_total` reports from 0: those the server sends to admitted clients (above), a
 * client's 1000/1001, 1005 (a close frame without a code) and 1006 (no close frame at all).
 */
export const WS_COUNTED_CLOSE_CODES: readonly number[] = Object.freeze([1000, 1001, 1002, 1005, 1006, 1007, 1008, 1009]);

/** Close reasons sent with those codes (at most 123 bytes each). */
export const WS_CLOSE_REASON = Object.freeze({
  shutdown: 'server shutting down',
  idle: 'idle timeout',
  slowConsumer: 'slow consumer: send buffer over limit',
  full: 'server is at its connection limit',
});

/** Close reason (1013) of a connection closed because one of its messages was shed (`overload.closeOnShed`), by shed reason. */
export const WS_SHED_CLOSE_REASON: Readonly<Record<ShedReason, string>> = Object.freeze({
  limit: 'server overloaded: message shed (limit)',
  queue_full: 'server overloaded: message shed (queue_full)',
  queue_timeout: 'server overloaded: message shed (queue_timeout)',
  pressure: 'server overloaded: message shed (pressure)',
});

/** Reasons the pool gives for removing a WebSocket connection (`ConnectionRemoved` events). */
export const WS_REMOVE_REASON = Object.freeze({
  pongTimeout: 'pong_timeout',
  slowConsumer: 'slow_consumer',
  messageTooBig: 'message_too_big',
  /** A message was shed and `overload.closeOnShed` closed the connection. */
  overloaded: 'overloaded',
});

/** Error types the pool counts (`errors.byType`). */
export const WS_ERROR = Object.freeze({
  handler: 'handler',
  slowConsumer: 'slow_consumer',
  messageTooBig: 'message_too_big',
  protocol: 'protocol',
  handshake: 'handshake',
});

/** Timeout kinds the pool counts (`timeouts`). */
export const WS_TIMEOUT = Object.freeze({
  pong: 'pong',
  handshake: 'handshake',
  close: 'close_handshake',
});

/** Error code `ws` gives a message over `maxPayload`. */
export const WS_ERR_MESSAGE_TOO_BIG = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
