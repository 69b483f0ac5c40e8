import { expect } from 'chai';
import { listeningPort, parseProcStatCpuUs } from '../../bench/lib/process-cpu';

describe('bench: reading a server process from the outside (sample-process scenario)', () => {
  // A real line's shape: pid (comm) state ppid ... utime(14) stime(15) ...
  const stat = (comm: string, utime: number, stime: number): string =>
    `4121 (${comm}) S 4000 4121 4000 34816 4121 4194304 21905 0 12 0 ${utime} ${stime} 0 0 20 0 11 0 1234 1180000000 20000 18446744073709551615 1 1 0 0 0 0 0 16781312 134234626 0 0 0 17 1 0 0 0 0 0\n`;

  it('issue 14: CPU time is utime + stime (fields 14 and 15) in µs at the given clock ticks', () => {
    expect(parseProcStatCpuUs(stat('node', 250, 50), 100)).to.equal(3_000_000);
    expect(parseProcStatCpuUs(stat('node', 250, 50), 1000)).to.equal(300_000);
  });

  it('issue 14: a command name holding spaces and parentheses does not shift the fields', () => {
    expect(parseProcStatCpuUs(stat('my (odd) node 1', 7, 3), 100)).to.equal(100_000);
  });

  it('issue 14: a line that is not /proc/<pid>/stat is a clear error, not NaN', () => {
    expect(() => parseProcStatCpuUs('garbage', 100)).to.throw(/not a \/proc\/<pid>\/stat line/);
    expect(() => parseProcStatCpuUs('1 (node) S 2 3', 100)).to.throw(/no utime\/stime/);
  });

  it("issue 14: listeningPort finds the port of the labelled server's line, not another server's", () => {
    const output = [
      'https  self-signed localhost certificate /x/localhost-cert.pem',
      '{"level":30,"msg":"admin listening","port":1}',
      'https  HttpsApiServer listening on 127.0.0.1:34031',
      'http   HttpApiServer listening on 127.0.0.1:35319',
      'admin  AdminServer listening on http://127.0.0.1:39711 (/metrics /healthz)',
    ].join('\n');
    expect(listeningPort(output, 'http')).to.equal(35319);
    expect(listeningPort(output, 'https')).to.equal(34031);
    expect(listeningPort(output, 'admin')).to.equal(39711);
    expect(listeningPort('http   HttpApiServer listening on [::1]:8080', 'http')).to.equal(8080);
  });

  it('issue 14: listeningPort is undefined until the line has been printed', () => {
    expect(listeningPort('https  HttpsApiServer listening on 127.0.0.1:34031\n', 'http')).to.equal(undefined);
    expect(listeningPort('http   HttpApiServer starting', 'http')).to.equal(undefined);
  });
});
