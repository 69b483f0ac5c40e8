import { spawn } from 'node:child_process';
import * as http from 'node:http';
import autocannon from 'autocannon';
import { expect } from 'chai';
import { waitFor } from '../helpers/http-fixtures';
import { SYSTEM_PYTHON } from '../helpers/grpc-python';
import { portZeroSampleConfig } from '../helpers/sample-process';
import { alive, get, killClusters, sample, startCluster, startScript } from './cluster-support';

/** Outcome of the non-retrying keep-alive loops. */
interface LoadResult {
  ok: number;
  failures: number;
  errors: string[];
}

/** One GET on `agent`, never retried: a reused socket the server closed under it is a failure, as for autocannon. */
function getOnce(port: number, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** The shared state of a load: counts, the failures' messages, and whether it should go on (until 100 failures). */
interface LoadState {
  ok: number;
  failures: number;
  errors: string[];
  running: boolean;
}

/** Runs `loops` copies of `body` while the load is on; `stop()` (once, also from afterEach) waits for them, then `cleanup`. */
function runLoad(loops: number, body: (state: LoadState, index: number) => Promise<void>, cleanup: () => void = () => undefined): { readonly ok: number; stop(): Promise<LoadResult> } {
  const state: LoadState = { ok: 0, failures: 0, errors: [], running: true };
  const runs = Array.from({ length: loops }, async (_, i) => {
    while (state.running && state.errors.length < 100) await body(state, i);
  });
  let stopped: Promise<LoadResult> | undefined;
  const stop = (): Promise<LoadResult> =>
    (stopped ??= (async () => {
      state.running = false;
      await Promise.all(runs);
      cleanup();
      return { ok: state.ok, failures: state.failures, errors: state.errors };
    })());
  running.push(stop);
  return {
    get ok() {
      return state.ok;
    },
    stop,
  };
}

/** `clients` loops of back-to-back GET / on their own keep-alive connection (node's agent: it honours `Connection: close`), with no retry. */
function keepAliveLoops(port: number, clients: number): { readonly ok: number; stop(): Promise<LoadResult> } {
  const agents = Array.from({ length: clients }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  return runLoad(
    clients,
    async (state, i) => {
      try {
        const status = await getOnce(port, agents[i]);
        if (status === 200) state.ok++;
        else {
          state.failures++;
          state.errors.push(`status ${status}`);
        }
      } catch (err) {
        state.failures++;
        state.errors.push(`${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`);
      }
    },
    () => agents.forEach((agent) => agent.destroy()),
  );
}

/**
 * `loops` curl processes in a row, each fetching `/` `perProcess` times on a fresh connection
 * (`Connection: close`): a connection stream that reaches the primary's round robin all the time.
 * Every transfer is bounded (`--max-time 10`): one that got no answer is a failure with curl's message.
 */
function freshConnectionCurls(port: number, loops: number, perProcess = 100): { readonly ok: number; stop(): Promise<LoadResult> } {
  const url = `http://127.0.0.1:${port}/`;
  const args = ['-s', '--max-time', '10', '-H', 'Connection: close', '-w', '%{http_code} %{exitcode} %{errormsg}\\n', ...Array.from({ length: perProcess }, () => ['-o', '/dev/null', url]).flat()];
  return curlLoops(loops, args, (line) => (line.startsWith('200 0 ') ? 'ok' : 'failed'));
}

/** `loops` curl processes in a row with `args` (one `-w` line per transfer); `classify` reads each line: ok, failed, or left out of both counts. */
function curlLoops(loops: number, args: string[], classify: (line: string) => 'ok' | 'failed' | 'other'): { readonly ok: number; stop(): Promise<LoadResult> } {
  return runLoad(loops, async (state) => {
    const child = spawn('/usr/bin/curl', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    await new Promise((resolve) => child.once('close', resolve));
    for (const line of out.split('\n').filter(Boolean)) {
      const kind = classify(line);
      if (kind === 'ok') state.ok++;
      else if (kind === 'failed') {
        state.failures++;
        state.errors.push(line);
      }
    }
  });
}

const running: Array<() => Promise<LoadResult>> = [];

/** After each test: its loads stop (a failed test leaves them running), then its cluster processes go. */
async function stopLoadsAndClusters(): Promise<void> {
  for (const stop of running.splice(0)) await stop();
  await killClusters();
}

/** Every test's cluster: two workers, every port picked by the system. */
const TWO_WORKERS = { http: { port: 0 }, admin: { port: 0 }, cluster: { workers: 2, restartDelay: 100, scrapeTimeout: 500 }, shutdown: { timeout: 10_000, exitDelay: 2000 } };

describe('Rolling restart with clients that never retry', function () {
  this.timeout(90_000);

  afterEach(stopLoadsAndClusters);

  it('zero failed requests: SIGUSR2 replaces both workers under 16 non-retrying keep-alive loops; no request errors, none is not 200 (idle keep-alive sockets get a grace for their next request, answered with Connection: close)', async () => {
    const app = await startCluster(TWO_WORKERS, 2);
    const before = app.workerPids();
    const load = keepAliveLoops(app.httpPort, 16);
    await waitFor(() => load.ok >= 500, 15_000, 'load running');
    process.kill(app.primaryPid, 'SIGUSR2');
    await waitFor(() => app.records().some((r) => r.msg === 'rolling restart done'), 40_000, `rolling restart done (output: ${app.out().slice(-2000)})`);
    const during = load.ok;
    await waitFor(() => load.ok >= during + 500, 15_000, 'load served by the new workers');
    const result = await load.stop();
    expect(result.failures, `${result.failures} failed of ${result.ok + result.failures}: ${result.errors.slice(0, 10).join('; ')}`).to.equal(0);
    for (const pid of before) expect(alive(pid)).to.equal(false);
  });

  it('zero failed requests under autocannon (never retries, ignores Connection: close): SIGUSR2 replaces both workers under 20 connections; no error, no reset, none not 2xx', async () => {
    const app = await startCluster(TWO_WORKERS, 2);
    const before = app.workerPids();
    // At most 40 s; stopped as soon as the new workers have served a while.
    const run = autocannon({ url: `http://127.0.0.1:${app.httpPort}/`, connections: 20, duration: 40, timeout: 10 });
    const codes: string[] = [];
    run.on('reqError', (err) => codes.push(err.code ?? err.message));
    let answered = 0;
    run.on('response', () => answered++);
    running.push(async () => {
      run.stop();
      await run;
      return { ok: 0, failures: 0, errors: [] };
    });
    await waitFor(() => answered >= 2000, 15_000, 'load running on the old workers');
    process.kill(app.primaryPid, 'SIGUSR2');
    await waitFor(() => app.records().some((r) => r.msg === 'rolling restart done'), 35_000, `rolling restart done (output: ${app.out().slice(-2000)})`);
    const during = answered;
    await waitFor(() => answered >= during + 2000, 15_000, 'load served by the new workers');
    run.stop();
    const result = await run;
    expect(result['2xx']).to.be.above(1000);
    expect({ errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, codes }).to.deep.equal({ errors: 0, timeouts: 0, non2xx: 0, codes: [] });
    expect(result['2xx']).to.equal(result.requests.total);
    for (const pid of before) expect(alive(pid)).to.equal(false);
  });

  it('no connection lost in the hand-over: three rolling restarts under 8 curl loops of one-request connections; every request is answered 200, none reset, none left unread in the primary', async () => {
    // Two ways a fresh connection was lost here: the primary handed it (round robin) to a worker
    // that was leaving, which disconnected before reading it (the primary then held it, unread,
    // for ever: curl hung); or a worker's drain closed a connection it had just accepted, before
    // reading the request already in its socket (curl: connection reset).
    const app = await startCluster(TWO_WORKERS, 2);
    const load = freshConnectionCurls(app.httpPort, 8);
    await waitFor(() => load.ok >= 200, 15_000, 'load running');
    const done = (): number => app.records().filter((r) => r.msg === 'rolling restart done').length;
    for (let round = 1; round <= 3; round++) {
      process.kill(app.primaryPid, 'SIGUSR2');
      await waitFor(() => done() === round, 40_000, `rolling restart ${round} done (output: ${app.out().slice(-2000)})`);
    }
    const result = await load.stop();
    expect(result.failures, `${result.failures} failed of ${result.ok + result.failures}: ${result.errors.slice(0, 10).join('; ')}`).to.equal(0);
    expect(result.ok).to.be.above(500);
  });
});

describe('A worker killed while connections arrive (SIGKILL)', function () {
  this.timeout(90_000);

  afterEach(stopLoadsAndClusters);

  it('HTTP/2 over TLS: a worker SIGKILLed three times under 8 curl --http2 loops; every transfer is answered, or reset (a stream in flight on the killed worker), none waits for curl\'s timeout, and the replacements serve', async () => {
    const app = await startScript('samples/multi-protocol/main.js', { ...portZeroSampleConfig(), cluster: { workers: 2, restartDelay: 100 } });
    const workerLines = (): string[] => app.out().match(/^http2 .*\(cluster worker pid \d+\)$/gm) ?? [];
    await waitFor(() => workerLines().length === 2 && /^admin /m.test(app.out()), 40_000, `sample started (output: ${app.out().slice(-2000)})`);
    const port = Number(/^http2 +\S+ listening on 127\.0\.0\.1:(\d+)/m.exec(app.out())![1]);
    const url = `https://127.0.0.1:${port}/`;
    const args = ['-sk', '--http2', '--max-time', '10', '-w', '%{http_code} %{http_version} %{exitcode} %{errormsg}\\n', ...Array.from({ length: 100 }, () => ['-o', '/dev/null', url]).flat()];
    const load = curlLoops(8, args, (line) => (line.startsWith('200 2 0') ? 'ok' : 'failed'));
    await waitFor(() => load.ok >= 500, 15_000, 'load running');
    for (let kill = 1; kill <= 3; kill++) {
      const live = workerLines()
        .map((l) => Number(/pid (\d+)\)$/.exec(l)![1]))
        .filter(alive);
      process.kill(live[live.length - 1], 'SIGKILL');
      await waitFor(() => workerLines().length === 2 + kill, 30_000, `replacement ${kill} listening (output: ${app.out().slice(-2000)})`);
      const served = load.ok;
      await waitFor(() => load.ok >= served + 300, 15_000, `load served after kill ${kill}`);
    }
    const result = await load.stop();
    const exitCode = (line: string): number => Number(line.split(' ')[2]);
    const hung = result.errors.filter((e) => exitCode(e) === 28);
    // What a reset stream or connection looks like to curl: framing or stream error (16, 92),
    // partial transfer (18), TLS cut (35), empty reply (52), send or receive failure (55, 56).
    const notReset = result.errors.filter((e) => ![16, 18, 35, 52, 55, 56, 92].includes(exitCode(e)));
    expect(hung, `${hung.length} waited for curl's timeout of ${result.ok + result.failures}: ${hung.slice(0, 5).join('; ')}`).to.deep.equal([]);
    expect(notReset, result.errors.slice(0, 10).join('; ')).to.deep.equal([]);
    // One stream at a time per loop: each kill can cut at most one transfer per loop.
    expect(result.failures).to.be.at.most(3 * 8);
    expect(result.ok).to.be.above(2000);
  });

  it('no connection is left hanging: ten SIGKILLs of a worker under 8 curl loops of one-request connections; every request is answered, or reset (in flight on the killed worker), none waits for curl\'s timeout', async () => {
    // node:cluster's round robin keeps, in the primary, a connection it handed to a worker that
    // died before acknowledging it: the client waits until it gives up. The primary hands such a
    // connection to a live worker instead.
    const app = await startCluster(TWO_WORKERS, 2);
    const load = freshConnectionCurls(app.httpPort, 8);
    await waitFor(() => load.ok >= 200, 15_000, 'load running');
    const readyLogs = (): number => app.records().filter((r) => r.msg === 'cluster worker ready').length;
    for (let kill = 1; kill <= 10; kill++) {
      const live = app.workerPids().filter(alive);
      process.kill(live[kill % live.length], 'SIGKILL');
      await waitFor(() => readyLogs() === 2 + kill, 20_000, `replacement ${kill} ready (output: ${app.out().slice(-2000)})`);
      const served = load.ok;
      await waitFor(() => load.ok >= served + 100, 15_000, `load served after kill ${kill}`);
    }
    const result = await load.stop();
    const hung = result.errors.filter((e) => e.startsWith('000 28 '));
    const notReset = result.errors.filter((e) => !/^000 (52|56) /.test(e));
    expect(hung, `${hung.length} waited for curl's timeout of ${result.ok + result.failures}: ${hung.slice(0, 5).join('; ')}`).to.deep.equal([]);
    expect(notReset, result.errors.slice(0, 10).join('; ')).to.deep.equal([]);
    // Each kill may reset what the killed worker held: at most one request per loop.
    expect(result.failures).to.be.at.most(10 * 8);
    expect(result.ok).to.be.above(1000);
    // The kills did catch hand-overs (about 9 in 10 kills here, which left 9 curls hanging
    // before the fix), and each went to the live worker: none had to be closed.
    const metrics = (await get(app.adminPort, '/metrics')).body;
    expect(sample(metrics, 'unipool_cluster_connections_rescued_total')).to.be.above(0);
    expect(sample(metrics, 'unipool_cluster_connections_dropped_total')).to.equal(0);
  });
});

/**
 * grpcio loops of unary calls to the sample's `demo.Echo/Echo`, each on a new channel (so a new
 * connection) until stdin closes; prints one JSON object: outcome -> count.
 */
const GRPC_LOOPS = String.raw`
import json, sys, threading, collections, grpc
port = int(sys.argv[1]); threads = int(sys.argv[2])
request = bytes([0x0a, 2]) + b'hi'
stop = threading.Event(); lock = threading.Lock(); outcomes = collections.Counter()
def loop():
    while not stop.is_set():
        with grpc.insecure_channel('127.0.0.1:%d' % port) as channel:
            try:
                channel.unary_unary('/demo.Echo/Echo')(request, timeout=10)
                key = 'OK'
            except grpc.RpcError as e:
                key = '%s: %s' % (e.code().name, e.details())
        with lock:
            outcomes[key] += 1
workers = [threading.Thread(target=loop) for _ in range(threads)]
for t in workers: t.start()
sys.stdin.read()
stop.set()
for t in workers: t.join()
print(json.dumps(outcomes))
`;

describe('Rolling restart of the multi-protocol sample under gRPC and HTTP/2 clients (grpcio, curl --http2)', function () {
  this.timeout(120_000);

  afterEach(stopLoadsAndClusters);

  it('HTTP/2 over TLS: 8 curl --http2 loops (100 transfers per connection, one stream at a time, refused streams not retried) through three rolling restarts; no transfer fails or is refused, not even one handed to a worker as it closes', async () => {
    const app = await startScript('samples/multi-protocol/main.js', { ...portZeroSampleConfig(), cluster: { workers: 2 } });
    await waitFor(() => (app.out().match(/^http2 .*\(cluster worker pid \d+\)$/gm) ?? []).length === 2 && /^admin /m.test(app.out()), 40_000, `sample started (output: ${app.out().slice(-2000)})`);
    const port = Number(/^http2 +\S+ listening on 127\.0\.0\.1:(\d+)/m.exec(app.out())![1]);
    const url = `https://127.0.0.1:${port}/`;
    const args = ['-sk', '--http2', '--max-time', '10', '-w', '%{http_code} %{http_version} %{exitcode} %{errormsg}\\n', ...Array.from({ length: 100 }, () => ['-o', '/dev/null', url]).flat()];
    const refusals: string[] = [];
    const load = curlLoops(8, args, (line) => {
      if (line.startsWith('200 2 0')) return 'ok';
      if (!line.startsWith('503 2 0')) return 'failed';
      refusals.push(line);
      return 'other';
    });
    await waitFor(() => load.ok >= 500, 15_000, 'load running');
    const restarts = (): number => app.out().split('\n').filter((l) => l.includes('rolling restart done')).length;
    for (let round = 1; round <= 3; round++) {
      process.kill(app.child.pid!, 'SIGUSR2');
      await waitFor(() => restarts() === round, 60_000, `rolling restart ${round} done (output: ${app.out().slice(-2000)})`);
    }
    const during = load.ok;
    await waitFor(() => load.ok >= during + 500, 15_000, 'load served by the new workers');
    const result = await load.stop();
    expect(result.failures, `${result.failures} failed of ${result.ok + result.failures}: ${result.errors.slice(0, 10).join('; ')}`).to.equal(0);
    // A connection handed to a worker as its listener closed finishes its handshake before the drain, and is served.
    expect(refusals, refusals.join('; ')).to.deep.equal([]);
    expect(result.ok).to.be.above(5000);
  });

  it('every unary call of 4 grpcio loops (a new channel per call) through two rolling restarts of 2 workers is answered OK', async () => {
    const app = await startScript('samples/multi-protocol/main.js', { ...portZeroSampleConfig(), cluster: { workers: 2 } });
    await waitFor(() => (app.out().match(/^grpc .*\(cluster worker pid \d+\)$/gm) ?? []).length === 2 && /^admin /m.test(app.out()), 40_000, `sample started (output: ${app.out().slice(-2000)})`);
    const port = Number(/^grpc +\S+ listening on 127\.0\.0\.1:(\d+)/m.exec(app.out())![1]);
    const client = spawn(SYSTEM_PYTHON, ['-c', GRPC_LOOPS, String(port), '4'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    client.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    client.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const exited = new Promise((resolve) => client.once('close', resolve));
    running.push(async () => {
      client.stdin.end();
      await exited;
      return { ok: 0, failures: 0, errors: [] };
    });
    const restarts = (): number => app.out().split('\n').filter((l) => l.includes('rolling restart done')).length;
    await new Promise((resolve) => setTimeout(resolve, 1000)); // calls under way before the first restart
    for (let round = 1; round <= 2; round++) {
      process.kill(app.child.pid!, 'SIGUSR2');
      await waitFor(() => restarts() === round, 60_000, `rolling restart ${round} done (output: ${app.out().slice(-2000)})`);
    }
    client.stdin.end();
    await exited;
    const outcomes = JSON.parse(out) as Record<string, number>;
    expect(Object.keys(outcomes), `grpcio: ${out} ${err.slice(-1000)}`).to.deep.equal(['OK']);
    expect(outcomes.OK).to.be.above(1000);
  });
});
