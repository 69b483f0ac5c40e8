import type { ServerHttp2Session } from 'node:http2';
import type { TlsConnectionInfo } from '../https/https-connection-pool';

/** Where a session's goodbye stands: none yet, graceful GOAWAY sent (PING in flight), final GOAWAY sent. */
export const GoawayPhase = Object.freeze({ None: 0, Notice: 1, Final: 2 } as const);
export type GoawayPhase = (typeof GoawayPhase)[keyof typeof GoawayPhase];

/**
 * What an HTTP/2 pool knows of one connection besides its socket (the connection's `data`): its
 * TLS facts, and for an HTTP/2 connection its session, keepalive, reset window and goodbye. An
 * HTTP/1.1 fallback connection has no session.
 */
export class Http2ConnectionState {
  /** A keepalive PING is out and has not come back. */
  awaitingPing = false;
  /** Start (`monotonicMs`) of the window in which `resets` are counted. */
  resetWindowStart = 0;
  /** Streams the client reset in the current window. */
  resets = 0;
  goaway: GoawayPhase = GoawayPhase.None;
  /** Active (or opened) within the drain's grace before it started: its goodbye waits for its next stream or the end of that grace. */
  drainGraced = false;
  /** Bounds the PING round trip of a graceful GOAWAY. */
  goawayTimer: NodeJS.Timeout | undefined;
  /** The keepalive PING's callback: one per session, not one per PING. */
  readonly onPing: (err: Error | null) => void;

  constructor(
    readonly session: ServerHttp2Session | undefined,
    readonly tls: TlsConnectionInfo | undefined,
  ) {
    this.onPing = (err) => {
      if (err === null) this.awaitingPing = false;
    };
  }
}
