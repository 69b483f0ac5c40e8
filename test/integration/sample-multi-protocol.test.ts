import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as https from 'node:https';
import { join } from 'node:path';
import WebSocket from 'ws';
import { REPO_ROOT, portZeroSampleConfig, startSample, waitForOutput, writeTempConfig, type SampleProcess } from '../helpers/sample-process';
import { request, type Reply } from '../helpers/http-fixtures';
import { run } from '../helpers/http2-fixtures';

const SCRIPT = 'dist/samples/multi-protocol/main.js';

type EchoClient = grpc.Client & {
  Echo(req: { message: string; delay_ms?: number }, cb: (err: grpc.ServiceError | null, reply?: { message: string }) => void): void;
};
type HealthClient = grpc.Client & {
  Check(req: { service: string }, cb: (err: grpc.ServiceError | null, reply?: { status: string }) => void): void;
};

const demo = grpc.loadPackageDefinition(protoLoader.loadSync(join(REPO_ROOT, 'samples/multi-protocol/demo.proto'), { keepCase: true })) as unknown as {
  demo: { Echo: new (address: string, creds: grpc.ChannelCredentials) => EchoClient };
};
const health = grpc.loadPackageDefinition(
  protoLoader.loadSync(join(REPO_ROOT, 'node_modules/grpc-health-check/proto/health/v1/health.proto'), { enums: String }),
) as unknown as { grpc: { health: { v1: { Health: new (address: string, creds: grpc.ChannelCredentials) => HealthClient } } } };

function httpsGet(port: number, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path, rejectUnauthorized: false, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

function echo(client: EchoClient, message: string, delayMs = 0): Promise<string> {
  return new Promise((resolve, reject) => client.Echo({ message, delay_ms: delayMs }, (err, reply) => (err ? reject(err) : resolve(reply!.message))));
}

/** Ports of every endpoint the sample printed. */
async function endpoints(sample: SampleProcess): Promise<Record<'http' | 'https' | 'grpc' | 'ws' | 'http2' | 'admin', number>> {
  await waitForOutput(sample, /admin\s+AdminServer listening on http:\/\/127\.0\.0\.1:\d+/);
  const out = sample.stdout();
  const port = (re: RegExp): number => Number(re.exec(out)![1]);
  return {
    http: port(/http\s+HttpApiServer listening on 127\.0\.0\.1:(\d+)/),
    https: port(/https\s+HttpsApiServer listening on 127\.0\.0\.1:(\d+)/),
    grpc: port(/grpc\s+GrpcEchoServer listening on 127\.0\.0\.1:(\d+)/),
    ws: port(/ws\s+WsEchoServer listening on 127\.0\.0\.1:(\d+)/),
    http2: port(/http2\s+Http2ApiServer listening on 127\.0\.0\.1:(\d+)/),
    admin: port(/admin\s+AdminServer listening on http:\/\/127\.0\.0\.1:(\d+)/),
  };
}

interface StatusPool {
  protocol: string;
  metrics: { active: number; requests: { inFlight: number } };
}

describe('samples/multi-protocol as a process (npm start)', function () {
  this.timeout(60_000);
  let sample: SampleProcess | undefined;
  const clients: grpc.Client[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    if (sample && sample.child.exitCode === null) {
      sample.child.kill('SIGKILL');
      await sample.exited;
    }
    sample = undefined;
  });

  it('serves every endpoint of DESIGN.md section 5: HTTP, HTTPS, gRPC + health, WebSocket echo, HTTP/2 (curl --http2 -k, and HTTP/1.1 on the same port), admin', async () => {
    sample = startSample(SCRIPT, writeTempConfig(portZeroSampleConfig()));
    const port = await endpoints(sample);

    expect((await request(port.http, '/')).body).to.equal('hello');
    expect((await request(port.http, '/slow?ms=50')).status).to.equal(200);
    expect((await request(port.http, '/slow?ms=abc')).status).to.equal(400);
    expect((await httpsGet(port.https, '/')).body).to.equal('hello');
    expect((await httpsGet(port.https, '/slow?ms=20')).status).to.equal(200);
    const h2 = await run('curl', ['--http2', '-k', '-sS', '-w', ' %{http_version}', `https://127.0.0.1:${port.http2}/`]);
    expect(h2.stdout).to.equal('hello 2');
    const h2slow = await run('curl', ['--http2', '-k', '-sS', '-w', ' %{http_version}', `https://127.0.0.1:${port.http2}/slow?ms=20`]);
    expect(h2slow.stdout).to.equal('slept 20 ms\n 2');
    const h1 = await run('curl', ['--http1.1', '-k', '-sS', '-w', ' %{http_version}', `https://127.0.0.1:${port.http2}/`]);
    expect(h1.stdout).to.equal('hello 1.1');

    const client = new demo.demo.Echo(`127.0.0.1:${port.grpc}`, grpc.credentials.createInsecure());
    clients.push(client);
    expect(await echo(client, 'hi', 10)).to.equal('hi');
    const hc = new health.grpc.health.v1.Health(`127.0.0.1:${port.grpc}`, grpc.credentials.createInsecure());
    clients.push(hc);
    const status = await new Promise<string>((resolve, reject) => hc.Check({ service: '' }, (err, r) => (err ? reject(err) : resolve(r!.status))));
    expect(status).to.equal('SERVING');

    const ws = new WebSocket(`ws://127.0.0.1:${port.ws}/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('ping from the test');
    expect(await echoed).to.equal('ping from the test');

    expect((await request(port.admin, '/healthz')).status).to.equal(200);
    expect((await request(port.admin, '/readyz')).status).to.equal(200);
    const metrics = (await request(port.admin, '/metrics')).body;
    for (const protocol of ['http', 'https', 'grpc', 'ws', 'http2']) {
      // The sample's sections are named after their protocols, and so are its pools.
      expect(metrics).to.match(new RegExp(`unipool_connections_total\\{protocol="${protocol}",pool="${protocol}"\\} [1-9]`));
    }
    const report = JSON.parse((await request(port.admin, '/status')).body) as { pools: StatusPool[] };
    expect(report.pools.map((p) => p.protocol).sort()).to.deep.equal(['grpc', 'http', 'http2', 'https', 'ws']);
    expect(report.pools.find((p) => p.protocol === 'ws')!.metrics.active).to.equal(1);
    const grpcStatus = report.pools.find((p) => p.protocol === 'grpc')!.metrics as unknown as {
      grpc: { services: Array<{ name: string; methods: Array<{ name: string }> }>; methods: Array<{ path: string; calls: number; codes: Record<string, number> }> };
    };
    expect(grpcStatus.grpc.services.find((x) => x.name === 'demo.Echo')!.methods.map((m) => m.name)).to.have.members(['Echo', 'EchoStream']);
    expect(grpcStatus.grpc.methods.find((m) => m.path === '/demo.Echo/Echo')).to.deep.include({ calls: 1, codes: { OK: 1 } });
    ws.close();
  });

  it('drains in-flight work on every protocol on SIGTERM, loses none, and exits 0', async () => {
    sample = startSample(SCRIPT, writeTempConfig(portZeroSampleConfig()));
    const port = await endpoints(sample);
    const client = new demo.demo.Echo(`127.0.0.1:${port.grpc}`, grpc.credentials.createInsecure());
    clients.push(client);
    const ws = new WebSocket(`ws://127.0.0.1:${port.ws}/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const wsClosed = new Promise<number>((resolve) => ws.once('close', resolve));

    const inflight = [
      request(port.http, '/slow?ms=2000').then((r) => r.status),
      httpsGet(port.https, '/slow?ms=2000').then((r) => r.status),
      echo(client, 'late', 2000).then((m) => (m === 'late' ? 200 : 500)),
      run('curl', ['--http2', '-k', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${port.http2}/slow?ms=2000`]).then((r) => Number(r.stdout)),
    ];
    // Wait until the sample itself reports the work in flight (its /status), then signal.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const report = JSON.parse((await request(port.admin, '/status')).body) as { pools: StatusPool[] };
      const busy = (p: string): number => report.pools.find((x) => x.protocol === p)!.metrics.requests.inFlight;
      if (busy('http') === 1 && busy('https') === 1 && busy('grpc') === 1 && busy('http2') === 1) break;
      if (Date.now() > deadline) throw new Error(`work never in flight: ${JSON.stringify(report.pools.map((p) => [p.protocol, p.metrics.requests]))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    sample.child.kill('SIGTERM');
    expect(await Promise.all(inflight)).to.deep.equal([200, 200, 200, 200]);
    expect(await wsClosed).to.equal(1001);
    expect(await sample.exited).to.equal(0);
  });

  it('exits non-zero before listening when the config file is invalid, listing every problem', async () => {
    sample = startSample(SCRIPT, writeTempConfig({ http: { port: 70000, maxConnections: 0 }, shutdown: { timeout: 'soon' } }));
    const code = await sample.exited;
    expect(code).to.equal(1);
    expect(sample.stdout()).to.not.contain('listening');
    const err = sample.stderr();
    expect(err).to.contain('http.port: must not be greater than 65535 (got 70000)');
    expect(err).to.contain('http.maxConnections: must not be less than 1 (got 0)');
    expect(err).to.contain('shutdown.timeout: must be an integer number (got "soon")');
  });

  it('exits non-zero with a clear message when the config file is not JSON', async () => {
    sample = startSample(SCRIPT, writeTempConfig('{ not json'));
    expect(await sample.exited).to.equal(1);
    expect(sample.stderr()).to.match(/is not valid JSON/);
  });
});
