import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { PooledConnection } from '../../core/pooled-connection';
import type { GrpcConnectionPool } from './grpc-connection-pool';
import { SERVER_FAULT_CODES, type GrpcMethodStats } from './grpc-method-stats';

/** Finds the tracked connection a call arrived on, from the peer address grpc-js reports. */
export type ConnectionLookup = (remoteAddress: string | undefined, remotePort: number | undefined) => PooledConnection<Socket> | undefined;

/** What grpc-js hands a server interceptor's call from above (the listener of the next layer up). */
type UpstreamListener = Parameters<grpc.ServerInterceptingCall['start']>[0];

/** A status as a call sends it. */
type SentStatus = Parameters<grpc.ServerInterceptingCall['sendStatus']>[0];

/**
 * A cancel that reaches the server with less than this left of the call's deadline (ms, plus
 * `DEADLINE_SLACK_SHARE` of the call's timeout) is the client's deadline. grpc-js computes the
 * deadline from `grpc-timeout` when the HEADERS frame arrives, but a client computes that header
 * before the frame leaves, and a client short of CPU or with calls queued on its channel sends it
 * late (grpcio on a loaded machine: 80 ms into a 200 ms timeout), so its cancel comes that much
 * before the deadline the server knows. Both codes are the client's doing; a real cancel this
 * close to the deadline is rare (hedged calls are cancelled long before theirs). The slack is
 * capped at `DEADLINE_SLACK_MAX_MS`, so a cancel seconds before a long deadline stays CANCELLED.
 */
const DEADLINE_SLACK_MS = 100;
/** See `DEADLINE_SLACK_MS`. */
const DEADLINE_SLACK_SHARE = 0.25;
/** See `DEADLINE_SLACK_MS`. */
const DEADLINE_SLACK_MAX_MS = 250;

/** Where the recording layer of a call hangs off the call under it, for `sendStatusBelow`. */
const RECORDING = Symbol('unipool.grpcRecording');

type BelowCall = grpc.ServerInterceptingCallInterface & { [RECORDING]?: RecordingCall };

/**
 * Replaces `sendStatus` of the call under the recording layer. grpc-js sends some statuses itself
 * (deadline exceeded, a malformed `grpc-timeout`, a message too large or that does not parse)
 * straight from its innermost call, past every interceptor; this is the one place that sees
 * every status. The first status sent is the one that counts. One shared function, so a call
 * costs no closure.
 */
function sendStatusBelow(this: BelowCall, status: SentStatus): void {
  const recording = this[RECORDING];
  if (recording !== undefined && recording.code < 0) {
    recording.code = status.code;
    // From the handler (or an interceptor above) or from a send the handler made: the server's.
    recording.fromServer = recording.relaying;
  }
  Object.getPrototypeOf(this).sendStatus.call(this, status);
}

/**
 * The recording layer of one call: counts messages both ways, tells the statuses the server's
 * code sent (they pass through here on their way down) from those grpc-js sent itself, and at
 * the end records the status and duration per method and in the pool. One object per call: it
 * is its own listener, so no closure is allocated.
 */
class RecordingCall extends grpc.ServerInterceptingCall {
  /** The first status code sent; -1 until one is. */
  code = -1;
  /** Whether that status came from the server's code (handler, interceptors above) rather than from grpc-js. */
  fromServer = false;
  /** True while a status or message of the server's code is on its way down through this layer. */
  relaying = false;
  private upstream: UpstreamListener | undefined;
  private finished = false;
  private readonly started: number;

  constructor(
    below: BelowCall,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    private readonly pool: GrpcConnectionPool<any>,
    private readonly stats: GrpcMethodStats,
    private readonly conn: PooledConnection<Socket> | undefined,
  ) {
    super(below);
    below[RECORDING] = this;
    below.sendStatus = sendStatusBelow;
    if (conn === undefined) this.started = performance.now();
    else this.started = stats.streaming ? pool.beginStream(conn) : pool.beginWork(conn);
    stats.inFlight++;
  }

  override start(listener: UpstreamListener): void {
    this.upstream = listener;
    super.start(this);
  }

  override sendMessage(message: unknown, callback: () => void): void {
    this.stats.messagesOut++;
    if (this.conn !== undefined) this.conn.messages++;
    // grpc-js fails a message it cannot serialize or that is too large from below, at once.
    this.relaying = true;
    super.sendMessage(message, callback);
    this.relaying = false;
  }

  override sendStatus(status: SentStatus): void {
    this.relaying = true;
    super.sendStatus(status);
    this.relaying = false;
  }

  // ---- the listener grpc-js calls with what arrives, passed on up

  onReceiveMetadata(metadata: grpc.Metadata): void {
    this.upstream?.onReceiveMetadata(metadata);
  }

  onReceiveMessage(message: unknown): void {
    this.stats.messagesIn++;
    if (this.conn !== undefined) this.conn.messages++;
    this.upstream?.onReceiveMessage(message);
  }

  onReceiveHalfClose(): void {
    this.upstream?.onReceiveHalfClose();
  }

  /** grpc-js calls it once per call, after the status went out or when the stream died. */
  onCancel(): void {
    this.finish();
    this.upstream?.onCancel();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const now = performance.now(); // one read serves the method's figures and the pool's
    const ms = now - this.started;
    if (this.code < 0) this.code = this.deadlinePassed(ms) ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED;
    // Only the server's own faults count as errors: a status grpc-js sent itself answers the
    // client's doing (its deadline, a malformed header or message), never a handler's.
    const fault = this.fromServer && SERVER_FAULT_CODES.has(this.code);
    const { pool, conn } = this;
    const { streaming } = this.stats;
    this.stats.finish(this.code, ms, fault);
    if (conn === undefined) {
      if (streaming) pool.recordStream(ms, fault);
      else pool.recordLatency(ms, fault);
    } else if (streaming) pool.endStream(conn, this.started, fault, now);
    else pool.endWork(conn, this.started, fault, now);
    const observer = pool.observer;
    if (observer !== undefined) observer.rpcCall(pool, this.stats.service, this.stats.method, this.code, ms / 1000);
  }

  /** A call that ended with no status: did the client give up because its deadline came? */
  private deadlinePassed(elapsedMs: number): boolean {
    const deadline = this.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    if (!Number.isFinite(at)) return false;
    const remaining = at - Date.now();
    return remaining <= Math.min(DEADLINE_SLACK_MS + DEADLINE_SLACK_SHARE * (elapsedMs + remaining), DEADLINE_SLACK_MAX_MS);
  }
}

/**
 * The server interceptor that measures every call: a unit of work on the call's connection
 * (a unary call), or a stream (any streaming call, measured apart from requests), messages both
 * ways, and at the end the status code and duration per method and in the pool. Server faults
 * count as errors; client-caused statuses do not.
 */
export class GrpcCallRecorder {
  constructor(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    private readonly pool: GrpcConnectionPool<any>,
    private readonly connectionOf: ConnectionLookup,
  ) {}

  /** The grpc-js server interceptor; put it first so it wraps the innermost call. */
  readonly interceptor: grpc.ServerInterceptor = (method, call) => {
    const info = call.getConnectionInfo();
    return new RecordingCall(call, this.pool, this.pool.methodStats(method.path), this.connectionOf(info.remoteAddress, info.remotePort));
  };
}
