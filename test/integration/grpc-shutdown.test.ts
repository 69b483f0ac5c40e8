import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { expect } from 'chai';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { ConnectionPoolEvent, type Application, type GrpcConnectionPool } from '../../src';
import { createTestApp } from '../../src/testing';
import { GrpcEchoServer } from '../../samples/multi-protocol/grpc-echo-server';
import { closeGate } from '../helpers/gate';
import { OutcomeServer, closeClients, echoClient, portOf, unary, until, type UnaryOutcome } from '../helpers/grpc';

const healthPackage = grpc.loadPackageDefinition(protoLoader.loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true })) as unknown as {
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
};
const Health = healthPackage.grpc.health.v1.Health;

type HealthClient = grpc.Client & {
  Check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
  Watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};

describe('gRPC server: health and graceful shutdown', () => {
  let app: Application | undefined;
  const healthClients: grpc.Client[] = [];

  afterEach(async () => {
    closeClients();
    for (const c of healthClients.splice(0)) c.close();
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  async function start(shutdownTimeout: number, server: typeof GrpcEchoServer | typeof OutcomeServer = GrpcEchoServer): Promise<{ app: Application; pool: GrpcConnectionPool; port: number }> {
    app = createTestApp({ servers: [server], config: { shutdown: { timeout: shutdownTimeout } } });
    await app.start();
    return { app, pool: app.servers[0].pool as GrpcConnectionPool, port: portOf(app) };
  }

  function healthClient(port: number): HealthClient {
    const client = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as HealthClient;
    healthClients.push(client);
    return client;
  }

  function check(client: HealthClient, service: string): Promise<string> {
    return new Promise((resolve) => client.Check({ service }, (err, res) => resolve(err ? grpc.status[err.code] : (res?.status ?? '?'))));
  }

  it('serves grpc.health.v1 Check for "" and every service; Watch sees SERVING -> NOT_SERVING at shutdown and then ends', async () => {
    const { app: running, port } = await start(5000);
    const client = healthClient(port);
    expect(await check(client, '')).to.equal('SERVING');
    expect(await check(client, 'demo.Echo')).to.equal('SERVING');
    expect(await check(client, 'no.Such')).to.equal('NOT_FOUND');

    const seen: string[] = [];
    const watch = client.Watch({ service: '' });
    const ended = new Promise<grpc.status>((resolve) => {
      watch.on('status', (s: grpc.StatusObject) => resolve(s.code));
      watch.on('error', () => {});
    });
    watch.on('data', (m: { status: string }) => seen.push(m.status));
    await until(() => seen.length > 0, 5000, 'first Watch message');
    expect(seen).to.deep.equal(['SERVING']);

    const result = await running.stop();
    expect(await ended).to.equal(grpc.status.OK);
    expect(seen).to.deep.equal(['SERVING', 'NOT_SERVING']);
    expect(result.forced).to.equal(0);
    expect(result.ok).to.equal(true);
  });

  it('lets 50 in-flight 200 ms calls finish during shutdown while new calls get UNAVAILABLE', async () => {
    const { app: running, pool, port } = await start(10_000, OutcomeServer);
    const clients = Array.from({ length: 5 }, () => echoClient(port));
    // Held at a gate until the drain has started, so none can finish before all 50 are in flight.
    const release = closeGate();
    let outcomes: UnaryOutcome[];
    let late: UnaryOutcome;
    let fresh: UnaryOutcome;
    let result: Awaited<ReturnType<typeof running.stop>>;
    try {
      const calls = Array.from({ length: 50 }, (_, i) => unary(clients[i % 5], 'Echo', { message: `gated m${i}`, delay_ms: 200 }));
      await until(() => pool.getMetrics().requests.inFlight === 50, 10_000, '50 calls in flight');

      const drainStarted = new Promise<void>((resolve) => pool.events.once(ConnectionPoolEvent.DrainStarted, () => resolve()));
      const stopping = running.stop();
      await drainStarted;
      late = await unary(clients[0], 'Echo', { message: 'late' }, { deadline: Date.now() + 5000 });
      fresh = await unary(echoClient(port), 'Echo', { message: 'fresh' }, { deadline: Date.now() + 5000 });
      release();
      outcomes = await Promise.all(calls);
      result = await stopping;
    } finally {
      release();
    }

    expect(outcomes.filter((o) => o.code === grpc.status.OK)).to.have.length(50);
    expect(outcomes.map((o) => o.message)).to.deep.equal(Array.from({ length: 50 }, (_, i) => `gated m${i}`));
    expect(late.code).to.equal(grpc.status.UNAVAILABLE);
    expect(fresh.code).to.equal(grpc.status.UNAVAILABLE);
    expect(result).to.include({ ok: true, forced: 0, graceful: 5 });
    expect(result.durationMs).to.be.lessThan(9000);
    expect(pool.getMethod('/demo.Echo/Echo')?.codes).to.deep.equal({ OK: 50 });
  });

  it('cancels a never-ending stream at the shutdown deadline and counts its connection as forced', async () => {
    const { app: running, pool, port } = await start(300);
    const client = echoClient(port) as grpc.Client & { EchoStream(req: object): grpc.ClientReadableStream<{ message: string }> };
    const stream = client.EchoStream({ message: 'tick', count: 0, interval_ms: 20 });
    let received = 0;
    const failed = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    stream.on('data', () => received++);
    await until(() => received >= 2, 5000, 'stream messages');

    const result = await running.stop();
    const err = await failed;
    expect(result.forced).to.equal(1);
    expect(result.graceful).to.equal(0);
    expect(result.ok).to.equal(false);
    const drain = result.phases.find((p) => p.phase === 'drain');
    expect(drain?.durationMs).to.be.at.least(250).and.below(3000);
    expect(err.code).to.be.oneOf([grpc.status.UNAVAILABLE, grpc.status.CANCELLED]);
    await until(() => pool.getMethod('demo.Echo', 'EchoStream')?.calls === 1, 5000, 'stream recorded');
    const stats = pool.getMethod('demo.Echo', 'EchoStream');
    expect(stats?.codes).to.deep.equal({ CANCELLED: 1 });
    expect(stats?.messagesOut).to.be.at.least(2);
  });
});
