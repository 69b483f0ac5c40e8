import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { PooledConnection } from '../../core/pooled-connection';
import type { Waiter } from '../../overload/admission-queue';
import type { ShedReason } from '../../overload/shed-reason';
import type { WorkPriority } from '../../overload/work-priority';
import type { GrpcCallHead } from './grpc-call-priority';
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

/** Ranks a call under overload (`GrpcServer.priority`). */
export type CallPriority = (call: GrpcCallHead) => WorkPriority;

/**
 * Trailers of a shed call: `grpc-retry-pushback-ms`, gRPC's Retry-After (gRFC A6: a client with
 * a retry policy waits that long before its next attempt instead of its own backoff), from
 * `overload.shed.retryAfter`; none when 0. Built once per value (grpc-js copies it into the
 * trailers it writes, so the shared object is never changed).
 */
const pushbacks = new Map<number, grpc.Metadata | null>();
function pushbackTrailers(seconds: number): grpc.Metadata | null {
  let metadata = pushbacks.get(seconds);
  if (metadata === undefined) {
    metadata = null;
    if (seconds > 0) {
      metadata = new grpc.Metadata();
      metadata.set('grpc-retry-pushback-ms', String(seconds * 1000));
    }
    pushbacks.set(seconds, metadata);
  }
  return metadata;
}

/** `details` of a shed call's status, by reason: built once, never per call. */
const SHED_DETAILS: Readonly<Record<ShedReason, string>> = {
  limit: 'server overloaded (limit): concurrency limit reached, try again later',
  queue_full: 'server overloaded (queue_full): the admission queue is full, try again later',
  queue_timeout: 'server overloaded (queue_timeout): waited too long for admission, try again later',
  pressure: 'server overloaded (pressure): shedding work, try again later',
};

/** Where a call stands with admission. */
const enum Phase {
  /** Its metadata has not reached this layer yet. */
  New,
  /** Admitted: counted as a unit of work (or a stream) of the pool; its handler may run. */
  Running,
  /** Waiting in the admission queue; its metadata is held back, so grpc-js reads nothing yet. */
  Queued,
  /** Shed, or its client gave up while queued: never a request of the pool. */
  Refused,
}

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
    // grpc-js's own deadline status for a queued call: out of the queue now, not at onCancel
    // (a tick later), so a slot that frees meanwhile never goes to a call already answered.
    recording.leaveQueue();
  }
  Object.getPrototypeOf(this).sendStatus.call(this, status);
}

/**
 * The recording layer of one call: admits it (when the pool's `overload` block is on), counts
 * messages both ways, tells the statuses the server's code sent (they pass through here on their
 * way down) from those grpc-js sent itself, and at the end records the status and duration per
 * method and in the pool. One object per call: it is its own listener, its own `GrpcCallHead`
 * for `priority()` and its own admission `Waiter`, so no closure or record is allocated.
 *
 * Admission happens when the request metadata arrives, before anything above sees the call: a
 * call shed there is answered with `overload.shed.grpcStatus` and its handler never runs; a
 * queued call's metadata is held back (grpc-js reads no message until the handler asks, so the
 * handler waits too) and passed up when it is admitted.
 */
class RecordingCall extends grpc.ServerInterceptingCall implements Waiter, GrpcCallHead {
  /** The first status code sent; -1 until one is. */
  code = -1;
  /** Whether that status came from the server's code (handler, interceptors above) rather than from grpc-js. */
  fromServer = false;
  /** True while a status or message of the server's code is on its way down through this layer. */
  relaying = false;
  /** The request metadata, once it arrived (what `priority()` reads; held back while queued). */
  metadata!: grpc.Metadata;
  waitPrev: Waiter | null = null;
  waitNext: Waiter | null = null;
  waitingSince = -1;
  private phase = Phase.New;
  /** Whether the pool admitted work when the call arrived (then `closeKeepAlive` is looked at when it ends). */
  private guarded = false;
  private upstream: UpstreamListener | undefined;
  private finished = false;
  /** When the call arrived (`performance.now()`): its latency, queue wait included, counts from here. */
  private readonly started = performance.now();

  constructor(
    below: BelowCall,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    private readonly pool: GrpcConnectionPool<any>,
    private readonly stats: GrpcMethodStats,
    private readonly conn: PooledConnection<Socket> | undefined,
    private readonly priority: CallPriority,
  ) {
    super(below);
    below[RECORDING] = this;
    below.sendStatus = sendStatusBelow;
  }

  /** The method path (`GrpcCallHead`). */
  get path(): string {
    return this.stats.path;
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

  /** Comes first, once, right when the call starts: admission is decided here. */
  onReceiveMetadata(metadata: grpc.Metadata): void {
    this.metadata = metadata;
    this.stats.inFlight++;
    const pool = this.pool;
    // Overload protection off: this read is all it costs a call.
    if (!pool.admitsWork) {
      this.run();
      return;
    }
    this.guarded = true;
    const priority = this.rank();
    if (this.stats.streaming) {
      const reason = pool.admitStream(priority);
      if (reason === undefined) this.run();
      else this.shed(reason);
      return;
    }
    const outcome = pool.admitWork(this, priority, this.started);
    if (outcome === 'admit') this.run();
    else if (outcome === 'queued') this.phase = Phase.Queued;
    else this.shed(outcome);
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

  // ---- the admission waiter

  /**
   * Admitted from the queue: the call runs now (its latency still counts from its arrival). A
   * client that went away in the tick before (its cancel is told a tick later) leaves a call that
   * runs no handler (grpc-js reads nothing more of a closed stream) and ends as a CANCELLED request.
   */
  onAdmitted(_now: number): void {
    this.run();
  }

  /** Shed from the queue (timeout, evicted from a full one, the pool closing). */
  onShed(reason: ShedReason, _now: number): void {
    this.shed(reason);
  }

  /** A queued call that got its status (grpc-js's deadline) or lost its client leaves the queue. */
  leaveQueue(): void {
    if (this.phase !== Phase.Queued) return;
    this.phase = Phase.Refused;
    this.pool.cancelWork(this);
  }

  /** Begins the call's unit of work (or stream) and lets the layers above, then the handler, see it. */
  private run(): void {
    this.phase = Phase.Running;
    const conn = this.conn;
    if (conn !== undefined) {
      if (this.stats.streaming) this.pool.beginStream(conn, this.started);
      else this.pool.beginWork(conn, this.started);
    }
    this.upstream?.onReceiveMetadata(this.metadata);
  }

  /** The call's priority from `GrpcServer.priority`; one that throws ranks the call normal (and counts a `priority` error). */
  private rank(): WorkPriority {
    try {
      return this.priority(this);
    } catch (err) {
      this.pool.recordError('priority', err instanceof Error ? err : new Error(String(err)), this.conn);
      return 'normal';
    }
  }

  /** Answers the call with the shed status (read now: a live update applies), before anything above saw it. */
  private shed(reason: ShedReason): void {
    this.phase = Phase.Refused;
    const shed = this.pool.overloadConfig.shed;
    const code = grpc.status[shed.grpcStatus];
    // Straight down, past this layer's `sendStatus`: not relayed from the server's code, so
    // `sendStatusBelow` records it as no fault, whatever the code (UNAVAILABLE included).
    super.sendStatus({ code, details: SHED_DETAILS[reason], metadata: pushbackTrailers(shed.retryAfter) });
  }

  private finish(): void {
    if (this.finished || this.phase === Phase.New) return;
    this.finished = true;
    const now = performance.now(); // one read serves the method's figures and the pool's
    const ms = now - this.started;
    if (this.code < 0) this.code = this.deadlinePassed(ms) ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED;
    const { pool, conn } = this;
    const observer = pool.observer;
    this.leaveQueue();
    if (this.phase === Phase.Refused) {
      // Shed, or its client went away while it was queued: the method counts the status its
      // client saw; the pool counted the shed unit in its overload figures, never as a request.
      this.stats.finish(this.code, ms, false);
      if (observer !== undefined) observer.rpcCall(pool, this.stats.service, this.stats.method, this.code, ms / 1000);
      return;
    }
    // Only the server's own faults count as errors: a status grpc-js sent itself answers the
    // client's doing (its deadline, a malformed header or message), never a handler's.
    const fault = this.fromServer && SERVER_FAULT_CODES.has(this.code);
    const { streaming } = this.stats;
    this.stats.finish(this.code, ms, fault);
    if (conn === undefined) {
      if (streaming) pool.recordStream(ms, fault);
      else pool.recordLatency(ms, fault);
    } else {
      if (streaming) pool.endStream(conn, this.started, fault, now);
      else pool.endWork(conn, this.started, fault, now);
      // Graded action closeKeepAlive: the connection says GOAWAY once this call is answered.
      if (this.guarded && pool.closesKeepAlive) pool.closeForOverload(conn);
    }
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
 * The server interceptor that admits and measures every call: a unit of work on the call's
 * connection (a unary call), or a stream (any streaming call, measured apart from requests),
 * messages both ways, and at the end the status code and duration per method and in the pool.
 * Server faults count as errors; client-caused statuses and shed calls do not. With overload
 * protection on, each call is admitted (`pool.admitWork`, `pool.admitStream` for streams) with
 * the priority `priority` gives it, before its handler runs.
 */
export class GrpcCallRecorder {
  constructor(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    private readonly pool: GrpcConnectionPool<any>,
    private readonly connectionOf: ConnectionLookup,
    private readonly priority: CallPriority,
  ) {}

  /** The grpc-js server interceptor; put it first so it wraps the innermost call. */
  readonly interceptor: grpc.ServerInterceptor = (method, call) => {
    const info = call.getConnectionInfo();
    return new RecordingCall(call, this.pool, this.pool.methodStats(method.path), this.connectionOf(info.remoteAddress, info.remotePort), this.priority);
  };
}
