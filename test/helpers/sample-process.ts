import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Root of the repository (tests run from dist/test/...). */
export const REPO_ROOT = join(__dirname, '../../..');

/** A sample started as a child process, with its output collected. */
export interface SampleProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** The multi-protocol sample's own config with every server on port 0, so a test never collides with anything. */
export function portZeroSampleConfig(): Record<string, Record<string, unknown>> {
  const config = JSON.parse(readFileSync(join(REPO_ROOT, 'samples/multi-protocol/config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  for (const section of Object.values(config)) if ('port' in section) section.port = 0;
  return config;
}

/** Temp config folders made by this test process; removed when it exits, so a test run leaves nothing in the temp folder. */
const tempDirs = new Set<string>();

function rememberTempDir(dir: string): void {
  if (tempDirs.size === 0) process.once('exit', () => tempDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  tempDirs.add(dir);
}

/** Writes `config` to a temp JSON file and returns its path. The folder is removed when the test process exits. */
export function writeTempConfig(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'unipool-cfg-'));
  rememberTempDir(dir);
  const file = join(dir, 'config.json');
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return file;
}

/** Starts `node <script>` with `UNIPOOL_CONFIG=configFile`, logs silenced, and `env` added to the environment. */
export function startSample(script: string, configFile: string, env: NodeJS.ProcessEnv = {}): SampleProcess {
  const child = spawn(process.execPath, [join(REPO_ROOT, script)], {
    env: { ...process.env, ...env, UNIPOOL_CONFIG: configFile, UNIPOOL_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Waits until stdout matches `pattern` (or the process exits), with a generous bound. */
export async function waitForOutput(sample: SampleProcess, pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void sample.exited.then(() => (exited = true));
  for (;;) {
    const m = sample.stdout().match(pattern);
    if (m) return m;
    if (exited) throw new Error(`sample exited before printing ${pattern}: ${sample.stdout()} ${sample.stderr()}`);
    if (Date.now() > deadline) throw new Error(`sample did not print ${pattern} within ${timeoutMs} ms: ${sample.stdout()} ${sample.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
