import WebSocket from 'ws';
import { ConnectionPoolManager } from '../../core/connection-pool-manager';
import type { PooledConnection } from '../../core/pooled-connection';
import { ForeignConnectionError } from '../../errors';
import type { CloseReason, KnownLabelValues, PoolMetricsSnapshot } from '../../core/pool-types';
import type { WorkPriority } from '../../overload/work-priority';
import { countSamples, type ProtocolMetricFamily } from '../../core/protocol-metrics';
import { WebSocketPoolConfig } from './ws-config';
import { WS_CLOSE, WS_CLOSE_REASON, WS_ERROR, WS_REMOVE_REASON, WS_TIMEOUT, WS_COUNTED_CLOSE_CODES } from './ws-constants';
import { sentCloseCode } from './pool-web-socket';
import { PING_FRAME, frameMessage, toPayload, writeFrame } from './ws-frames';

// Options of every counted send (`ws` copies them): one object each, not one per message.
const SEND_BINARY = { binary: true, compress: false, fin: true };
const SEND_TEXT = { binary: false, compress: false, fin: true };

/** Data a WebSocket message may carry. */
export type WebSocketData = string | Buffer | ArrayBuffer | ArrayBufferView;

/** Keeps the clients a broadcast should reach. */
export type BroadcastFilter = (socket: WebSocket, connection: PooledConnection<WebSocket>) => boolean;

/** Outcome of a broadcast. */
export interface BroadcastResult {
  /** Open clients that got the message. */
  sent: number;
  /** Open clients the filter kept but whose send buffer was over `maxBufferedAmount`. */
  skipped: number;
}

/** WebSocket figures on top of the common pool metrics. Byte counts are message payloads. */
export interface WebSocketPoolMetrics extends PoolMetricsSnapshot {
  websocket: {
    messagesIn: number;
    messagesOut: number;
    payloadBytesIn: number;
    payloadBytesOut: number;
    broadcasts: number;
    broadcastSkipped: number;
    pingsSent: number;
    pongTimeouts: number;
    slowConsumersClosed: number;
    oversizedMessages: number;
    /**
     * Messages whose handler was skipped because overload protection shed them (their connection
     * closed with 1013 if `overload.closeOnShed`). Unlike `overload.shed`, kept across live
     * updates of the `overload` block.
     */
    messagesShed: number;
    /** Close codes of finished connections: the one the server sent if it closed first, else the client's (1006: no close frame either way). */
    closeCodes: Record<string, number>;
  };
}

/**
 * Label value of a close code: the RFC 6455 codes (1000-1015) as themselves, the ranges a peer
 * may pick freely as `3xxx` (registered) and `4xxx` (private), anything else as `other`, so a
 * client cannot grow the label set past a couple of dozen values.
 */
export function closeCodeLabel(code: number): string {
  if (code >= 1000 && code <= 1015) return String(code);
  if (code >= 3000 && code <= 3999) return '3xxx';
  if (code >= 4000 && code <= 4999) return '4xxx';
  return 'other';
}

/** Refusals, timeouts and errors a WebSocket server counts. */
const WS_LABEL_VALUES: KnownLabelValues = Object.freeze({
  rejectReasons: Object.freeze(['max_connections', 'draining', 'overloaded', 'bad_path', 'handshake_backlog', 'unauthorized']),
  timeoutKinds: Object.freeze(['connection', 'idle', ...Object.values(WS_TIMEOUT)]),
  errorTypes: Object.freeze(Object.values(WS_ERROR)),
});

/** No close frame was received (RFC 6455 7.1.5): the connection dropped, or was terminated. */
const ABNORMAL_CLOSURE = 1006;


/** Keys of a `ws` section the pool runs itself (heartbeat, backpressure, close deadline): servers sharing it must agree on them. */
const WS_POOL_KEYS: readonly string[] = ['pingInterval', 'pongTimeout', 'maxBufferedAmount', 'closeTimeout'];

/**
 * Per-connection heartbeat and backpressure flags, as bits of the connection's `data` slot (a
 * small integer: no object per connection, nothing per message).
 */
const AWAITING_PONG = 1; // a ping went out and no pong came back yet
const OVER_LIMIT = 2; // the send buffer was seen over maxBufferedAmount; seen over again, the client is closed

function hasFlag(conn: PooledConnection<WebSocket>, flag: number): boolean {
  return ((conn.data as number) & flag) !== 0;
}

function setFlag(conn: PooledConnection<WebSocket>, flag: number, on: boolean): void {
  conn.data = on ? (conn.data as number) | flag : (conn.data as number) & ~flag;
}

/**
 * Pool of upgraded WebSocket connections. One interval timer per pool runs the heartbeat: every
 * `pingInterval` it walks the connections once, closes slow consumers, and pings the rest; one
 * timer `pongTimeout` later terminates those that did not answer. So a peer that vanished without
 * a close frame leaves within `pingInterval + pongTimeout`, and 10,000 connections cost two
 * timers, not 10,000.
 */
export class WebSocketConnectionPool<C extends WebSocketPoolConfig = WebSocketPoolConfig> extends ConnectionPoolManager<WebSocket, C> {
  readonly protocol: string = 'ws';
  /** Every connection of this pool is an upgraded HTTP/1.1 connection (`unipool.upgraded_connections`). */
  readonly upgradedConnections = true;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private pongTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;

  private messagesIn = 0;
  private messagesOut = 0;
  private payloadBytesIn = 0;
  private payloadBytesOut = 0;
  private broadcasts = 0;
  /**
   * Set in a cluster worker: gets every broadcast without a filter, to relay it (through the
   * primary) to the clients of the other workers. `broadcast()` counts and returns this process's
   * clients only.
   */
  broadcastRelay: ((payload: Buffer, binary: boolean) => void) | undefined = undefined;
  private broadcastSkipped = 0;
  private pingsSent = 0;
  private pongTimeouts = 0;
  private slowConsumersClosed = 0;
  private oversizedMessages = 0;
  private messagesShed = 0;
  private readonly closeCodes = new Map<number, number>();

  constructor(configClass: new () => C = WebSocketPoolConfig as new () => C) {
    super(configClass);
  }

  protected override protocolPoolKeys(): readonly string[] {
    return WS_POOL_KEYS;
  }

  protected override applyConfig(previous: C, next: C): void {
    if (this.heartbeatTimer && (next.pingInterval !== previous.pingInterval || next.pongTimeout !== previous.pongTimeout)) {
      // Pending pongs keep their flag; the new deadline applies from the next ping.
      this.stopHeartbeat();
      this.startHeartbeat(next);
    }
  }

  // ---------------------------------------------------------------- tracking

  /**
   * Admits an upgraded connection. `priority` is the upgrade's (`WebSocketServer.upgradePriority`):
   * a critical one is not refused for overload (pressure level `RefuseConnections` and above);
   * `maxConnections` and a drain still refuse it.
   */
  override add(raw: WebSocket, remoteAddress = '', remotePort = 0, priority: WorkPriority = 'normal'): PooledConnection<WebSocket> | undefined {
    const conn = super.add(raw, remoteAddress, remotePort, priority);
    if (conn) conn.data = 0;
    return conn;
  }

  /** Forgets a connection and counts its close code: the one the server sent, else 1006 (terminated, or gone without a close frame). */
  override remove(conn: PooledConnection<WebSocket>, reason?: CloseReason): void {
    this.removeClosed(conn, reason, ABNORMAL_CLOSURE);
  }

  /**
   * @internal The connection closed, and `ws` reported `code` (the client's close code, or
   * 1006). Counted as the code the server sent if it closed first, else as `code`.
   */
  recordClose(conn: PooledConnection<WebSocket>, code: number): void {
    this.removeClosed(conn, undefined, code);
  }

  private removeClosed(conn: PooledConnection<WebSocket>, reason: CloseReason | undefined, reportedCode: number): void {
    if (conn.owner !== this) throw new ForeignConnectionError(conn.id, this.protocol);
    if (conn.removed) return;
    // Counted before the removal, so `ConnectionRemoved` listeners see it: the connection is
    // this pool's and not yet removed, so super.remove() cannot refuse it.
    const code = sentCloseCode(conn.raw) || reportedCode;
    this.closeCodes.set(code, (this.closeCodes.get(code) ?? 0) + 1);
    super.remove(conn, reason);
    if (this.closeTimer && this.size === 0) {
      clearTimeout(this.closeTimer);
      this.closeTimer = undefined;
    }
  }

  /** @internal Counts one received message of `bytes` payload bytes. */
  recordMessageIn(conn: PooledConnection<WebSocket>, bytes: number): void {
    this.messagesIn++;
    this.payloadBytesIn += bytes;
    conn.messages++;
    conn.bytesIn += bytes;
  }

  /**
   * @internal Overload protection shed a message of `conn` (its handler does not run). The client
   * is active all the same: its first-message timeout ends and its idle time counts from now.
   */
  recordMessageShed(conn: PooledConnection<WebSocket>): void {
    this.messagesShed++;
    this.markEstablished(conn);
    this.touch(conn);
  }

  private recordMessageOut(conn: PooledConnection<WebSocket>, bytes: number): void {
    this.messagesOut++;
    this.payloadBytesOut += bytes;
    conn.bytesOut += bytes;
  }

  /** @internal The peer answered a ping: it is alive, and a live peer is never idle. */
  recordPong(conn: PooledConnection<WebSocket>): void {
    setFlag(conn, AWAITING_PONG, false);
    this.touch(conn);
  }

  /** @internal The client sent a message over `maxPayload`; `ws` closes it with 1009. */
  recordOversized(conn: PooledConnection<WebSocket>, error: Error): void {
    this.oversizedMessages++;
    conn.closeReason = WS_REMOVE_REASON.messageTooBig;
    this.recordError(WS_ERROR.messageTooBig, error, conn);
  }

  // ---------------------------------------------------------------- sending

  /**
   * Whether `conn` may be sent to now. A client over `maxBufferedAmount` may not; it is flagged,
   * and closed with 1008 if it is still over at the next heartbeat check.
   */
  private canSend(conn: PooledConnection<WebSocket>, limit: number): boolean {
    if (conn.raw.bufferedAmount <= limit) return true;
    setFlag(conn, OVER_LIMIT, true);
    return false;
  }

  /**
   * Sends one message to one client, counted. Returns false (and sends nothing) if the client is
   * not open or its send buffer is over `maxBufferedAmount`.
   */
  send(conn: PooledConnection<WebSocket>, data: WebSocketData, binary = typeof data !== 'string'): boolean {
    const ws = conn.raw;
    if (ws.readyState !== WebSocket.OPEN || !this.canSend(conn, this.config.maxBufferedAmount)) return false;
    const payload = toPayload(data);
    ws.send(payload, binary ? SEND_BINARY : SEND_TEXT);
    this.recordMessageOut(conn, payload.length);
    return true;
  }

  /**
   * Sends one message to every open client (or those `filter` keeps), framing it once. Clients
   * whose send buffer is over `maxBufferedAmount` are skipped (and closed at the next check if
   * they stay over).
   */
  broadcast(data: WebSocketData, filter?: BroadcastFilter, binary = typeof data !== 'string'): BroadcastResult {
    const payload = toPayload(data);
    // A cluster worker's broadcast also goes to the other workers' clients (a filter, being code, cannot travel).
    if (filter === undefined && this.broadcastRelay !== undefined) this.broadcastRelay(payload, binary);
    const frame = frameMessage(payload, binary);
    const limit = this.config.maxBufferedAmount;
    const bytes = payload.length;
    let sent = 0;
    let skipped = 0;
    this.forEachConnection((conn) => {
      const ws = conn.raw;
      if (ws.readyState !== WebSocket.OPEN) return;
      if (filter !== undefined && !filter(ws, conn)) return;
      if (!this.canSend(conn, limit)) {
        skipped++;
        return;
      }
      if (frame === undefined || !writeFrame(ws, frame)) ws.send(payload, binary ? SEND_BINARY : SEND_TEXT);
      this.messagesOut++;
      conn.bytesOut += bytes;
      sent++;
    });
    this.broadcasts++;
    this.broadcastSkipped += skipped;
    this.payloadBytesOut += bytes * sent;
    return { sent, skipped };
  }

  // ---------------------------------------------------------------- heartbeat

  override setListening(listening: boolean): void {
    super.setListening(listening);
    // The heartbeat runs while the server accepts; a drain bounds the rest with `closeTimeout`.
    if (listening && !this.heartbeatTimer) this.startHeartbeat(this.config);
    else if (!listening) this.stopHeartbeat();
  }

  private startHeartbeat(config: C): void {
    this.heartbeatTimer = setInterval(() => this.heartbeat(), config.pingInterval).unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.pongTimer) clearTimeout(this.pongTimer);
    this.heartbeatTimer = undefined;
    this.pongTimer = undefined;
  }

  /** One walk per `pingInterval`: unanswered pings and slow consumers are closed, the rest pinged. */
  private heartbeat(): void {
    const limit = this.config.maxBufferedAmount;
    this.forEachConnection((conn) => {
      const ws = conn.raw;
      if (ws.readyState !== WebSocket.OPEN) return;
      if (this.closeIfStillSlow(conn, limit)) return;
      if (hasFlag(conn, AWAITING_PONG)) {
        // Only reachable when pongTimeout equals pingInterval and this tick beat the pong check.
        this.terminateUnanswered(conn);
        return;
      }
      setFlag(conn, AWAITING_PONG, true);
      this.pingsSent++;
      if (!writeFrame(ws, PING_FRAME)) ws.ping();
    });
    // One timer object for the pool's pong deadline, re-armed after each round of pings.
    if (this.pongTimer) this.pongTimer.refresh();
    else this.pongTimer = setTimeout(() => this.checkPongs(), this.config.pongTimeout).unref();
  }

  /**
   * `pongTimeout` after a heartbeat: whoever did not answer is terminated, except a client over
   * `maxBufferedAmount`, flagged before or not: it stopped reading, so it could not see the ping,
   * and is closed as a slow consumer (1008).
   */
  private checkPongs(): void {
    const limit = this.config.maxBufferedAmount;
    this.forEachConnection((conn) => {
      if (!hasFlag(conn, AWAITING_PONG) || conn.raw.readyState !== WebSocket.OPEN) return;
      if (conn.raw.bufferedAmount > limit) this.closeSlowConsumer(conn);
      else this.terminateUnanswered(conn);
    });
  }

  private closeIfStillSlow(conn: PooledConnection<WebSocket>, limit: number): boolean {
    if (conn.raw.bufferedAmount <= limit) {
      setFlag(conn, OVER_LIMIT, false);
      return false;
    }
    if (!hasFlag(conn, OVER_LIMIT)) {
      setFlag(conn, OVER_LIMIT, true);
      return false;
    }
    this.closeSlowConsumer(conn);
    return true;
  }

  private closeSlowConsumer(conn: PooledConnection<WebSocket>): void {
    this.slowConsumersClosed++;
    conn.closeReason = WS_REMOVE_REASON.slowConsumer;
    this.recordError(WS_ERROR.slowConsumer, undefined, conn);
    // The close frame queues behind the unread data; `ws` destroys the socket after `closeTimeout`.
    conn.raw.close(WS_CLOSE.policyViolation, WS_CLOSE_REASON.slowConsumer);
  }

  private terminateUnanswered(conn: PooledConnection<WebSocket>): void {
    this.pongTimeouts++;
    conn.closeReason = WS_REMOVE_REASON.pongTimeout;
    this.recordTimeout(WS_TIMEOUT.pong, conn);
    conn.raw.terminate();
  }

  // ---------------------------------------------------------------- closing

  /** Idle or first-message timeouts close with 1000; a drain with 1001. */
  protected closeConnection(conn: PooledConnection<WebSocket>, reason: CloseReason): void {
    const ws = conn.raw;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (reason === 'drain') ws.close(WS_CLOSE.goingAway, WS_CLOSE_REASON.shutdown);
    else ws.close(WS_CLOSE.normal, WS_CLOSE_REASON.idle);
  }

  protected destroyConnection(conn: PooledConnection<WebSocket>): void {
    conn.raw.terminate();
  }

  /**
   * Every client, busy or not, gets close 1001 now; handlers in flight still finish. What has not
   * completed the close handshake `closeTimeout` later is terminated and counted as forced.
   */
  protected override drainConnection(conn: PooledConnection<WebSocket>): void {
    // Armed before the first `ws.close()` so it fires ahead of `ws`'s own close timers of the same length.
    this.closeTimer ??= setTimeout(() => this.forceUnclosed(), this.config.closeTimeout);
    conn.closeReason = 'drain';
    this.closeConnection(conn, 'drain');
  }

  private forceUnclosed(): void {
    this.closeTimer = undefined;
    for (const conn of this.values()) {
      if (conn.removed) continue;
      conn.forced = true;
      conn.closeReason = 'forced';
      this.recordTimeout(WS_TIMEOUT.close, conn);
      conn.raw.terminate();
      this.remove(conn, 'forced');
    }
  }

  override destroy(): void {
    this.stopHeartbeat();
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    super.destroy();
  }

  // ---------------------------------------------------------------- metrics

  /**
   * WebSocket families. Pong timeouts, slow consumers closed and oversized messages are not
   * repeated here: each increment of those counters is the same event as
   * `connection_timeouts_total{kind="pong"}`, `errors_total{type="slow_consumer"}` and
   * `errors_total{type="message_too_big"}`, which already carry them.
   */
  override protocolMetrics(): readonly ProtocolMetricFamily[] {
    const closes = new Map<string, number>();
    for (const code of WS_COUNTED_CLOSE_CODES) closes.set(String(code), 0);
    for (const [code, n] of this.closeCodes) {
      const label = closeCodeLabel(code);
      closes.set(label, (closes.get(label) ?? 0) + n);
    }
    return [
      { name: 'unipool_ws_messages_total', help: 'WebSocket messages received and transmitted (a broadcast counts one per recipient).', type: 'counter', samples: countSamples([['receive', this.messagesIn], ['transmit', this.messagesOut]], 'direction') },
      { name: 'unipool_ws_message_bytes_total', help: 'WebSocket message payload bytes received and transmitted.', type: 'counter', samples: countSamples([['receive', this.payloadBytesIn], ['transmit', this.payloadBytesOut]], 'direction') },
      { name: 'unipool_ws_broadcasts_total', help: 'broadcast() calls.', type: 'counter', samples: [{ value: this.broadcasts }] },
      { name: 'unipool_ws_broadcast_skipped_total', help: 'Broadcast recipients skipped because their send buffer was over maxBufferedAmount.', type: 'counter', samples: [{ value: this.broadcastSkipped }] },
      { name: 'unipool_ws_pings_total', help: 'Heartbeat pings sent.', type: 'counter', samples: [{ value: this.pingsSent }] },
      { name: 'unipool_ws_close_total', help: 'Finished WebSocket connections by close code: the one the server sent if it closed first, else the client\'s (1006: no close frame; 3xxx/4xxx: application ranges).', type: 'counter', samples: countSamples(closes, 'code') },
    ];
  }

  override knownLabelValues(): KnownLabelValues {
    return WS_LABEL_VALUES;
  }

  override getMetrics(): WebSocketPoolMetrics {
    return {
      ...super.getMetrics(),
      websocket: {
        messagesIn: this.messagesIn,
        messagesOut: this.messagesOut,
        payloadBytesIn: this.payloadBytesIn,
        payloadBytesOut: this.payloadBytesOut,
        broadcasts: this.broadcasts,
        broadcastSkipped: this.broadcastSkipped,
        pingsSent: this.pingsSent,
        pongTimeouts: this.pongTimeouts,
        slowConsumersClosed: this.slowConsumersClosed,
        oversizedMessages: this.oversizedMessages,
        messagesShed: this.messagesShed,
        closeCodes: Object.fromEntries([...this.closeCodes].map(([code, n]) => [String(code), n])),
      },
    };
  }
}
