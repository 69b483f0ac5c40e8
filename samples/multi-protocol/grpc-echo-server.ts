import * as grpc from '@grpc/grpc-js';
import { GrpcConnectionPool, GrpcPoolConfig, GrpcServer, PoolConfig, UsePool } from '../../src';
import { loadDemoPackage } from './demo-proto';
import { MAX_SLOW_MS } from './demo-routes';

export { DEMO_PROTO_PATH, loadDemoPackage } from './demo-proto';

/** Interval (ms) of EchoStream when the request gives none. */
const DEFAULT_STREAM_INTERVAL_MS = 100;

interface EchoRequest {
  message: string;
  delay_ms: number;
}
interface EchoStreamRequest {
  message: string;
  count: number;
  interval_ms: number;
}

/** `demo.Echo/Echo`: answers with the message after `delay_ms` (at most MAX_SLOW_MS). */
function echo(call: grpc.ServerUnaryCall<EchoRequest, unknown>, callback: grpc.sendUnaryData<unknown>): void {
  const { message, delay_ms: delay } = call.request;
  if (delay > MAX_SLOW_MS) {
    callback({ code: grpc.status.INVALID_ARGUMENT, details: `delay_ms must be at most ${MAX_SLOW_MS}` });
    return;
  }
  if (delay === 0) {
    callback(null, { message });
    return;
  }
  const timer = setTimeout(() => callback(null, { message }), delay);
  call.once('cancelled', () => clearTimeout(timer));
}

/** `demo.Echo/EchoStream`: `count` replies (0: until the client cancels), one every `interval_ms`. */
function echoStream(call: grpc.ServerWritableStream<EchoStreamRequest, unknown>): void {
  const { message, count } = call.request;
  const interval = call.request.interval_ms || DEFAULT_STREAM_INTERVAL_MS;
  let sent = 0;
  const timer = setInterval(() => {
    call.write({ message: `${message} ${++sent}` });
    if (count > 0 && sent >= count) {
      clearInterval(timer);
      call.end();
    }
  }, interval);
  call.once('cancelled', () => clearInterval(timer));
}

/** The sample's gRPC server: `demo.Echo` (unary Echo with `delay_ms`, server-streaming EchoStream) plus `grpc.health.v1.Health`. */
@UsePool(GrpcConnectionPool)
export class GrpcEchoServer extends GrpcServer {
  constructor(@PoolConfig(GrpcPoolConfig, 'grpc') config: GrpcPoolConfig) {
    super(config);
  }

  protected registerServices(server: grpc.Server): void {
    server.addService(loadDemoPackage().Echo.service, { Echo: echo, EchoStream: echoStream });
  }
}
