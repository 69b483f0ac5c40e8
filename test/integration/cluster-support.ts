import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { join } from 'node:path';
import { REPO_ROOT, writeTempConfig } from '../helpers/sample-process';
import { waitFor } from '../helpers/http-fixtures';

/** The app file the cluster tests run: primary and workers. */
const APP = join(__dirname, '../fixtures/cluster-app.js');

/** A cluster app run as a child process in its own process group (so one kill reaches its workers too). */
export interface ClusterProcess {
  child: ChildProcess;
  configFile: string;
  out: () => string;
  /** Log records (pino JSON lines) of the primary and the workers. */
  records: () => Array<Record<string, unknown>>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  primaryPid: number;
  adminPort: number;
  httpPort: number;
  /** The WebSocket port (0 without `ws`). */
  wsPort: number;
  /** Pids of every worker that has printed its line so far. */
  workerPids: () => number[];
}

const running: ChildProcess[] = [];

/** Starts `script` (a path under the repository, compiled) with `config`, in its own process group, without waiting for anything. */
export async function startScript(script: string, config: Record<string, unknown>): Promise<ClusterProcess> {
  return startCluster(config, 0, { waitForStart: false, script: join(REPO_ROOT, 'dist', script) });
}

/** Starts the cluster app with `config`, for a start meant to fail: resolves at once, without waiting for anything. */
export async function startClusterExpectingFailure(config: Record<string, unknown>): Promise<ClusterProcess> {
  return startCluster(config, 0, { waitForStart: false });
}

/** Starts the cluster app with `config` (written to a temp file) and waits until the primary and `workers` workers have started. */
export async function startCluster(config: Record<string, unknown>, workers: number, options: { ws?: boolean; waitForStart?: boolean; script?: string } = {}): Promise<ClusterProcess> {
  const configFile = writeTempConfig(config);
  const child = spawn(process.execPath, [options.script ?? APP], {
    env: { ...process.env, UNIPOOL_CONFIG: configFile, UNIPOOL_LOG_LEVEL: 'info', CLUSTER_TEST_WS: options.ws ? '1' : '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.push(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const workerPids = (): number[] => [...out.matchAll(/^worker (\d+) http \d+/gm)].map((m) => Number(m[1]));
  const records = (): Array<Record<string, unknown>> =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const started = { child, configFile, out: () => out, records, exit, primaryPid: child.pid!, adminPort: 0, httpPort: 0, wsPort: 0, workerPids };
  if (options.waitForStart === false) return started;
  let exited = false;
  void exit.then(() => (exited = true));
  await waitFor(() => exited || (/^primary \d+ admin \d+$/m.test(out) && workerPids().length >= workers), 30_000, `cluster started (output: ${out.slice(-2000)})`);
  if (exited) throw new Error(`the cluster app exited while starting: ${out.slice(-2000)}`);
  const primary = /^primary (\d+) admin (\d+)$/m.exec(out)!;
  return {
    ...started,
    primaryPid: Number(primary[1]),
    adminPort: Number(primary[2]),
    httpPort: Number(/^worker \d+ http (\d+)/m.exec(out)![1]),
    wsPort: Number(/^worker \d+ http \d+ ws (\d+)/m.exec(out)?.[1] ?? 0),
  };
}

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills every cluster started by the tests, its whole process group, and waits for the primaries to be gone. */
export async function killClusters(): Promise<void> {
  for (const child of running.splice(0)) {
    const gone = child.exitCode === null && child.signalCode === null ? new Promise((r) => child.once('exit', r)) : Promise.resolve();
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone already
    }
    await gone;
  }
}

/** One GET; `agent` for keep-alive. Resolves with status and body; rejects on a socket error. */
export function get(port: number, path: string, agent: http.Agent | false = false, headers?: http.OutgoingHttpHeaders): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** The value of one series in Prometheus text (`name{labels}` exactly as printed), or undefined. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Resolves with the exit, or rejects if the process is still alive after `timeoutMs`. */
export function exitWithin(cluster: ClusterProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still alive ${timeoutMs} ms later; output: ${cluster.out().slice(-3000)}`)), timeoutMs);
  });
  return Promise.race([cluster.exit, bound]).finally(() => clearTimeout(timer));
}
