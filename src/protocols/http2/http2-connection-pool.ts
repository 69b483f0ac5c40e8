import type { IncomingMessage } from 'node:http';
import type { ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { monotonicMs } from '../../core/clock';
import { LatencyHistogram } from '../../core/latency-histogram';
import type { PooledConnection } from '../../core/pooled-connection';
import type { CloseReason, KnownLabelValues, PoolMetricsSnapshot } from '../../core/pool-types';
import { countSamples, type ProtocolMetricFamily } from '../../core/protocol-metrics';
import { DRAIN_KEEP_ALIVE_GRACE_MS } from '../http/http-connection-pool';
import { HTTPS_LABEL_VALUES, HttpsConnectionPool, type TlsConnectionInfo, type TlsMetricsSnapshot } from '../https/https-connection-pool';
import { Http2PoolConfig } from './http2-config';
import { GoawayPhase, Http2ConnectionState } from './http2-connection-state';
import { GOAWAY_PING_BOUND_MS, H2_ERROR_NAMES, MAX_STREAM_ID, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR, RESET_WINDOW_MS, UNKNOWN_PROTOCOL, h2ErrorName } from './http2-constants';

/** The request an observer is told about when none listens (never read then). */
const H2_REQUEST = Object.freeze({ method: undefined, httpVersion: '2.0' });

/** Upper bounds of the streams-per-session histogram. */
export const STREAMS_PER_SESSION_BUCKETS: readonly number[] = Object.freeze([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10_000, 100_000]);

/** Timeout kind of a session whose keepalive PING went unanswered. */
const PING_TIMEOUT = 'ping';
/** Error type of a session cut for resetting streams too fast. */
const RAPID_RESET = 'rapid_reset';
/** Error type of a session that failed (a protocol error, most often), by node's error code in the HTTP/2 families. */
const SESSION_ERROR = 'session_error';

/** Keys of an `http2` section the pool runs itself: servers sharing it must agree on them. */
const HTTP2_POOL_KEYS: readonly string[] = ['pingInterval', 'pingTimeout', 'maxResetsPerSecond'];

const HTTP2_LABEL_VALUES: KnownLabelValues = Object.freeze({
  rejectReasons: Object.freeze([...HTTPS_LABEL_VALUES.rejectReasons, UNKNOWN_PROTOCOL]),
  timeoutKinds: Object.freeze([...HTTPS_LABEL_VALUES.timeoutKinds, PING_TIMEOUT]),
  errorTypes: Object.freeze([...HTTPS_LABEL_VALUES.errorTypes, RAPID_RESET, SESSION_ERROR]),
});

/** The HTTP/2 figures of a pool (`getMetrics().http2`, so `/status` shows them). */
export interface Http2MetricsSnapshot {
  /** HTTP/2 sessions open now, and HTTP/1.1 fallback connections open now. */
  sessions: number;
  http1Connections: number;
  /** Streams open now, over all sessions. */
  streamsOpen: number;
  /** Streams served by each closed session: count, mean, quantiles and max. */
  streamsPerSession: { count: number; avg: number; p50: number; p95: number; max: number };
  /** Streams closed by RST_STREAM, by HTTP/2 error code. */
  resetsByCode: Record<string, number>;
  /** GOAWAY frames the server sent, by error code (a graceful drain sends two per session). */
  goawaysSent: Record<string, number>;
  /** Sessions cut with ENHANCE_YOUR_CALM for resetting streams faster than `maxResetsPerSecond`. */
  rapidResetSessions: number;
  /** Sessions that failed, by node's error code (protocol errors, mostly). */
  sessionErrorsByCode: Record<string, number>;
  pings: { sent: number; timeouts: number };
}

/** `getMetrics()` of an HTTP/2 pool. */
export interface Http2PoolMetricsSnapshot extends PoolMetricsSnapshot {
  tls: TlsMetricsSnapshot;
  http2: Http2MetricsSnapshot;
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** A count map holding every HTTP/2 error code at 0. */
function byErrorCode(): Map<string, number> {
  return new Map(H2_ERROR_NAMES.map((name) => [name, 0]));
}

/** The session of an HTTP/2 connection; undefined for an HTTP/1.1 fallback connection. */
export function sessionOf(conn: PooledConnection<Socket>): ServerHttp2Session | undefined {
  return (conn.data as Http2ConnectionState | undefined)?.session;
}

/**
 * Pool of HTTP/2 connections: a connection is a session (one TCP or TLS socket), a unit of work
 * is a stream. HTTP/1.1 fallback connections on the same port are tracked here too, as
 * `HttpConnectionPool` tracks them. Everything `HttpsConnectionPool` measures (TLS handshakes,
 * certificates) is measured here as well, plus resets by code, GOAWAYs, streams per session and
 * the PING keepalive.
 *
 * Drain: each session gets the graceful GOAWAY (last-stream-id 2^31-1), a PING, and once the PING
 * is back the final GOAWAY with the last stream the server took; open streams run to their end,
 * and the session closes when its last one does.
 */
export class Http2ConnectionPool<C extends Http2PoolConfig = Http2PoolConfig> extends HttpsConnectionPool<C> {
  override readonly protocol: string = 'http2';

  /** `http` for an h2c (cleartext) pool, `https` over TLS. */
  override get urlScheme(): string {
    return this.config.h2c ? 'http' : 'https';
  }

  /** Streams each closed session served. */
  readonly streamsPerSession = new LatencyHistogram(STREAMS_PER_SESSION_BUCKETS);
  private readonly resetsByCode = byErrorCode();
  private readonly goawaysSent = byErrorCode();
  private readonly sessionErrors = new Map<string, number>();
  private rapidResetSessions = 0;
  private pingsSent = 0;
  private pingTimeouts = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private pingCheckTimer: NodeJS.Timeout | undefined;

  constructor(configClass: new () => C = Http2PoolConfig as new () => C) {
    super(configClass);
  }

  protected override protocolPoolKeys(): readonly string[] {
    return HTTP2_POOL_KEYS;
  }

  protected override applyConfig(previous: C, next: C): void {
    super.applyConfig(previous, next);
    if (next.pingInterval !== previous.pingInterval || next.pingTimeout !== previous.pingTimeout) {
      const running = this.heartbeatTimer !== undefined;
      this.stopHeartbeat();
      if (running || next.pingInterval > 0) this.startHeartbeat(next);
    }
  }

  // ---------------------------------------------------------------- fed by the server

  /** @internal The connection's HTTP/2 state (its `data`), set by the server when it admits it. */
  stateOf(conn: PooledConnection<Socket>): Http2ConnectionState | undefined {
    return conn.data as Http2ConnectionState | undefined;
  }

  /** The TLS facts of one tracked connection. */
  override tlsInfo(conn: PooledConnection<Socket>): TlsConnectionInfo | undefined {
    return this.stateOf(conn)?.tls;
  }

  /**
   * @internal A stream of `conn` closed: a stream that ended cleanly counts its response's status
   * class, a reset one counts its code (and as `aborted`); a client that resets streams faster
   * than `maxResetsPerSecond` has its session cut (GOAWAY ENHANCE_YOUR_CALM).
   */
  streamClosed(conn: PooledConnection<Socket>, started: number, rstCode: number, status: number | undefined, resetByPeer: boolean, method: string | undefined): void {
    // What an observer (OpenTelemetry) reads of the request; allocated only when one listens.
    const req = (this.observer === undefined ? H2_REQUEST : { method, httpVersion: '2.0' }) as IncomingMessage;
    if (rstCode === NGHTTP2_NO_ERROR && status !== undefined) {
      this.endRequest(conn, started, status, req);
      return;
    }
    increment(this.resetsByCode, h2ErrorName(rstCode));
    // A stream of a connection already gone was counted as aborted with it (its socket's close).
    if (!conn.removed) this.recordError('aborted', undefined, conn);
    this.endAbortedExchange(conn, started, status ?? 0, status, req);
    if (resetByPeer && !conn.removed) this.countPeerReset(conn);
  }

  private countPeerReset(conn: PooledConnection<Socket>): void {
    const state = this.stateOf(conn);
    // Streams cut because their session is going away (the client left, a drain) are not resets by the client.
    if (state?.session === undefined || state.session.destroyed || state.session.closed) return;
    const now = monotonicMs();
    if (now - state.resetWindowStart >= RESET_WINDOW_MS) {
      state.resetWindowStart = now;
      state.resets = 0;
    }
    if (++state.resets <= this.config.maxResetsPerSecond) return;
    // CVE-2023-44487: each reset stream cost the server a stream set-up for nothing.
    this.rapidResetSessions++;
    this.recordError(RAPID_RESET, undefined, conn);
    conn.closeReason = RAPID_RESET;
    state.goaway = GoawayPhase.Final;
    if (!state.session.destroyed) {
      increment(this.goawaysSent, 'ENHANCE_YOUR_CALM');
      // The final GOAWAY carries the code; the session's own error event is not counted again (recordSessionError).
      state.session.destroy(new Error('stream resets faster than maxResetsPerSecond'), NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }

  /**
   * @internal Overload at level `CloseKeepAlive` or above: the session says goodbye as in a drain
   * (graceful GOAWAY, a PING round trip, the final GOAWAY); its open streams run to their end,
   * then it closes. Once per session; an HTTP/1.1 fallback connection is closed by its response.
   */
  closeAfterStreams(conn: PooledConnection<Socket>): void {
    const state = this.stateOf(conn);
    if (state?.session === undefined || state.goaway !== GoawayPhase.None || conn.removed) return;
    conn.closeReason = 'overloaded';
    this.goAwayGracefully(state);
  }

  /** @internal Counts a GOAWAY the server sent itself (a refused session's). */
  recordGoaway(code: number): void {
    increment(this.goawaysSent, h2ErrorName(code));
  }

  /** @internal Counts a failed session by node's error code. */
  recordSessionError(err: NodeJS.ErrnoException, conn: PooledConnection<Socket> | undefined): void {
    if (conn?.closeReason === RAPID_RESET) return;
    increment(this.sessionErrors, err.code ?? 'unknown');
    this.recordError(SESSION_ERROR, err, conn);
  }

  override remove(conn: PooledConnection<Socket>, reason?: CloseReason): void {
    if (conn.owner === this && !conn.removed) {
      const state = this.stateOf(conn);
      if (state?.session !== undefined) {
        this.streamsPerSession.observe(conn.requests);
        if (state.goawayTimer) clearTimeout(state.goawayTimer);
        state.goawayTimer = undefined;
      }
    }
    super.remove(conn, reason);
  }

  // ---------------------------------------------------------------- closing

  /** Idle, timed out or drained: a session says goodbye with GOAWAY; an HTTP/1.1 connection as HTTP does. */
  protected override closeConnection(conn: PooledConnection<Socket>, reason: CloseReason): void {
    const state = this.stateOf(conn);
    if (state?.session === undefined) return super.closeConnection(conn, reason);
    // Graced: not when its last stream ends (the client may send its next one as it reads that
    // answer), nor before its preface (a session opened in the grace may be sending its first stream).
    if (reason === 'drain' && state.drainGraced) return;
    // GOAWAY means nothing to a peer that never sent its preface and SETTINGS: cut it.
    if (!conn.started) return this.destroyConnection(conn);
    if (reason === 'drain') this.goAwayGracefully(state, conn.inFlight === 0);
    else this.goAway(state);
  }

  protected override destroyConnection(conn: PooledConnection<Socket>): void {
    const session = this.stateOf(conn)?.session;
    if (session !== undefined && !conn.started) {
      // Before the client's preface node's HTTP/2 session holds the socket open through
      // destroy() (node 20: neither side sees a close); a TCP reset is what ends it.
      const tcp = (conn.raw as Socket & { _parent?: Socket })._parent ?? conn.raw;
      if (!tcp.destroyed) tcp.resetAndDestroy();
      conn.raw.destroy();
      return;
    }
    if (session !== undefined && !session.destroyed) session.destroy();
    conn.raw.destroy();
  }

  /**
   * A session active within `DRAIN_KEEP_ALIVE_GRACE_MS` before the drain started says goodbye when
   * its next stream starts (the GOAWAYs then reach the client before that stream's answer), or
   * when the grace ends; not at once, and not when its last stream ends. A client that runs one
   * stream at a time (curl) sends its next stream as soon as it reads an answer: a GOAWAY written
   * after that answer, or while the connection is idle, meets that stream on the way, and node's
   * GOAWAY refuses it (node's API has no shutdown notice: nghttp2 takes no stream once any GOAWAY
   * is out). A refused stream may be retried elsewhere, but curl 7.88 fails it ("Error in the
   * HTTP2 framing layer"). A session opened within the grace counts as active (its preface and
   * first stream may be on the way); one that has sent nothing when the grace ends is cut. A
   * session quiet for longer gets the GOAWAYs at once. HTTP/1.1 connections drain as in HTTP.
   */
  protected override drainConnection(conn: PooledConnection<Socket>): void {
    const state = this.stateOf(conn);
    if (state?.session === undefined) return super.drainConnection(conn);
    conn.closeReason = 'drain';
    if (state.goaway === GoawayPhase.None) {
      const now = this.drainWalkMono >= 0 ? this.drainWalkMono : monotonicMs();
      if (now - conn.lastActivityMono < DRAIN_KEEP_ALIVE_GRACE_MS) {
        state.drainGraced = true;
        this.grace(conn);
        return;
      }
    }
    this.closeConnection(conn, 'drain');
  }

  /** @internal A stream started on a session while the pool drains: a graced session says goodbye now (this stream is taken; the GOAWAYs reach the client before its answer). */
  streamWhileDraining(conn: PooledConnection<Socket>): void {
    const state = this.stateOf(conn);
    if (state === undefined || !state.drainGraced) return;
    state.drainGraced = false;
    if (!conn.removed) this.closeConnection(conn, 'drain');
  }

  /** The grace is over: a graced session that started no stream says goodbye now; HTTP/1.1 connections as in HTTP. */
  protected override graceEnded(conn: PooledConnection<Socket>): void {
    const state = this.stateOf(conn);
    if (state?.session === undefined) return super.graceEnded(conn);
    // Said goodbye with its next stream already (its GOAWAY is out).
    if (!state.drainGraced && state.goaway !== GoawayPhase.None) return;
    state.drainGraced = false;
    this.closeConnection(conn, 'drain');
  }

  /**
   * RFC 9113 section 6.8: GOAWAY with last-stream-id 2^31-1 tells the client to open no new
   * stream here; a PING round trip later the client has read it, and the final GOAWAY names the
   * last stream the server took. (nghttp2, under node, takes no new stream once any GOAWAY is
   * out: a stream the client sent in between is not run, and the final GOAWAY's last-stream-id
   * tells the client so, which makes it safe to retry elsewhere.) Without the PING back within
   * `GOAWAY_PING_BOUND_MS` the final GOAWAY goes anyway.
   *
   * A session with no stream open (`idle`) gets both GOAWAYs at once: nghttp2 reads nothing more
   * from a session that has sent a GOAWAY and has no stream left, so the PING's ack would never
   * be read and every idle session would hold the drain for the whole bound (1 s, measured).
   * Waiting would not take any stream either (see above).
   */
  private goAwayGracefully(state: Http2ConnectionState, idle = false): void {
    const session = state.session as ServerHttp2Session;
    if (state.goaway !== GoawayPhase.None || session.closed || session.destroyed) return;
    state.goaway = GoawayPhase.Notice;
    session.goaway(NGHTTP2_NO_ERROR, MAX_STREAM_ID);
    increment(this.goawaysSent, 'NO_ERROR');
    if (idle) return this.goAway(state);
    const final = (): void => this.goAway(state);
    state.goawayTimer = setTimeout(final, GOAWAY_PING_BOUND_MS).unref();
    // nghttp2 sends PING ahead of queued frames: pinging once the GOAWAY has been written keeps
    // them in order, so the PING's ack proves the client has read the GOAWAY.
    setImmediate(() => {
      if (state.goaway !== GoawayPhase.Notice || session.destroyed) return;
      if (session.closed || !session.ping(final)) final();
    });
  }

  /** The final GOAWAY (last stream taken): node closes the session once its open streams end. */
  private goAway(state: Http2ConnectionState): void {
    const session = state.session as ServerHttp2Session;
    if (state.goawayTimer) clearTimeout(state.goawayTimer);
    state.goawayTimer = undefined;
    if (state.goaway === GoawayPhase.Final) return;
    const announced = state.goaway === GoawayPhase.Notice;
    state.goaway = GoawayPhase.Final;
    if (session.destroyed) return;
    // Closed already: node closes a session on the client's own GOAWAY (a client leaves on our
    // graceful one), and that close sent the final GOAWAY.
    if (!session.closed) session.close();
    else if (!announced) return;
    increment(this.goawaysSent, 'NO_ERROR');
  }

  /** A session with no open stream is idle whatever control frames (PING, SETTINGS) it sends. */
  protected override receivedSinceIdle(conn: PooledConnection<Socket>): boolean {
    const state = this.stateOf(conn);
    return state?.session === undefined ? super.receivedSinceIdle(conn) : false;
  }

  // ---------------------------------------------------------------- PING keepalive

  override setListening(listening: boolean): void {
    super.setListening(listening);
    if (listening && !this.heartbeatTimer && this.config.pingInterval > 0) this.startHeartbeat(this.config);
    else if (!listening) this.stopHeartbeat();
  }

  private startHeartbeat(config: C): void {
    if (config.pingInterval <= 0) return;
    this.heartbeatTimer = setInterval(() => this.heartbeat(), config.pingInterval).unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.pingCheckTimer) clearTimeout(this.pingCheckTimer);
    this.heartbeatTimer = undefined;
    this.pingCheckTimer = undefined;
  }

  /** One walk per `pingInterval`: every session is pinged; one timer `pingTimeout` later finds those that did not answer. */
  private heartbeat(): void {
    this.forEachConnection((conn) => {
      const state = this.stateOf(conn);
      const session = state?.session;
      if (state === undefined || session === undefined || session.destroyed || session.closed) return;
      if (state.awaitingPing) {
        // Only reachable when pingTimeout equals pingInterval and this tick beat the check.
        this.pingUnanswered(conn);
        return;
      }
      state.awaitingPing = true;
      this.pingsSent++;
      session.ping(state.onPing);
    });
    if (this.pingCheckTimer) this.pingCheckTimer.refresh();
    else this.pingCheckTimer = setTimeout(() => this.checkPings(), this.config.pingTimeout).unref();
  }

  private checkPings(): void {
    this.forEachConnection((conn) => {
      const state = this.stateOf(conn);
      if (state?.awaitingPing === true && state.session !== undefined && !state.session.destroyed) this.pingUnanswered(conn);
    });
  }

  /** A peer that does not answer PING is gone (or stuck): its session and socket are destroyed. */
  private pingUnanswered(conn: PooledConnection<Socket>): void {
    this.pingTimeouts++;
    this.recordTimeout(PING_TIMEOUT, conn);
    conn.closeReason = 'ping_timeout';
    this.destroyConnection(conn);
  }

  override destroy(): void {
    this.stopHeartbeat();
    super.destroy();
  }

  // ---------------------------------------------------------------- figures

  override knownLabelValues(): KnownLabelValues {
    return HTTP2_LABEL_VALUES;
  }

  private liveCounts(): { sessions: number; http1: number; streams: number } {
    let sessions = 0;
    let http1 = 0;
    let streams = 0;
    for (const conn of this.values()) {
      if (sessionOf(conn) === undefined) http1++;
      else {
        sessions++;
        streams += conn.inFlight;
      }
    }
    return { sessions, http1, streams };
  }

  override protocolMetrics(): readonly ProtocolMetricFamily[] {
    const live = this.liveCounts();
    const h = this.streamsPerSession;
    return [
      ...super.protocolMetrics(),
      { name: 'unipool_http2_sessions', help: 'Connections open now by kind: HTTP/2 sessions (h2) and HTTP/1.1 fallback connections (http1).', type: 'gauge', samples: countSamples([['h2', live.sessions], ['http1', live.http1]], 'kind') },
      { name: 'unipool_http2_streams_open', help: 'HTTP/2 streams open now, over all sessions.', type: 'gauge', samples: [{ value: live.streams }] },
      { name: 'unipool_http2_streams_per_session', help: 'Streams each closed HTTP/2 session served.', type: 'histogram', samples: [{ bounds: h.bounds, counts: h.counts, sum: h.sum, count: h.count }] },
      { name: 'unipool_http2_stream_resets_total', help: 'HTTP/2 streams closed by RST_STREAM, by error code.', type: 'counter', samples: countSamples(this.resetsByCode, 'code') },
      { name: 'unipool_http2_goaways_sent_total', help: 'GOAWAY frames the server sent, by error code.', type: 'counter', samples: countSamples(this.goawaysSent, 'code') },
      { name: 'unipool_http2_rapid_reset_sessions_total', help: 'Sessions cut with GOAWAY ENHANCE_YOUR_CALM for resetting streams faster than maxResetsPerSecond (CVE-2023-44487).', type: 'counter', samples: [{ value: this.rapidResetSessions }] },
      { name: 'unipool_http2_session_errors_total', help: 'HTTP/2 sessions that failed (protocol errors, mostly), by node error code.', type: 'counter', samples: countSamples(this.sessionErrors, 'code') },
      { name: 'unipool_http2_pings_total', help: 'Keepalive PINGs sent, and those unanswered within pingTimeout.', type: 'counter', samples: countSamples([['sent', this.pingsSent], ['timeout', this.pingTimeouts]], 'result') },
    ];
  }

  override getMetrics(): Http2PoolMetricsSnapshot {
    const live = this.liveCounts();
    const h = this.streamsPerSession;
    return {
      ...super.getMetrics(),
      http2: {
        sessions: live.sessions,
        http1Connections: live.http1,
        streamsOpen: live.streams,
        streamsPerSession: { count: h.count, avg: h.mean(), p50: h.quantile(0.5), p95: h.quantile(0.95), max: h.max },
        resetsByCode: Object.fromEntries(this.resetsByCode),
        goawaysSent: Object.fromEntries(this.goawaysSent),
        rapidResetSessions: this.rapidResetSessions,
        sessionErrorsByCode: Object.fromEntries(this.sessionErrors),
        pings: { sent: this.pingsSent, timeouts: this.pingTimeouts },
      },
    };
  }
}
