import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { SIDE_B_IMPL } from './ab';
import { PINNING } from './child';
import type { BenchOptions, Row, Scenario } from './scenario';
import { round } from './stats';

/** Where the runner writes its results (the source tree, not dist/). */
export const RESULTS_FILE = join(__dirname, '..', '..', '..', 'bench', 'results', SIDE_B_IMPL === 'bare' ? 'latest-aa.json' : 'latest.json');

interface ScenarioResult {
  title: string;
  ranAt: string;
  seconds: number;
  rows?: Row[];
  skipped?: string;
  error?: string;
}

interface ResultsFile {
  machine: Record<string, unknown>;
  options: Omit<BenchOptions, 'log'>;
  scenarios: Record<string, ScenarioResult>;
}

const USAGE = `usage: npm run bench -- [scenario ...] [--pairs N] [--duration S] [--warmup S] [--list]
  scenario   run only these (default: all); see --list
  --pairs    A/B pairs per comparison (default 5, at least 3)
  --duration measured seconds per throughput slice (default 3)
  --warmup   unmeasured seconds per side before the first pair (default 1)`;

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: os.availableParallelism(),
    cpuModel: cpus[0]?.model,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    loadAverageAtStart: os.loadavg().map((l) => round(l, 2)),
    sideB: SIDE_B_IMPL,
    pinning: PINNING.enabled ? { serverCpu: PINNING.cpus.server, loadCpu: PINNING.cpus.load } : `off (${PINNING.why})`,
  };
}

function fmt(value: number, unit: string): string {
  if (!Number.isFinite(value)) return '-';
  if (unit === 'x') return value.toFixed(3);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(1);
}

/** The results as a text table (also used by docs/benchmarks.md). */
export function formatTable(rows: readonly Row[]): string {
  const header = ['scenario', 'measure', 'median', 'min', 'max', 'target', 'ok'];
  const lines = rows.map((r) => [
    r.scenario,
    r.measure + (r.unit && r.unit !== 'x' ? ` (${r.unit})` : ''),
    fmt(r.median, r.unit),
    fmt(r.min, r.unit),
    fmt(r.max, r.unit),
    r.target ? `${r.target.op} ${fmt(r.target.value, r.unit)}` : '',
    r.pass === undefined ? '' : r.pass ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(line)].join('\n');
}

function parse(argv: string[], known: readonly Scenario[]): { names: string[]; options: Omit<BenchOptions, 'log'> } {
  const options = { pairs: 5, duration: 3, warmup: 1 };
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${arg} needs a positive number\n${USAGE}`);
      return v;
    };
    if (arg === '--pairs') options.pairs = Math.max(3, Math.floor(value()));
    else if (arg === '--duration') options.duration = value();
    else if (arg === '--warmup') options.warmup = value();
    else if (arg === '--list') {
      console.log(known.map((s) => `${s.name.padEnd(24)} ${s.title}`).join('\n'));
      process.exit(0);
    } else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}\n${USAGE}`);
    else names.push(arg);
  }
  const unknown = names.filter((n) => !known.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${known.map((s) => s.name).join(', ')}`);
  return { names, options };
}

/**
 * Runs the chosen scenarios one after the other, prints the table on stdout (progress on
 * stderr) and merges the results into `bench/results/latest.json`.
 */
export async function runCli(scenarios: readonly Scenario[], argv = process.argv.slice(2)): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv, scenarios);
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 2;
    return;
  }
  const { names, options } = parsed;
  const chosen = names.length ? scenarios.filter((s) => names.includes(s.name)) : scenarios;
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const file: ResultsFile = existsSync(RESULTS_FILE) ? (JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as ResultsFile) : { machine: {}, options, scenarios: {} };
  file.machine = machine();
  file.options = options;
  log(`unipool bench: node ${process.version}, ${os.availableParallelism()} cpus, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; pairs ${options.pairs}, ${options.warmup}+${options.duration} s per throughput run; ${PINNING.enabled ? `servers on cpu ${PINNING.cpus.server}, load on cpu ${PINNING.cpus.load}` : `no cpu pinning (${PINNING.why})`}`);
  if (SIDE_B_IMPL === 'bare') log('A/A calibration (UNIPOOL_BENCH_AA=1): side B of the throughput scenarios is the bare library too; read "unipool" as "bare again"');
  const rows: Row[] = [];
  let failed = false;
  for (const scenario of chosen) {
    const began = Date.now();
    const skipped = scenario.unavailable?.();
    const result: ScenarioResult = { title: scenario.title, ranAt: new Date().toISOString(), seconds: 0 };
    if (skipped) {
      log(`- ${scenario.name}: skipped (${skipped})`);
      result.skipped = skipped;
    } else {
      log(`- ${scenario.name}: ${scenario.title}`);
      try {
        result.rows = await scenario.run({ ...options, log });
        rows.push(...result.rows);
        for (const r of result.rows) log(`  => ${r.measure}: median ${fmt(r.median, r.unit)} [${fmt(r.min, r.unit)} .. ${fmt(r.max, r.unit)}]${r.pass === false ? '  (target missed)' : ''}`);
      } catch (err) {
        failed = true;
        result.error = (err as Error).stack ?? String(err);
        log(`  !! ${scenario.name} failed: ${result.error}`);
      }
    }
    result.seconds = Math.round((Date.now() - began) / 100) / 10;
    file.scenarios[scenario.name] = result;
  }
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(file, null, 2)}\n`);
  console.log(formatTable(rows));
  log(`results merged into ${RESULTS_FILE}`);
  if (failed) process.exitCode = 1;
}
