import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { PooledConnection } from '../../core/pooled-connection';
import type { GrpcConnectionPool } from './grpc-connection-pool';

/** Finds the tracked connection a call arrived on, from the peer address grpc-js reports. */
export type ConnectionLookup = (remoteAddress: string | undefined, remotePort: number | undefined) => PooledConnection<Socket> | undefined;

/**
 * The server interceptor that measures every call: it starts a unit of work on the call's
 * connection, counts messages both ways, and at the end records the status code and latency
 * per method and in the pool (server faults count as errors, client mistakes do not).
 */
export class GrpcCallRecorder {
  constructor(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    private readonly pool: GrpcConnectionPool<any>,
    private readonly connectionOf: ConnectionLookup,
  ) {}

  /** The grpc-js server interceptor; put it first so it sees the innermost call. */
  readonly interceptor: grpc.ServerInterceptor = (method, call) => {
    const pool = this.pool;
    const stats = pool.methodStats(method.path);
    const info = call.getConnectionInfo();
    const conn = this.connectionOf(info.remoteAddress, info.remotePort);
    const started = conn === undefined ? performance.now() : pool.beginWork(conn);
    stats.inFlight++;
    let code = -1;
    let finished = false;

    // grpc-js sends some statuses itself (deadline exceeded, message too large) straight from
    // the innermost call, past every interceptor's responder; hooking that call's own
    // sendStatus is the one place that sees them all. The first status sent is the one that counts.
    const sendStatus = call.sendStatus;
    call.sendStatus = function (this: grpc.ServerInterceptingCallInterface, status) {
      if (code < 0) code = status.code;
      sendStatus.call(this, status);
    };

    // grpc-js calls onCancel once per call, after the status went out or when the stream died.
    const finish = (): void => {
      if (finished) return;
      finished = true;
      if (code < 0) code = grpc.status.CANCELLED;
      const now = performance.now(); // one read serves the method's figures and the pool's
      const ms = now - started;
      const fault = stats.finish(code, ms);
      if (conn === undefined) pool.recordLatency(ms, fault);
      else pool.endWork(conn, started, fault, now);
    };

    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => {
            stats.messagesIn++;
            if (conn !== undefined) conn.messages++;
            nextMessage(message);
          },
          onCancel: finish,
        }),
      sendMessage: (message, next) => {
        stats.messagesOut++;
        if (conn !== undefined) conn.messages++;
        next(message);
      },
    });
  };
}
