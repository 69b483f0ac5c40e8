/**
 * CPU time of a process read from the outside (Linux `/proc/<pid>/stat`), for servers the bench
 * does not control: the shipped sample runs as `npm start` runs it, with no IPC channel to ask.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`; 100 on every Linux we know). */
export const CLOCK_TICKS: number = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number(out.stdout?.trim());
  return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
})();

/** Why process CPU times cannot be read here, or undefined when they can. */
export function processCpuUnavailable(): string | undefined {
  return existsSync(`/proc/${process.pid}/stat`) ? undefined : 'needs /proc/<pid>/stat (Linux) to read a server process CPU time';
}

/**
 * User + system CPU time (µs) from the text of `/proc/<pid>/stat`. Fields 14 and 15 (utime,
 * stime, in clock ticks) are counted after the command name, which is in parentheses and may
 * itself hold spaces and parentheses, so the count starts after its last `)`.
 */
export function parseProcStatCpuUs(stat: string, ticksPerSecond: number): number {
  const end = stat.lastIndexOf(')');
  if (end < 0) throw new Error(`not a /proc/<pid>/stat line: ${JSON.stringify(stat.slice(0, 80))}`);
  // After ") ": field 3 (state) is index 0, so utime (14) is index 11 and stime (15) index 12.
  const fields = stat.slice(end + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime) || fields.length < 13) throw new Error(`no utime/stime in /proc/<pid>/stat line: ${JSON.stringify(stat.slice(0, 80))}`);
  return ((utime + stime) * 1e6) / ticksPerSecond;
}

/** CPU time (µs, user + system, every thread) `pid` has used so far. */
export function processCpuUs(pid: number): number {
  return parseProcStatCpuUs(readFileSync(`/proc/${pid}/stat`, 'utf8'), CLOCK_TICKS);
}

/**
 * The port of the first line of `output` that reads `<label> ... listening on <host>:<port>`
 * (the sample prints one such line per server, e.g. `http   HttpApiServer listening on
 * 127.0.0.1:3000`), or undefined while there is none.
 */
export function listeningPort(output: string, label: string): number | undefined {
  for (const line of output.split('\n')) {
    if (!line.startsWith(`${label} `)) continue;
    const m = / listening on (?:https?:\/\/)?(?:\[[^\]]*\]|[^\s:]+):(\d+)\b/.exec(line);
    if (m) return Number(m[1]);
  }
  return undefined;
}
