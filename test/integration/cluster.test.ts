import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { writeFileSync } from 'node:fs';
import { expect } from 'chai';
import WebSocket from 'ws';
import { waitFor } from '../helpers/http-fixtures';
import { alive, exitWithin, get, killClusters, sample, startCluster, startClusterExpectingFailure, startScript, type ClusterProcess } from './cluster-support';
import { portZeroSampleConfig } from '../helpers/sample-process';

/** Config of a two-worker cluster, every port picked by the system. */
function clusterConfig(extra: Record<string, Record<string, unknown>> = {}): Record<string, unknown> {
  return {
    ...extra,
    http: { port: 0, ...extra.http },
    admin: { port: 0, ...extra.admin },
    cluster: { workers: 2, restartDelay: 100, scrapeTimeout: 500, ...extra.cluster },
    shutdown: { timeout: 10_000, exitDelay: 2000, ...extra.shutdown },
  };
}

/** One request on its own connection, `Connection: close`; resolves with the whole raw answer. */
function rawRequest(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let data = '';
    socket.setEncoding('utf8');
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer to ${path} within 10 s`)));
    socket.on('data', (c: string) => (data += c));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
}

interface WorkerStatusJson {
  id: number;
  pid: number;
  slot: number;
  state: string;
  uptimeSeconds: number;
  restarts: number;
  ready?: boolean;
  error?: string;
  pools?: Array<{ pool: string; metrics: { totalConnections: number }; config: Record<string, unknown> }>;
}

async function clusterStatus(app: ClusterProcess): Promise<{ ready: boolean; pools: unknown[]; cluster: { workers: WorkerStatusJson[]; readyWorkers: number; restarts: number } }> {
  const reply = await get(app.adminPort, '/status');
  expect(reply.status).to.equal(200);
  return JSON.parse(reply.body) as { ready: boolean; pools: unknown[]; cluster: { workers: WorkerStatusJson[]; readyWorkers: number; restarts: number } };
}

describe('Cluster mode: real workers of node:cluster (child processes)', function () {
  this.timeout(60_000);

  afterEach(async () => {
    // A failed test leaves its load loops running: stop them before the processes go.
    for (const stop of loadStoppers.splice(0)) await stop();
    await killClusters();
  });

  it('one limit: under a burst of 30 connections over 2 workers, the sum admitted never exceeds http.maxConnections (10); the others get 503', async () => {
    const app = await startCluster(clusterConfig({ http: { maxConnections: 10 } }), 2);
    const answers = await Promise.all(Array.from({ length: 30 }, () => rawRequest(app.httpPort, '/slow?ms=1500')));
    const admitted = answers.filter((a) => a.startsWith('HTTP/1.1 200'));
    const refused = answers.filter((a) => a.startsWith('HTTP/1.1 503'));
    expect(admitted.length + refused.length, answers.join('\n---\n')).to.equal(30);
    expect(admitted.length).to.be.at.most(10);
    expect(admitted.length).to.be.at.least(2);
    // Both workers admitted some: the limit is the app's, held by the workers together.
    const pids = new Set(admitted.map((a) => /slow (\d+)/.exec(a)![1]));
    expect(pids.size).to.equal(2);
    const metrics = (await get(app.adminPort, '/metrics')).body;
    expect(sample(metrics, 'unipool_connections_total{protocol="http",pool="http"}')).to.equal(admitted.length);
    expect(sample(metrics, 'unipool_connections_rejected_total{protocol="http",pool="http",reason="max_connections"}')).to.equal(refused.length);
    expect(sample(metrics, 'unipool_pool_max_connections{protocol="http",pool="http"}')).to.equal(10);
  });

  it('one view: /metrics sums every worker (AggregatorRegistry), ?by=worker gives each worker its series with a worker label, /status lists each worker with its pools, /readyz is ready', async () => {
    const app = await startCluster(clusterConfig(), 2);
    const answeredBy = new Set<string>();
    for (let i = 0; i < 8; i++) answeredBy.add((await get(app.httpPort, '/')).body);
    expect(answeredBy.size, [...answeredBy].join(',')).to.equal(2);

    const summed = (await get(app.adminPort, '/metrics')).body;
    expect(sample(summed, 'unipool_connections_total{protocol="http",pool="http"}')).to.equal(8);
    expect(sample(summed, 'unipool_ready')).to.equal(1);
    expect(sample(summed, 'unipool_cluster_workers{state="ready"}')).to.equal(2);
    expect(sample(summed, 'unipool_cluster_worker_restarts_total')).to.equal(0);
    // Histograms are summed bucket by bucket: the count is every request of every worker.
    expect(sample(summed, 'unipool_request_duration_seconds_count{protocol="http",pool="http"}')).to.equal(8);

    const status = await clusterStatus(app);
    expect(status.ready).to.equal(true);
    expect(status.cluster.workers).to.have.length(2);
    expect(status.cluster.readyWorkers).to.equal(2);
    const perWorker = (await get(app.adminPort, '/metrics?by=worker')).body;
    let total = 0;
    for (const w of status.cluster.workers) {
      expect(w).to.include({ state: 'ready', restarts: 0, ready: true });
      expect(w.pid).to.be.oneOf(app.workerPids());
      expect(w.uptimeSeconds).to.be.a('number');
      expect(w.pools![0].pool).to.equal('http');
      const own = sample(perWorker, `unipool_connections_total{protocol="http",pool="http",worker="${w.id}"}`);
      expect(own).to.equal(w.pools![0].metrics.totalConnections);
      total += own!;
    }
    expect(total).to.equal(8);
    expect(status.pools).to.have.length(2);
    const ready = await get(app.adminPort, '/readyz');
    expect(ready.status).to.equal(200);
  });

  it('one view: a worker that does not answer a scrape in time (SIGSTOP) is reported (worker_up 0, /status error), not a 500', async () => {
    const app = await startCluster(clusterConfig(), 2);
    const [stopped] = app.workerPids();
    process.kill(stopped, 'SIGSTOP');
    try {
      const metrics = await get(app.adminPort, '/metrics');
      expect(metrics.status).to.equal(200);
      expect(metrics.body).to.match(new RegExp(`unipool_cluster_worker_up\\{worker="\\d+",pid="${stopped}"\\} 0`));
      expect(sample(metrics.body, 'unipool_cluster_scrape_failures_total')).to.equal(1);
      const status = await clusterStatus(app);
      const silent = status.cluster.workers.find((w) => w.pid === stopped)!;
      expect(silent.error).to.match(/no answer within 500 ms/);
      expect(status.cluster.workers.find((w) => w.pid !== stopped)!.pools).to.have.length(1);
    } finally {
      process.kill(stopped, 'SIGCONT');
    }
  });

  it('crashes: a worker killed with SIGKILL is replaced (after restartDelay), counted in unipool_cluster_worker_restarts_total; the other worker keeps serving', async () => {
    const app = await startCluster(clusterConfig(), 2);
    const [victim, survivor] = app.workerPids();
    process.kill(victim, 'SIGKILL');
    await waitFor(() => app.workerPids().length === 3, 20_000, `a replacement worker (output: ${app.out().slice(-2000)})`);
    const replacement = app.workerPids()[2];
    expect(alive(survivor)).to.equal(true);
    await waitFor(() => !alive(victim), 5000, 'the killed worker gone');
    const status = await clusterStatus(app);
    expect(status.cluster.workers.map((w) => w.pid).sort()).to.deep.equal([survivor, replacement].sort());
    expect(status.cluster.workers.find((w) => w.pid === replacement)).to.include({ restarts: 1, state: 'ready' });
    expect(status.cluster.workers.find((w) => w.pid === survivor)).to.include({ restarts: 0 });
    const metrics = (await get(app.adminPort, '/metrics')).body;
    expect(sample(metrics, 'unipool_cluster_worker_restarts_total')).to.equal(1);
    const died = app.records().find((r) => r.msg === 'cluster worker died: replacing it');
    expect(died).to.deep.include({ pid: victim, signal: 'SIGKILL', restartInMs: 100 });
  });

  it('graceful shutdown: SIGTERM to the primary with requests in flight on every worker loses none, every worker exits by itself, the primary exits 0, no process is left', async () => {
    const app = await startCluster(clusterConfig(), 2);
    const workers = app.workerPids();
    const inFlight = Array.from({ length: 6 }, () => get(app.httpPort, '/slow?ms=1500'));
    // Wait until the workers hold them all (the round robin spreads them over both).
    await waitUntilInFlight(app, 6);
    process.kill(app.primaryPid, 'SIGTERM');
    // Readiness goes first: the primary's /readyz says 503 while the workers drain.
    let readyz = 200;
    while (readyz === 200) readyz = (await get(app.adminPort, '/readyz')).status;
    expect(readyz).to.equal(503);
    const answers = await Promise.all(inFlight);
    expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200, 200, 200, 200]);
    expect(new Set(answers.map((a) => a.body)).size).to.equal(2);
    const exit = await exitWithin(app, 20_000);
    expect(exit, app.out().slice(-3000)).to.deep.equal({ code: 0, signal: null });
    for (const pid of workers) expect(alive(pid), `worker ${pid}`).to.equal(false);
    const exited = app.records().filter((r) => r.msg === 'cluster worker exited');
    expect(exited.map((r) => r.code)).to.deep.equal([0, 0]);
  });

  it('graceful shutdown: a worker that had to force a request at shutdown.timeout makes the primary exit 1', async () => {
    const app = await startCluster(clusterConfig({ shutdown: { timeout: 300 } }), 2);
    const inFlight = get(app.httpPort, '/slow?ms=20000').catch((err: Error) => err);
    await waitUntilInFlight(app, 1);
    process.kill(app.primaryPid, 'SIGTERM');
    expect(await inFlight).to.be.instanceOf(Error);
    const exit = await exitWithin(app, 20_000);
    expect(exit, app.out().slice(-3000)).to.deep.equal({ code: 1, signal: null });
    expect(app.records().find((r) => r.msg === 'stopped with forced connections or failed hooks' && r.pid === app.primaryPid)).to.deep.include({ forced: 1 });
  });

  it('a worker that cannot boot (its port is taken) fails the start: the primary logs it, stops the others, exits 1, and leaves no process', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const app = startClusterExpectingFailure(clusterConfig({ http: { port: taken } }));
      const exit = await exitWithin(await app, 30_000);
      const cluster = await app;
      expect(exit.code).to.equal(1);
      const failed = cluster.records().find((r) => r.msg === 'boot failed' && r.pid === cluster.child.pid);
      expect(failed, cluster.out().slice(-3000)).to.deep.include({ code: 'UNIPOOL_WORKER_START' });
      const forked = cluster.records().filter((r) => r.msg === 'cluster worker forked').map((r) => r.pid as number);
      expect(forked).to.have.length(2);
      for (const pid of forked) expect(alive(pid), `worker ${pid}`).to.equal(false);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('no orphan: after SIGKILL of the primary, the workers notice the lost IPC channel, finish their in-flight requests, and exit', async () => {
    const app = await startCluster(clusterConfig(), 2);
    const workers = app.workerPids();
    const inFlight = Array.from({ length: 4 }, () => get(app.httpPort, '/slow?ms=1000'));
    await waitUntilInFlight(app, 4);
    process.kill(app.primaryPid, 'SIGKILL');
    const answers = await Promise.all(inFlight);
    expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200, 200]);
    await waitFor(() => workers.every((pid) => !alive(pid)), 15_000, `workers ${workers.join(', ')} gone (output: ${app.out().slice(-2000)})`);
    expect(app.records().filter((r) => r.msg === 'cluster primary gone (IPC channel closed): draining, then exiting')).to.have.length(2);
  });

  it('rolling restart: SIGUSR2 replaces every worker one at a time while a keep-alive load (4 node keep-alive loops and curl) runs, and no request fails', async () => {
    const app = await startCluster(clusterConfig(), 2);
    const before = app.workerPids();
    const load = keepAliveLoad(app.httpPort, 4);
    const curl = curlLoad(app.httpPort);
    await waitFor(() => load.ok >= 50 && curl.ok >= 50, 10_000, 'load running');
    process.kill(app.primaryPid, 'SIGUSR2');
    await waitFor(() => app.records().some((r) => r.msg === 'rolling restart done'), 40_000, `rolling restart done (output: ${app.out().slice(-2000)})`);
    const during = load.ok;
    await waitFor(() => load.ok >= during + 50, 10_000, 'load served by the new workers');
    const result = await load.stop();
    const curled = await curl.stop();
    expect(result.failures, result.errors.join('\n')).to.equal(0);
    expect(curled.failures, curled.errors.join('\n')).to.equal(0);
    expect(curled.ok).to.be.above(100);
    for (const pid of before) expect(alive(pid)).to.equal(false);
    const after = app.workerPids().filter((pid) => !before.includes(pid));
    expect(after).to.have.length(2);
    // The loops' keep-alive connections moved to the new workers; which one each landed on is the
    // primary's round robin's choice (it favours the worker that acknowledges first), so fresh
    // connections show that both new workers serve.
    expect(result.servedBy.filter((pid) => after.map(String).includes(pid))).to.have.length.above(0);
    const freshServedBy = new Set<string>();
    for (let i = 0; i < 60 && freshServedBy.size < 2; i++) freshServedBy.add(/ok (\d+)$/.exec(await rawRequest(app.httpPort, '/'))?.[1] ?? 'no answer');
    expect([...freshServedBy].sort()).to.deep.equal(after.map(String).sort());
    const status = await clusterStatus(app);
    expect(status.cluster.workers.map((w) => w.pid).sort()).to.deep.equal([...after].sort());
    expect(status.cluster.restarts).to.equal(0);
  });

  it('SIGHUP reload reaches every worker; an invalid file is rejected once, by the primary, and changes nothing anywhere; the admin token is live on the primary', async () => {
    const config = clusterConfig({ http: { maxConnections: 10 } });
    const app = await startCluster(config, 2);
    writeFileSync(app.configFile, JSON.stringify({ ...config, http: { port: 0, maxConnections: 0 } }));
    process.kill(app.primaryPid, 'SIGHUP');
    await waitFor(() => app.records().some((r) => r.msg === 'config reload rejected: running config unchanged'), 10_000, 'rejection logged');
    const rejected = app.records().filter((r) => r.msg === 'config reload rejected: running config unchanged');
    expect(rejected.map((r) => r.pid)).to.deep.equal([app.primaryPid]);
    for (const w of (await clusterStatus(app)).cluster.workers) expect(w.pools![0].config).to.include({ maxConnections: 10 });

    const token = 'a-cluster-admin-token-1234';
    writeFileSync(app.configFile, JSON.stringify({ ...config, http: { port: 0, maxConnections: 40 }, admin: { port: 0, token } }));
    process.kill(app.primaryPid, 'SIGHUP');
    // Each process logs its own reload when it has applied it; the primary's line may come first.
    const reloadedPids = (): Set<number> => new Set(app.records().filter((r) => r.msg === 'config reloaded').map((r) => r.pid as number));
    await waitFor(() => reloadedPids().size === 3, 10_000, 'reload logged by the primary and both workers');
    expect(reloadedPids()).to.deep.equal(new Set([app.primaryPid, ...app.workerPids()]));
    // The admin token is live on the primary too (the admin port, a restart key, stays).
    expect((await get(app.adminPort, '/metrics')).status).to.equal(401);
    const bearer = { authorization: `Bearer ${token}` };
    const authorized = await get(app.adminPort, '/status', false, bearer);
    expect(authorized.status).to.equal(200);
    const status = JSON.parse(authorized.body) as { config: { admin: { token: string } }; cluster: { workers: WorkerStatusJson[] } };
    expect(status.config.admin.token).to.equal('[redacted]');
    for (const w of status.cluster.workers) expect(w.pools![0].config).to.include({ maxConnections: 40 });
    const metrics = (await get(app.adminPort, '/metrics', false, bearer)).body;
    expect(sample(metrics, 'unipool_config_reloads_total{result="failure"}')).to.equal(1);
    expect(sample(metrics, 'unipool_config_reloads_total{result="success"}')).to.equal(1);
    // Each worker now admits its share of 40 (20): a burst of 20 is all admitted, however the
    // round robin spreads it (it favours the worker that acknowledges first), where the old
    // shares of 10 (5 each) would have refused at least 10.
    const answers = await Promise.all(Array.from({ length: 20 }, () => rawRequest(app.httpPort, '/slow?ms=300')));
    expect(answers.filter((a) => a.startsWith('HTTP/1.1 200'))).to.have.length(20);
  });

  it('npm start honours the section: the multi-protocol sample with cluster.workers 2 runs every server in both workers, one admin endpoint, and stops on SIGTERM with exit 0', async () => {
    const app = await startScript('samples/multi-protocol/main.js', { ...portZeroSampleConfig(), cluster: { workers: 2 } });
    await waitFor(() => /^admin .*:\d+ /m.test(app.out()) && (app.out().match(/^ws +WsEchoServer listening on 127\.0\.0\.1:\d+ \(cluster worker pid \d+\)$/gm) ?? []).length === 2, 30_000, `sample started (output: ${app.out().slice(-2000)})`);
    for (const protocol of ['http', 'https', 'grpc']) expect(app.out().match(new RegExp(`^${protocol} .*\\(cluster worker pid \\d+\\)$`, 'gm')), protocol).to.have.length(2);
    expect(app.out().match(/^admin /gm), app.out()).to.have.length(1);
    const httpPort = Number(/^http +HttpApiServer listening on 127\.0\.0\.1:(\d+)/m.exec(app.out())![1]);
    const adminPort = Number(/^admin .*:(\d+) /m.exec(app.out())![1]);
    expect((await get(httpPort, '/')).body).to.equal('hello');
    const metrics = (await get(adminPort, '/metrics')).body;
    expect(sample(metrics, 'unipool_cluster_workers{state="ready"}')).to.equal(2);
    process.kill(app.child.pid!, 'SIGTERM');
    const exit = await exitWithin(app, 20_000);
    expect(exit, app.out().slice(-3000)).to.deep.equal({ code: 0, signal: null });
  });

  it('WebSocket broadcast() reaches the clients of every worker: relayed through the primary, delivered once each', async () => {
    const app = await startCluster(clusterConfig({ ws: { port: 0 } }), 2, { ws: true });
    const clients: Array<{ ws: WebSocket; pid: string; got: string[] }> = [];
    try {
      // Connect until both workers hold clients (the round robin spreads them).
      while (new Set(clients.map((c) => c.pid)).size < 2 && clients.length < 20) {
        const ws = new WebSocket(`ws://127.0.0.1:${app.wsPort}/ws`);
        const entry = { ws, pid: '', got: [] as string[] };
        await new Promise<void>((resolve, reject) => {
          ws.once('message', (data) => {
            entry.pid = String(data).split(' ')[1];
            resolve();
          });
          ws.once('error', reject);
        });
        ws.on('message', (data) => entry.got.push(String(data)));
        clients.push(entry);
      }
      expect(new Set(clients.map((c) => c.pid)).size).to.equal(2);
      const sender = clients[0];
      sender.ws.send('broadcast:news');
      await waitFor(() => clients.every((c) => c.got.length >= 1), 10_000, 'every client got the broadcast');
      for (const c of clients) expect(c.got, `client of ${c.pid}`).to.deep.equal([`news from ${sender.pid}`]);
    } finally {
      for (const c of clients) c.ws.terminate();
    }
  });
});

/** Stops every load loop still running (a failed test's). */
const loadStoppers: Array<() => Promise<unknown>> = [];

/** Waits until the workers together report `n` requests in flight. */
async function waitUntilInFlight(app: ClusterProcess, n: number): Promise<void> {
  let last = 0;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    last = sample((await get(app.adminPort, '/metrics')).body, 'unipool_requests_in_flight{protocol="http",pool="http"}') ?? 0;
    if (last >= n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`only ${last} of ${n} requests in flight`);
}

/**
 * `clients` loops, each sending GET / back to back on its own keep-alive connection. A request
 * sent on a reused connection that the server closed before answering a byte is sent again on a
 * new one, as HTTP/1.1 allows for an idempotent request and curl and browsers do; every other
 * error, and any status but 200, is a failure.
 */
function keepAliveLoad(port: number, clients: number): { ok: number; stop(): Promise<{ failures: number; errors: string[]; servedBy: string[]; retries: number }> } {
  const state = { ok: 0, failures: 0, retries: 0, errors: [] as string[], servedBy: [] as string[], running: true };
  const agents: http.Agent[] = [];
  const loops = Array.from({ length: clients }, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    while (state.running && state.errors.length <= 100) {
      try {
        const reply = await sendOnce(port, agent, state);
        if (reply.status === 200) {
          state.ok++;
          state.servedBy.push(reply.body.split(' ')[1]);
        } else {
          state.failures++;
          state.errors.push(`status ${reply.status}`);
        }
      } catch (err) {
        state.failures++;
        state.errors.push((err as Error).message);
      }
    }
  });
  const stop = async (): Promise<{ failures: number; errors: string[]; servedBy: string[]; retries: number }> => {
    state.running = false;
    await Promise.all(loops);
    for (const agent of agents) agent.destroy();
    return { failures: state.failures, errors: state.errors, servedBy: [...new Set(state.servedBy)], retries: state.retries };
  };
  loadStoppers.push(stop);
  return {
    get ok() {
      return state.ok;
    },
    stop,
  };
}

/**
 * curl (/usr/bin/curl) in a loop, each run asking `GET /` 100 times over one keep-alive
 * connection (curl retries a request on a fresh connection when a reused one dies before the
 * answer). Every status but 200 and every failed run count as failures.
 */
function curlLoad(port: number): { ok: number; stop(): Promise<{ ok: number; failures: number; errors: string[] }> } {
  const state = { ok: 0, failures: 0, errors: [] as string[], running: true, child: undefined as ChildProcess | undefined };
  const url = `http://127.0.0.1:${port}/`;
  const loop = (async () => {
    while (state.running) {
      if (state.errors.length > 100) break;
      const child = spawn('/usr/bin/curl', ['-s', '--max-time', '30', '-w', '%{http_code}\\n', ...Array.from({ length: 100 }, () => ['-o', '/dev/null', url]).flat()], { stdio: ['ignore', 'pipe', 'pipe'] });
      state.child = child;
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      for (const status of out.split('\n').filter(Boolean)) {
        if (status === '200') state.ok++;
        else {
          state.failures++;
          state.errors.push(`curl status ${status}`);
        }
      }
      if (code !== 0) {
        state.failures++;
        state.errors.push(`curl exit ${code}`);
      }
    }
  })();
  const stop = async (): Promise<{ ok: number; failures: number; errors: string[] }> => {
    state.running = false;
    await loop;
    return { ok: state.ok, failures: state.failures, errors: state.errors };
  };
  loadStoppers.push(stop);
  return {
    get ok() {
      return state.ok;
    },
    stop,
  };
}

function sendOnce(port: number, agent: http.Agent, state: { retries: number }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    // A request left without an answer is a failure with a name, not a test that hangs.
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      // reusedSocket: the connection had served a request before; nothing of this one's answer arrived.
      if (req.reusedSocket && (err.code === 'ECONNRESET' || err.message === 'socket hang up')) {
        state.retries++;
        sendOnce(port, agent, state).then(resolve, reject);
      } else reject(err);
    });
  });
}
