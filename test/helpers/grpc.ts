import * as grpc from '@grpc/grpc-js';
import { GrpcConnectionPool, GrpcPoolConfig, GrpcServer, PoolConfig, UsePool, type Application } from '../../src';
import { passGate } from './gate';
import { loadDemoPackage } from '../../samples/multi-protocol/grpc-echo-server';

/** The demo client class, loaded once. */
export const Echo = loadDemoPackage().Echo;

/**
 * demo.Echo whose message picks the outcome: `bad` -> INVALID_ARGUMENT, `missing` -> NOT_FOUND,
 * `boom` -> INTERNAL returned, `throw` -> the handler throws; `gated...` waits for the gate
 * (`closeGate` in ./gate), then is echoed after `delay_ms`; anything else is echoed after `delay_ms`. EchoStream writes `count` replies at once.
 */
@UsePool(GrpcConnectionPool)
export class OutcomeServer extends GrpcServer {
  constructor(@PoolConfig(GrpcPoolConfig, 'grpc') config: GrpcPoolConfig) {
    super(config);
  }

  protected registerServices(server: grpc.Server): void {
    server.addService(Echo.service, {
      Echo: (call: grpc.ServerUnaryCall<{ message: string; delay_ms: number }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const { message, delay_ms: delay } = call.request;
        if (message === 'bad') callback({ code: grpc.status.INVALID_ARGUMENT, details: 'bad request' });
        else if (message === 'missing') callback({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
        else if (message === 'boom') callback({ code: grpc.status.INTERNAL, details: 'it broke' });
        else if (message === 'throw') throw new Error('handler bug');
        else if (message.startsWith('gated')) {
          let cancelled = false;
          call.once('cancelled', () => (cancelled = true));
          void passGate().then(() => {
            if (cancelled) return;
            const timer = setTimeout(() => callback(null, { message }), delay);
            call.once('cancelled', () => clearTimeout(timer));
          });
        } else if (!delay) callback(null, { message });
        else {
          const timer = setTimeout(() => callback(null, { message }), delay);
          call.once('cancelled', () => clearTimeout(timer));
        }
      },
      EchoStream: (call: grpc.ServerWritableStream<{ message: string; count: number }, unknown>) => {
        for (let i = 1; i <= call.request.count; i++) call.write({ message: `${call.request.message} ${i}` });
        call.end();
      },
    });
  }
}

/** What a unary call ended with. */
export interface UnaryOutcome {
  code: grpc.status;
  details: string;
  message?: string;
}

/** Clients made by `echoClient`; `closeClients` closes them all (tests must not leave channels open). */
const clients: grpc.Client[] = [];

/** A demo.Echo client on `port`; each one gets its own channel (and so its own connection). */
export function echoClient(port: number, options: grpc.ChannelOptions = {}, credentials = grpc.credentials.createInsecure()): grpc.Client {
  const client = new Echo(`127.0.0.1:${port}`, credentials, { 'grpc.use_local_subchannel_pool': 1, ...options });
  clients.push(client);
  return client;
}

/** Closes every client `echoClient` made. */
export function closeClients(): void {
  for (const client of clients.splice(0)) client.close();
}

/** Calls `method` (unary) and resolves with its status, never rejects. */
export function unary(client: grpc.Client, method: string, request: object, options: grpc.CallOptions = {}): Promise<UnaryOutcome> {
  return new Promise((resolve) => {
    const fn = (client as unknown as Record<string, (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<{ message: string }>) => void>)[method];
    fn.call(client, request, new grpc.Metadata(), options, (err, res) => {
      if (err) resolve({ code: err.code, details: err.details });
      else resolve({ code: grpc.status.OK, details: '', message: res?.message });
    });
  });
}

/** The port the app's first server listens on. */
export function portOf(app: Application): number {
  const addr = app.servers[0].address();
  if (!addr) throw new Error('server is not listening');
  return addr.port;
}

/** Resolves when `predicate` holds, checking every few ms; rejects after `timeoutMs` (a generous bound, not a sleep). */
export async function until(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Starts `app` expecting the boot to fail; resolves with the error (rejects if it started). */
export async function bootError(app: Application): Promise<unknown> {
  try {
    await app.start();
  } catch (err) {
    return err;
  }
  await app.stop({ force: true });
  throw new Error('expected the boot to fail');
}
