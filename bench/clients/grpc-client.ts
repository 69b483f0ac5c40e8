/**
 * gRPC load generator in its own process: on `run` {port, inflight, seconds}, one channel
 * keeps `inflight` unary `demo.Echo/Echo` calls open for `seconds` (a new call as each one
 * ends) and replies `result` with completed calls per second.
 */
import * as grpc from '@grpc/grpc-js';
import { loadDemoPackage } from '../../samples/multi-protocol/demo-proto';
import { onParentMessage, toParent } from '../lib/worker';

const Echo = loadDemoPackage().Echo;
const clients = new Map<number, grpc.Client>();

function clientFor(port: number): grpc.Client {
  let client = clients.get(port);
  if (!client) {
    client = new Echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    clients.set(port, client);
  }
  return client;
}

function load(client: grpc.Client, inflight: number, seconds: number): Promise<{ ok: number; failed: number; seconds: number }> {
  const call = (client as unknown as { Echo: (req: object, cb: (err: grpc.ServiceError | null) => void) => void }).Echo.bind(client);
  return new Promise((resolve) => {
    let ok = 0;
    let failed = 0;
    let open = 0;
    let running = true;
    const t0 = process.hrtime.bigint();
    const one = (): void => {
      open++;
      call({ message: 'hello' }, (err) => {
        open--;
        if (err) failed++;
        else ok++;
        if (running) one();
        else if (open === 0) resolve({ ok, failed, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
      });
    };
    for (let i = 0; i < inflight; i++) one();
    setTimeout(() => {
      running = false;
    }, seconds * 1000);
  });
}

onParentMessage(async (msg) => {
  if (msg.type !== 'run') return;
  const r = await load(clientFor(msg.port as number), msg.inflight as number, msg.seconds as number);
  await toParent({ type: 'result', rps: r.ok / r.seconds, ok: r.ok, failed: r.failed });
}, () => {
  for (const c of clients.values()) c.close();
});
void toParent({ type: 'ready' });
