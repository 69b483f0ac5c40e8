import type { CloseReason } from './pool-types';

/**
 * Receives the per-event figures a pool's counters cannot give afterwards (one duration with
 * its attributes), for telemetry that records histograms itself (OpenTelemetry). A pool holds
 * at most one in `observer`; with none, the hot path pays one field read and nothing else.
 * Durations are in seconds.
 */
export interface PoolObserver {
  /**
   * An HTTP request ended: its response was written completely, or (`errorType` `aborted`) its
   * connection closed first. `httpVersion` as node reports it (`1.1`, `2.0`).
   */
  httpRequest(pool: object, method: string | undefined, statusCode: number, httpVersion: string, seconds: number, errorType?: string): void;
  /** An RPC (gRPC call, unary or streaming) ended with `code`. */
  rpcCall(pool: object, service: string, method: string, code: number, seconds: number): void;
  /** A connection left the pool for `reason` after `seconds`. */
  connectionClosed(pool: object, seconds: number, reason: CloseReason): void;
  /** A TLS handshake completed (`tlsVersion` as node names it, `TLSv1.3`) or failed (`errorType`). */
  tlsHandshake(pool: object, seconds: number, tlsVersion: string | undefined, errorType?: string): void;
}
