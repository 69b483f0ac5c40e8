import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { waitFor } from '../helpers/http-fixtures';
import { openEventStream, type EventStreamClient } from '../helpers/event-stream-client';
import { get, killClusters, startCluster } from './cluster-support';

const run = promisify(execFile);

interface PoolJson {
  pool: string;
  worker?: number;
  metrics: { totalConnections: number; requests: { total: number } };
}
interface WorkerFrameJson {
  id: number;
  pid: number;
  state: string;
  uptimeSeconds: number;
  restarts: number;
  pools: PoolJson[];
}
interface FrameJson {
  pools: PoolJson[];
  workers?: WorkerFrameJson[];
}

describe('Dashboard in cluster mode: the primary /events carries every worker', function () {
  this.timeout(60_000);
  let stream: EventStreamClient | undefined;

  afterEach(async () => {
    stream?.leave();
    stream = undefined;
    await killClusters();
  });

  it('per-worker figures: /events frames of a 2-worker primary list both workers (id, pid, state, uptime, restarts, pools) and the pools with their worker, matching /status after curl traffic', async () => {
    const app = await startCluster(
      { http: { port: 0 }, admin: { port: 0 }, cluster: { workers: 2, restartDelay: 100, scrapeTimeout: 500 }, shutdown: { timeout: 10_000, exitDelay: 2000 } },
      2,
    );
    const url = `http://127.0.0.1:${app.httpPort}/`;
    // 40 requests, each on its own connection (curl runs one connection per invocation), spread over the workers.
    for (let i = 0; i < 4; i++) await run('/usr/bin/curl', ['-s', '-o', '/dev/null', ...Array.from({ length: 10 }, () => url)]);
    stream = await openEventStream(app.adminPort);
    expect(stream.status).to.equal(200);
    const client = stream;
    const settled = (): FrameJson | undefined => {
      const last = client.frames<FrameJson>().at(-1);
      if (!last?.workers || last.workers.length !== 2) return undefined;
      const total = last.workers.flatMap((w) => w.pools).reduce((n, p) => n + p.metrics.requests.total, 0);
      return total === 40 ? last : undefined;
    };
    await waitFor(() => settled() !== undefined, 10_000, `a frame with 2 workers and 40 requests (frames: ${JSON.stringify(client.frames().at(-1))})`);
    const frame = settled()!;
    const status = JSON.parse((await get(app.adminPort, '/status')).body) as { pools: PoolJson[]; cluster: { workers: Array<{ id: number; pid: number; restarts: number; pools: PoolJson[] }> } };

    expect(frame.workers!.map((w) => w.pid).sort()).to.deep.equal(app.workerPids().sort());
    for (const w of frame.workers!) {
      expect(w.state).to.equal('ready');
      expect(w.restarts).to.equal(0);
      expect(w.uptimeSeconds).to.be.a('number').and.above(0);
      expect(w.pools.map((p) => p.pool)).to.deep.equal(['http']);
      const shown = status.cluster.workers.find((s) => s.id === w.id)!;
      expect(shown.pid).to.equal(w.pid);
      expect(w.pools[0].metrics.requests.total).to.equal(shown.pools[0].metrics.requests.total);
      expect(w.pools[0].metrics.totalConnections).to.equal(shown.pools[0].metrics.totalConnections);
    }
    // Both workers served some of the 40 (the kernel spreads connections).
    expect(frame.workers!.every((w) => w.pools[0].metrics.requests.total > 0)).to.equal(true);
    // The pools, aggregated as /status of the primary shows them: every worker's pool, with its worker.
    const byWorker = (pools: PoolJson[]): Array<[number | undefined, string, number]> => pools.map((p) => [p.worker, p.pool, p.metrics.requests.total]);
    expect(byWorker(frame.pools)).to.deep.equal(byWorker(status.pools));
  });
});
