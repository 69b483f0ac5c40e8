import { execFile } from 'node:child_process';
import { parseMetrics, type Sample } from '../integration/admin-support';

/** Debian's python, which has `websockets` 10.4 (the `python3` on PATH may not). */
export const PYTHON = '/usr/bin/python3';

/** Runs a program to its end (killed after `timeoutMs`); resolves with its output and exit code. */
export function run(file: string, args: readonly string[], timeoutMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `curl` one URL; resolves with the HTTP status it printed (`-k`: the tests' self-signed certificates). */
export async function curlStatus(url: string): Promise<number> {
  const { code, stdout, stderr } = await run('/usr/bin/curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', url]);
  if (code !== 0) throw new Error(`curl ${url} failed (${code}): ${stderr}`);
  return Number(stdout);
}

/** Scrapes an admin `/metrics` with curl and parses it. */
export async function scrapeWithCurl(adminPort: number): Promise<Sample[]> {
  const { code, stdout, stderr } = await run('/usr/bin/curl', ['-sf', `http://127.0.0.1:${adminPort}/metrics`]);
  if (code !== 0) throw new Error(`curl /metrics failed (${code}): ${stderr}`);
  return parseMetrics(stdout).samples;
}

/** Samples of one family whose labels include `labels`. */
export function samplesOf(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}
