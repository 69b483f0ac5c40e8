import { Type } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, Max, Min, ValidateNested } from 'class-validator';
import type { ConfigProblem } from '../../errors';
import { HttpPoolConfig } from '../http/http-config';
import { HttpsTlsSettings } from '../https/https-config';
import { MAX_STREAM_ID } from './http2-constants';

/**
 * Section `http2`: an HTTP/2 server and its pool. Over TLS (`tls`, as in `https`) it offers ALPN
 * `h2` and, with `allowHTTP1`, `http/1.1` on the same port; with `h2c: true` it speaks cleartext
 * HTTP/2 with prior knowledge (behind a proxy) and has no `tls`. Every `http` key applies too:
 * `keepAliveTimeout`, `headersTimeout` and `requestTimeout` to the HTTP/1.1 fallback connections,
 * `retryAfter` to refusals of both. Times are milliseconds; 0 turns a timeout off.
 */
export class Http2PoolConfig extends HttpPoolConfig {
  override port = 3444;
  /** A session with no open stream (or an HTTP/1.1 connection with no request) is closed (GOAWAY) after this long. */
  override idleTimeout = 120_000;
  /** Certificate, key and TLS policy (as in `https`); required unless `h2c`. */
  @IsOptional() @ValidateNested() @Type(() => HttpsTlsSettings) tls?: HttpsTlsSettings;
  /** Cleartext HTTP/2 with prior knowledge (no TLS, no ALPN, no HTTP/1.1 fallback): for use behind a proxy. */
  @IsBoolean() h2c = false;
  /** Over TLS, accept clients that negotiate `http/1.1` (or no ALPN) on the same port, tracked by the same pool. */
  @IsBoolean() allowHTTP1 = true;
  /** Streams one session may have open at once, advertised in SETTINGS; a stream beyond it is refused (RST_STREAM REFUSED_STREAM). */
  @IsInt() @Min(1) @Max(MAX_STREAM_ID) maxConcurrentStreams = 100;
  /** Memory one session may use (MB, node's `maxSessionMemory`); past it new streams are refused. */
  @IsInt() @Min(1) @Max(4096) maxSessionMemory = 10;
  /** Largest header block a client may send (bytes, SETTINGS_MAX_HEADER_LIST_SIZE). */
  @IsInt() @Min(1024) @Max(16_777_216) maxHeaderListSize = 65_536;
  /** Interval of the server's PING keepalive to every session; 0 turns it off. */
  @IsInt() @Min(0) @Max(3_600_000) pingInterval = 30_000;
  /** Time a PING may go unanswered before the session is destroyed (a dead peer); at most `pingInterval`. */
  @IsInt() @Min(10) @Max(3_600_000) pingTimeout = 10_000;
  /**
   * Streams a client may reset (RST_STREAM before the response ended) per second on one session;
   * past it the session gets GOAWAY `ENHANCE_YOUR_CALM` and is closed (rapid reset, CVE-2023-44487).
   */
  @IsInt() @Min(1) @Max(1_000_000) maxResetsPerSecond = 100;

  override crossCheck(): ConfigProblem[] {
    const problems = super.crossCheck();
    if (this.h2c && this.tls !== undefined) {
      problems.push({ path: 'tls', rule: 'crossField', message: 'must be absent with h2c (cleartext HTTP/2)', value: '[tls block]' });
    }
    if (!this.h2c && this.tls === undefined) {
      problems.push({ path: 'tls', rule: 'crossField', message: 'is required unless h2c is true (HTTP/2 over TLS needs a certificate and key)', value: undefined });
    }
    if (this.pingInterval > 0 && this.pingTimeout > this.pingInterval) {
      problems.push({ path: 'pingTimeout', rule: 'crossField', message: `must not be greater than pingInterval (${this.pingInterval})`, value: this.pingTimeout });
    }
    if (this.tls instanceof HttpsTlsSettings) for (const p of this.tls.crossCheck()) problems.push({ ...p, path: `tls.${p.path}` });
    return problems;
  }
}

// Section `http2` for the decorators' types: declared here, so the protocol stays one folder.
declare module '../../di/sections' {
  interface UnipoolSections {
    http2: Http2PoolConfig;
  }
}
